"""Crop samplers: one conformance class for all, plus each method's own rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctssl.methods import joint2d3d, pcrlv2, voco
from ctssl.samplers import Box, SubCropSampler, VoCoSampler
from ctssl.samplers.base import CropParams, Sampler
from ctssl.samplers.boxes import iou
from ctssl.samplers.slices import SliceStackSampler, in_plane_crop, slice_sampler
from ctssl.samplers.subcrop import GLOBAL_SIZES, LOCAL_SIZES
from ctssl.samplers.voco import position_labels


class SamplerConformance:
    """Every sampler subclasses this with its own ``sampler``."""

    sampler: Sampler
    volume_shapes = ((300, 260, 160), (280, 270, 120))  # each holds the largest region (256 x 256 x 64)

    def draw(self, seed: int, shape: tuple[int, int, int], bbox: tuple[int, ...] | None = None) -> CropParams:
        return self.sampler.make_params(np.random.default_rng(seed), shape, bbox)

    @pytest.mark.parametrize("seed", range(5))
    def test_same_seed_same_crops(self, seed):
        first, second = self.draw(seed, self.volume_shapes[0]), self.draw(seed, self.volume_shapes[0])
        assert first.region == second.region and first.crops == second.crops
        np.testing.assert_array_equal(first.labels, second.labels)
        assert self.draw(seed + 100, self.volume_shapes[0]).crops != first.crops

    @pytest.mark.parametrize("seed", range(20))
    def test_boxes_inside_region_and_region_inside_volume(self, seed):
        shape = self.volume_shapes[seed % 2]
        params = self.draw(seed, shape)
        assert Box((0, 0, 0), shape).contains(params.region)
        within = Box((0, 0, 0), params.region.size)
        assert all(within.contains(crop) for crop in params.crops)
        assert all(min(crop.size) >= 1 for crop in params.crops)

    def test_region_stays_in_the_body_when_it_fits(self):
        shape, bbox = (400, 400, 300), (40, 50, 30, 360, 350, 280)
        for seed in range(20):
            region = self.draw(seed, shape, bbox).region
            assert Box(bbox[:3], tuple(b - a for a, b in zip(bbox[:3], bbox[3:], strict=True))).contains(region)  # type: ignore[arg-type]

    def test_shapes_and_labels_are_valid(self):
        params = self.draw(0, self.volume_shapes[0])
        assert len(params.out_sizes) == len(params.crops) == len(params.crop_rows())
        assert all(len(size) == 3 and min(size) > 0 for size in params.out_sizes)
        assert np.all(np.isfinite(params.labels))
        assert np.all((params.labels >= 0) & (params.labels <= 1))


class TestVoCoLarge(SamplerConformance):
    sampler = voco.METHOD.sampler(voco.defaults.LARGE)

    def test_large_preset_matches_the_released_code(self):
        assert self.sampler.region_size == (192, 192, 64)
        assert len(self.sampler.bases()) == 9


class TestVoCoPaper(SamplerConformance):
    sampler = voco.METHOD.sampler(voco.defaults.PAPER)

    def test_paper_preset(self):
        params = self.draw(0, self.volume_shapes[0])
        assert params.region.size == (256, 256, 64)
        assert params.labels.shape == (4, 16)
        np.testing.assert_allclose(params.labels.sum(axis=1), 1.0, atol=1e-6)


class TestSubCrop(SamplerConformance):
    sampler = pcrlv2.METHOD.sampler(pcrlv2.defaults.PAPER)


class TestSliceStack(SamplerConformance):
    sampler = joint2d3d.METHOD.sampler(joint2d3d.defaults.PAPER)

    @pytest.mark.parametrize(("axis", "slab", "out"), [("axial", (256, 256, 64), (128, 128, 64)),
                                                       ("coronal", (256, 64, 256), (128, 64, 128)),
                                                       ("sagittal", (64, 256, 256), (64, 128, 128))])  # fmt: skip
    def test_the_slab_spans_the_stack_and_both_views_span_the_slab(self, axis, slab, out):
        sampler = SliceStackSampler(axis=axis, slices=64, stride=1, region=256, view=128, crop_scale=(0.14, 1.0))
        params = sampler.make_params(np.random.default_rng(0), (300, 300, 300), None)
        along = ["sagittal", "coronal", "axial"].index(axis)
        assert params.region.size == slab and params.out_sizes == (out, out)
        for crop in params.crops:
            assert crop.start[along] == 0 and crop.size[along] == 64
            in_plane = [crop.size[a] for a in range(3) if a != along]
            assert 0.1 * 256**2 < in_plane[0] * in_plane[1] <= 256**2
        assert params.crops[0] != params.crops[1]

    def test_a_stride_lengthens_the_slab_not_the_stack(self):
        sampler = SliceStackSampler(axis="axial", slices=8, stride=3, region=64, view=32, crop_scale=(1.0, 1.0))
        params = sampler.make_params(np.random.default_rng(0), (100, 100, 100), None)
        assert params.region.size == (64, 64, 24) and params.out_sizes[0] == (32, 32, 8)

    def test_the_labels_carry_the_slice_layout(self):
        # axial: slices along z, rows along y, columns along x
        np.testing.assert_array_equal(self.draw(0, self.volume_shapes[0]).labels, [[0, 0, 1], [0, 1, 0], [1, 0, 0]])

    def test_an_unknown_axis_is_refused(self):
        with pytest.raises(ValueError, match="sagittal, coronal, axial"):
            SliceStackSampler(axis="transverse", slices=8, stride=1, region=64, view=32, crop_scale=(0.5, 1.0))


class TestSlice(SamplerConformance):
    sampler = slice_sampler("axial", region=256, view=128, crop_scale=(0.14, 1.0))

    def test_one_slice_thick(self):
        params = self.draw(1, self.volume_shapes[1])
        assert params.region.size == (256, 256, 1) and params.out_sizes == ((128, 128, 1),) * 2


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(1, 300))
def test_random_resized_crops_fit_and_keep_their_area_and_ratio(seed, side):
    (first_start, first), (second_start, second) = in_plane_crop(
        np.random.default_rng(seed), side, (0.14, 1.0), (3 / 4, 4 / 3), tries=10
    )
    assert 0 <= first_start <= side - first and 0 <= second_start <= side - second
    if (first, second) != (side, side) and side >= 20:  # not the fallback, and rounding is small
        assert 0.1 <= first * second / side**2 <= 1.05
        assert 0.6 <= first / second <= 1.5


@settings(max_examples=100, deadline=None)
@given(
    grid=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    base=st.tuples(st.integers(2, 9), st.integers(2, 9), st.integers(1, 5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_voco_labels_equal_an_independent_pixel_count(grid, base, seed):
    sampler = VoCoSampler(grid=grid, base=base, random_crops=5)
    params = sampler.make_params(np.random.default_rng(seed), (60, 60, 10), None)
    bases, randoms = params.crops[: grid[0] * grid[1]], params.crops[grid[0] * grid[1] :]
    width, height = sampler.region_size[:2]

    def mask(box: Box) -> np.ndarray:
        out = np.zeros((width, height), dtype=bool)
        out[box.start[0] : box.stop[0], box.start[1] : box.stop[1]] = True
        return out

    expected = np.array([[np.sum(mask(r) & mask(b)) / np.sum(mask(r)) for b in bases] for r in randoms])
    np.testing.assert_allclose(params.labels, expected, atol=1e-6)
    np.testing.assert_allclose(params.labels.sum(axis=1), 1.0, atol=1e-6)
    assert all(r.start[2] == 0 and r.size[2] == base[2] for r in randoms)  # full region depth


def test_position_labels_of_a_crop_on_a_corner():
    bases = VoCoSampler(grid=(2, 2), base=(4, 4, 4), random_crops=1).bases()
    labels = position_labels([Box((2, 1, 0), (4, 4, 4))], bases)
    # x: 2 voxels in column 0, 2 in column 1; y: 3 in row 0, 1 in row 1
    np.testing.assert_allclose(labels, [[6 / 16, 2 / 16, 6 / 16, 2 / 16]])


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), shape=st.tuples(st.integers(120, 400), st.integers(120, 400), st.integers(70, 300))
)
def test_subcrop_constraints_hold_on_every_draw(seed, shape):
    params = SubCropSampler(local_views=6).make_params(np.random.default_rng(seed), shape, None)
    first, second, *locals_ = params.crops
    assert iou(first, second) > 0.3
    assert first.size in GLOBAL_SIZES and second.size in GLOBAL_SIZES
    # the region is the minimal bounding box of the two global views
    assert [min(a, b) for a, b in zip(first.start, second.start, strict=True)] == [0, 0, 0]
    assert [max(a, b) for a, b in zip(first.stop, second.stop, strict=True)] == list(params.region.size)
    assert len(locals_) == 6
    assert all(local.size in LOCAL_SIZES for local in locals_)
    assert params.out_sizes == ((64, 64, 32),) * 2 + ((16, 16, 16),) * 6


def test_background_rule_rejects_exactly_over_85_percent_below_minus_150():
    sampler = SubCropSampler(local_views=6)
    crop = Box((0, 0, 0), (10, 10, 10))
    params = CropParams(crop, (crop, crop), ((10, 10, 10),) * 2, np.zeros(0))
    region = np.full((10, 10, 10), 40, dtype=np.int16)
    flat = region.reshape(-1)
    flat[:850] = -151  # exactly 85% background: kept
    assert sampler.accept(params, region)
    flat[850] = -151  # 85.1%: rejected
    assert not sampler.accept(params, region)
    flat[:851] = -150  # -150 HU is not background
    assert sampler.accept(params, region)
