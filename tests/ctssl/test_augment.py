"""Device-side view primitives: window, crop + resize against torch's interpolate, blur against scipy,
augmentation invariants and drawn probabilities."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from ctssl.augment import (
    CorruptionRanges,
    PixelParams,
    SpatialParams,
    SpatialRanges,
    apply_pixel,
    apply_spatial,
    crop_resize,
    crop_views,
    draw_pixel,
    draw_shifts,
    draw_spatial,
    gaussian_blur,
    sampling_affine,
    window,
    z_normalize,
)


def identity_spatial(batch: int) -> SpatialParams:
    return SpatialParams(torch.zeros(batch, 3, dtype=torch.bool), torch.zeros(batch, dtype=torch.long), None)


def test_window_maps_the_method_ranges_to_unit_interval():
    hu = torch.tensor([-1024, -175, 37, 0, 250, 3071], dtype=torch.int16)
    out = window(hu, -175.0, 250.0)
    assert out.tolist()[0] == 0.0 and out.tolist()[1] == 0.0 and out.tolist()[4] == 1.0 and out.tolist()[5] == 1.0
    assert abs(out[2].item() - (37 + 175) / 425) < 1e-6


def test_same_size_crops_are_exact_voxels():
    volumes = torch.randn(3, 1, 30, 28, 26)
    boxes = torch.tensor([[0, 0, 0, 16, 16, 16], [5, 7, 9, 16, 16, 16], [14, 12, 10, 16, 16, 16]])
    crops = crop_resize(volumes, boxes, (16, 16, 16))
    for index, (x, y, z, *_) in enumerate(boxes.tolist()):
        torch.testing.assert_close(
            crops[index], volumes[index, :, x : x + 16, y : y + 16, z : z + 16], atol=1e-5, rtol=0
        )


def test_whole_volume_resize_matches_torch_trilinear_interpolate():
    volumes = torch.randn(2, 1, 24, 20, 12)
    boxes = torch.tensor([[0, 0, 0, 24, 20, 12]] * 2)
    for size in [(12, 10, 6), (32, 32, 16), (16, 16, 16)]:
        reference = F.interpolate(volumes, size=size, mode="trilinear", align_corners=False)
        torch.testing.assert_close(crop_resize(volumes, boxes, size), reference, atol=1e-5, rtol=0)


def test_resized_crop_of_a_linear_field_is_the_field_at_the_new_centres():
    x, y, z = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), torch.arange(40.0), indexing="ij")
    field = (2 * x - 3 * y + 0.5 * z)[None, None]
    crop = crop_resize(field, torch.tensor([[4, 6, 8, 12, 20, 16]]), (24, 10, 16))[0, 0]
    centre = [
        s + (torch.arange(m) + 0.5) * n / m - 0.5 for s, n, m in zip((4, 6, 8), (12, 20, 16), (24, 10, 16), strict=True)
    ]
    cx, cy, cz = torch.meshgrid(*centre, indexing="ij")
    torch.testing.assert_close(crop, 2 * cx - 3 * cy + 0.5 * cz, atol=1e-3, rtol=0)


def test_crop_views_returns_one_batch_per_crop_index():
    volumes = torch.randn(2, 1, 40, 40, 40)
    crops = torch.tensor([[[0, 0, 0, 32, 32, 16], [1, 1, 1, 8, 8, 8]]] * 2)
    views = crop_views(volumes, crops, [(64, 64, 32), (16, 16, 16)])
    assert [tuple(v.shape) for v in views] == [(2, 1, 64, 64, 32), (2, 1, 16, 16, 16)]


def test_identity_spatial_params_change_nothing_and_a_flip_is_a_flip():
    views = torch.rand(2, 1, 8, 8, 6)
    torch.testing.assert_close(apply_spatial(views, identity_spatial(2)), views, atol=0, rtol=0)
    params = identity_spatial(2)
    params.flips[1, 2] = True
    out = apply_spatial(views, params)
    torch.testing.assert_close(out[1], views[1].flip(3), atol=0, rtol=0)
    torch.testing.assert_close(out[0], views[0], atol=0, rtol=0)


def test_the_affine_works_in_voxels_whatever_the_view_shape():
    views = torch.rand(1, 1, 12, 12, 6)
    still = SpatialParams(torch.zeros(1, 3, dtype=torch.bool), torch.zeros(1, dtype=torch.long), None)
    unit = replace(still, affine=sampling_affine(torch.zeros(1, 3), torch.ones(1, 3)))
    torch.testing.assert_close(apply_spatial(views, unit), views, atol=1e-5, rtol=0)
    # a quarter turn about z resamples exactly onto the grid, as rot90 in the x-y plane does
    turned = replace(still, affine=sampling_affine(torch.tensor([[0.0, 0.0, math.pi / 2]]), torch.ones(1, 3)))
    rotated = apply_spatial(views, turned)
    assert any(torch.allclose(rotated, views.rot90(k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    # a quarter turn about x swaps y and z: on a 12 x 12 x 6 view it moves the 6-voxel axis into y,
    # so half of every x-slice comes from outside the view and holds the view's minimum
    about_x = replace(still, affine=sampling_affine(torch.tensor([[math.pi / 2, 0.0, 0.0]]), torch.ones(1, 3)))
    outside = apply_spatial(views, about_x)[0, 0, :, :3]
    torch.testing.assert_close(outside, torch.full_like(outside, float(views.min())), atol=1e-6, rtol=0)


def test_drawn_spatial_parameters_follow_their_probabilities():
    ranges = SpatialRanges(flip_probability=(0.2, 0.5, 0.0), turn_probability=0.3, max_degrees=(0, 0, 0), max_scale=0)
    params = draw_spatial(torch.Generator().manual_seed(0), 20_000, ranges)
    torch.testing.assert_close(params.flips.float().mean(0), torch.tensor([0.2, 0.5, 0.0]), atol=0.01, rtol=0)
    turns = params.quarter_turns
    assert abs(float((turns > 0).float().mean()) - 0.3) < 0.01 and params.affine is None
    assert set(turns.tolist()) == {0, 1, 2, 3}
    counts = torch.bincount(turns[turns > 0])[1:].float()
    torch.testing.assert_close(counts / counts.sum(), torch.full((3,), 1 / 3), atol=0.02, rtol=0)


def test_drawn_shifts_follow_their_probability_and_range():
    shifts = draw_shifts(torch.Generator().manual_seed(0), 20_000, probability=0.1, offset=0.1)
    applied = shifts != 0
    assert abs(float(applied.float().mean()) - 0.1) < 0.01
    assert float(shifts.abs().max()) <= 0.1 and float(shifts[applied].abs().mean()) == pytest.approx(0.05, abs=0.005)


def test_patch_swap_moves_values_without_changing_them():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):  # overlapping pairs included: no voxel value may be lost or doubled
        views = torch.rand(2, 1, 16, 16, 16, generator=generator)
        corners = torch.rand(2, 6, 2, 3, generator=generator)
        params = PixelParams(torch.zeros(2), torch.zeros(2), torch.ones(2), corners)
        out = apply_pixel(views, params, generator, (2, 2, 2))
        torch.testing.assert_close(out.flatten(1).sort().values, views.flatten(1).sort().values, atol=0, rtol=0)
    far_apart = torch.tensor([[[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]]] * 2)
    params = PixelParams(torch.zeros(2), torch.zeros(2), torch.ones(2), far_apart)
    out = apply_pixel(views, params, generator, (2, 2, 2))
    torch.testing.assert_close(out[:, :, :2, :2, :2], views[:, :, -2:, -2:, -2:], atol=0, rtol=0)


def test_drawn_corruption_stays_in_its_ranges():
    ranges = CorruptionRanges(1.0, (0.0, 2.0), (0.0, 0.25), (-0.3, 0.3), swaps=4, swap_patch=(8, 4, 4))
    params = draw_pixel(torch.Generator().manual_seed(1), 500, ranges)
    assert params.blur_sigma.shape == (500, 3) and params.blur_sigma.min() >= 0 and params.blur_sigma.max() <= 2
    assert float((params.blur_sigma[:, 0] - params.blur_sigma[:, 1]).abs().mean()) > 0.3  # drawn per axis
    assert params.gamma.min() >= math.exp(-0.3) and params.gamma.max() <= math.exp(0.3)
    assert params.noise_std.max() <= 0.25 and params.swap_boxes.shape == (500, 4, 2, 3)
    off = draw_pixel(torch.Generator().manual_seed(1), 50, replace(ranges, probability=0.0))
    assert torch.all(off.blur_sigma == 0) and torch.all(off.gamma == 1) and torch.all(off.noise_std == 0)


def test_gamma_keeps_the_sign_of_negative_voxels():
    views = torch.tensor([-0.25, 0.25, 1.0]).view(1, 1, 3, 1, 1)
    params = PixelParams(torch.zeros(1), torch.zeros(1), torch.tensor([2.0]), torch.zeros(1, 0, 2, 3))
    out = apply_pixel(views, params, torch.Generator(), (1, 1, 1))
    torch.testing.assert_close(out.flatten(), torch.tensor([-0.0625, 0.0625, 1.0]))


@pytest.mark.parametrize("sigma", [(1.5, 1.5, 1.5), (0.7, 0.0, 2.0), (2.0, 1.2, 0.4)])
def test_blur_matches_scipy_gaussian_filter(sigma):
    """scipy.ndimage.gaussian_filter (what TorchIO's RandomBlur calls) is the independent reference; the 5-voxel
    axis with sigma 2 needs a kernel radius of 8, wider than the axis: the reflection repeats."""
    volume = torch.rand(1, 16, 11, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = gaussian_filter(volume[0].numpy(), sigma, mode="reflect", truncate=4.0)
    torch.testing.assert_close(gaussian_blur(volume, sigma)[0], torch.from_numpy(expected), atol=1e-10, rtol=0)


def test_in_plane_blur_of_slices_matches_scipy_per_slice():
    """The 2D case (slice stacks): every slice blurred alone, as scipy with sigma 0 across slices."""
    stack = torch.rand(4, 12, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = gaussian_filter(stack.numpy(), (0.0, 1.3, 1.3), mode="reflect", truncate=4.0)
    torch.testing.assert_close(gaussian_blur(stack, (1.3, 1.3)), torch.from_numpy(expected), atol=1e-10, rtol=0)


def test_blur_keeps_a_constant_view_constant_up_to_its_faces():
    view = torch.full((1, 16, 16, 16), 0.7)
    out = gaussian_blur(view, (1.5, 1.5, 1.5))
    torch.testing.assert_close(out, view, atol=1e-6, rtol=0)  # zero padding darkened the corners to 0.18


def test_z_normalize_gives_each_view_zero_mean_and_unit_deviation():
    views = torch.rand(3, 1, 8, 8, 4) * 5 + 2
    out = z_normalize(views)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3, 4)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(1, 2, 3, 4)), torch.ones(3), atol=1e-5, rtol=0)
    assert torch.all(z_normalize(torch.full((1, 1, 4, 4, 4), 3.0)) == 0)
