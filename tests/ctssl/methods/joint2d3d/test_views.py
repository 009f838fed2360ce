"""Joint 2D/3D views: slices oriented as the layout says, slice i of both views from the same stored slice,
augmentation alike on every slice of a view, the mask, and a slab read straight from the corpus."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import corpus
from ctssl.data import RegionDataset, collate
from ctssl.methods import joint2d3d
from ctssl.methods.joint2d3d.augmentation import _coarser, augment, draw_augmentation, identity
from ctssl.methods.joint2d3d.views import draw_mask, joint_inputs, slice_stacks
from ctssl.samplers.slices import SliceStackSampler


def _batch(volume: np.ndarray, axis: str, slices: int, region: int, view: int, crop_scale: tuple[float, float]) -> dict:
    """Two samples of ``volume`` (int16, x y z) through the slice sampler; a volume the slab's size is read whole."""
    sampler = SliceStackSampler(axis=axis, slices=slices, stride=1, region=region, view=view, crop_scale=crop_scale)
    samples = []
    for seed in range(2):
        params = sampler.make_params(np.random.default_rng(seed), volume.shape, None)
        cut = volume[tuple(slice(a, b) for a, b in params.region.bounds())]
        samples.append(
            {
                "region": torch.from_numpy(np.ascontiguousarray(cut))[None],
                "crops": torch.from_numpy(params.crop_rows()),
                "labels": torch.from_numpy(params.labels),
                "out_sizes": params.out_sizes,
                "volume_id": "v",
                "region_start": params.region.start,
            }
        )
    return collate(samples, -1024)


def _code(x: int, y: int, z: int) -> int:
    return 100 * x + 10 * y + z


@pytest.mark.parametrize(
    ("axis", "top_left", "top_right", "bottom_right"),
    [
        # axial slice k: anterior (high y) at the top, the patient's right (high x in RAS) on the left
        ("axial", lambda k: (4, 4, k), lambda k: (0, 4, k), lambda k: (0, 0, k)),
        # coronal slice k (y = k): head (high z) at the top, the patient's right on the left
        ("coronal", lambda k: (4, k, 4), lambda k: (0, k, 4), lambda k: (0, k, 0)),
        # sagittal slice k (x = k): head at the top, anterior (high y) on the left
        ("sagittal", lambda k: (k, 4, 4), lambda k: (k, 0, 4), lambda k: (k, 0, 0)),
    ],
)
def test_slices_are_shown_as_a_radiologist_reads_them(axis, top_left, top_right, bottom_right):
    x, y, z = np.meshgrid(*(np.arange(5),) * 3, indexing="ij")
    volume = _code(x, y, z).astype(np.int16)  # type: ignore[arg-type]
    stacks = slice_stacks(_batch(volume, axis, slices=5, region=5, view=5, crop_scale=(1.0, 1.0)))
    assert tuple(stacks.shape) == (2, 2, 5, 1, 5, 5)
    codes = np.rint(stacks[0, 0, :, 0].numpy() * 2000 - 1000).astype(int)  # windowed pixels back to the codes
    for k in range(5):  # slices in ascending order along the axis
        assert codes[k, 0, 0] == _code(*top_left(k))
        assert codes[k, 0, -1] == _code(*top_right(k))
        assert codes[k, -1, -1] == _code(*bottom_right(k))


def _depth_volume() -> np.ndarray:
    """A volume whose every voxel holds its z index."""
    return np.broadcast_to(np.arange(16, dtype=np.int16), (40, 40, 16)).copy()


def test_slice_i_of_both_views_is_the_same_stored_slice_whatever_the_spatial_augmentation():
    batch = _batch(_depth_volume(), "axial", slices=16, region=40, view=12, crop_scale=(0.14, 1.0))
    stacks = slice_stacks(batch)
    flat = stacks.flatten(0, 1)[:, :, 0]
    drawn = draw_augmentation(torch.Generator().manual_seed(0), flat.shape[0], volumetric=True)
    spatial_only = replace(identity(flat.shape[0]), flips=drawn.flips, affine=drawn.affine)
    views = augment(flat, spatial_only, torch.Generator()).view_as(stacks)
    expected = (torch.arange(16, dtype=torch.float32) + 1000) / 2000
    for b in range(2):
        for v in range(2):
            torch.testing.assert_close(views[b, v, :, 0].mean(dim=(1, 2)), expected)
            assert float((views[b, v, :, 0] - expected[:, None, None]).abs().max()) < 1e-6


