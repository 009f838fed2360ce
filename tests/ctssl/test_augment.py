"""Device-side view primitives: window, crop + resize against torch's interpolate, augmentation invariants."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ctssl.augment import (
    PixelParams,
    SpatialParams,
    apply_pixel,
    apply_spatial,
    crop_resize,
    crop_views,
    draw_pixel,
    window,
)


def identity_spatial(batch: int) -> SpatialParams:
    affine = torch.zeros(batch, 3, 4)
    affine[:, 0, 0] = affine[:, 1, 1] = affine[:, 2, 2] = 1.0
    return SpatialParams(torch.zeros(batch, 3, dtype=torch.bool), torch.zeros(batch, dtype=torch.long), affine)


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
    torch.testing.assert_close(apply_spatial(views, identity_spatial(2)), views, atol=1e-5, rtol=0)
    params = identity_spatial(2)
    params.flips[1, 2] = True
    out = apply_spatial(views, params)
    torch.testing.assert_close(out[1], views[1].flip(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0], views[0], atol=1e-5, rtol=0)


def test_patch_swap_moves_values_without_changing_them():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):  # overlapping pairs included: no voxel value may be lost or doubled
        views = torch.rand(2, 1, 16, 16, 16, generator=generator)
        corners = torch.rand(2, 6, 2, 3, generator=generator)
        params = PixelParams(torch.zeros(2), torch.zeros(2), torch.ones(2), corners)
        out = apply_pixel(views, params, generator)
        torch.testing.assert_close(out.flatten(1).sort().values, views.flatten(1).sort().values, atol=0, rtol=0)
    far_apart = torch.tensor([[[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]]] * 2)
    out = apply_pixel(views, PixelParams(torch.zeros(2), torch.zeros(2), torch.ones(2), far_apart), generator)
    torch.testing.assert_close(out[:, :, :2, :2, :2], views[:, :, -2:, -2:, -2:], atol=0, rtol=0)


def test_drawn_parameters_stay_in_their_ranges():
    params = draw_pixel(torch.Generator().manual_seed(1), 500, probability=1.0)
    assert params.blur_sigma.min() >= 0.5 and params.blur_sigma.max() <= 1.5
    assert params.gamma.min() >= 0.7 and params.gamma.max() <= 1.5
    off = draw_pixel(torch.Generator().manual_seed(1), 50, probability=0.0)
    assert torch.all(off.blur_sigma == 0) and torch.all(off.gamma == 1) and torch.all(off.noise_std == 0)