def test_every_slice_of_a_view_is_augmented_alike():
    image = torch.rand(20, 20)
    stacks = image.expand(6, 8, 20, 20).clone()  # 6 stacks of 8 equal slices
    params = replace(draw_augmentation(torch.Generator().manual_seed(1), 6, volumetric=True), noise_std=torch.zeros(6))
    out = augment(stacks, params, torch.Generator())
    torch.testing.assert_close(out, out[:, :1].expand_as(out))
    assert not torch.allclose(out[0], out[1])  # but each stack has its own draw


def test_the_identity_changes_nothing_and_the_values_stay_in_range():
    stacks = torch.rand(4, 5, 16, 16)
    torch.testing.assert_close(augment(stacks, identity(4), torch.Generator()), stacks)
    drawn = augment(stacks, draw_augmentation(torch.Generator().manual_seed(2), 4, True), torch.Generator())
    assert float(drawn.min()) >= 0.0 and float(drawn.max()) <= 1.0


def test_a_coarser_slice_spacing_keeps_every_other_slice_and_interpolates_between():
    stack = torch.arange(8, dtype=torch.float32).view(8, 1, 1).expand(8, 2, 2)
    coarse = _coarser(stack, 2.0)[:, 0, 0]  # slices 1, 3, 5, 7 kept, then linear back to 8 (edges held)
    torch.testing.assert_close(coarse, torch.tensor([1.0, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.0]))
    torch.testing.assert_close(_coarser(stack, 1.0), stack)


def test_the_mask_covers_exactly_a_tenth_of_the_slices_rounded_up():
    for slices, count in ((64, 7), (8, 1), (10, 1), (30, 3), (1, 1)):
        mask = draw_mask(torch.Generator().manual_seed(0), 5, slices)
        assert mask.dtype == torch.bool and mask.sum(dim=1).tolist() == [count] * 5
    first, again = (draw_mask(torch.Generator().manual_seed(3), 4, 64) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])


def test_inputs_are_reproducible_from_the_generator():
    batch = _batch(_depth_volume(), "axial", slices=8, region=40, view=16, crop_scale=(0.14, 1.0))
    first = joint_inputs(batch, joint2d3d.TINY, torch.device("cpu"), torch.Generator().manual_seed(5))
    again = joint_inputs(batch, joint2d3d.TINY, torch.device("cpu"), torch.Generator().manual_seed(5))
    assert tuple(first["views"].shape) == (2, 2, 8, 1, 16, 16) and tuple(first["mask"].shape) == (2, 8)
    assert all(torch.equal(first[key], again[key]) for key in first)


def test_the_loader_reads_exactly_the_slab(phantom_corpus, monkeypatch):
    reads: list[list[tuple[int, int]]] = []
    original = corpus.Corpus.read

    def spy(self, volume_id, region=None):
        reads.append(region)
        return original(self, volume_id, region)

    monkeypatch.setattr(corpus.Corpus, "read", spy)
    tiny = joint2d3d.METHOD.tiny
    dataset = RegionDataset(phantom_corpus, joint2d3d.METHOD.sampler(tiny), seed=0)
    sample = dataset.sample(dataset.entries[0], np.random.default_rng(0))
    params = joint2d3d.METHOD.sampler(tiny).make_params(np.random.default_rng(0), *_entry(dataset))
    assert reads == [params.region.bounds()]
    assert tuple(sample["region"].shape) == (1, 64, 64, 8)


def _entry(dataset: RegionDataset) -> tuple:
    entry = dataset.entries[0]
    return entry.shape, entry.body_bbox
