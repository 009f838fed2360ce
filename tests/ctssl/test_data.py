"""Streaming regions from a corpus: partitioning, reading, redraws, batching."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from ctssl.augment import pcrlv2_views, voco_views
from ctssl.data import Mixture, RegionDataset, collate, partition
from ctssl.samplers import SubCropSampler, VoCoSampler
from tests.conftest import save_nifti

SHAPES = [(70, 60, 40), (80, 50, 30), (64, 64, 64), (50, 90, 20), (66, 66, 33), (72, 40, 50), (90, 80, 30)]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    """Volumes already at 1.5 mm RAS: stored voxels equal the inputs (clipped), an independent reference."""
    root = tmp_path_factory.mktemp("regions")
    rng = np.random.default_rng(0)
    inputs = {}
    (root / "vols").mkdir()
    for number, shape in enumerate(SHAPES):
        array = rng.integers(-1100, 1500, size=shape).astype(np.int16)
        save_nifti(root / "vols" / f"v{number}.nii.gz", array, np.diag([1.5, 1.5, 1.5, 1.0]))
        inputs[f"vols-v{number}"] = np.clip(array, -1024, 3071)
    build_corpus(discover([root / "vols"], []), str(root / "corpus"), BuildSpec(), progress=False)
    return str(root / "corpus"), inputs


def test_partition_is_disjoint_and_complete_for_2_ranks_by_2_workers():
    shares = [partition(103, seed=5, epoch=2, shard=s, shards=4) for s in range(4)]
    together = np.concatenate(shares)
    assert sorted(together.tolist()) == list(range(103))
    assert {len(s) for s in shares} <= {25, 26}


def test_one_epoch_over_2_ranks_and_2_workers_visits_every_volume_once(small_corpus):
    url, inputs = small_corpus
    seen: Counter[str] = Counter()
    for rank in range(2):
        dataset = RegionDataset(url, VoCoSampler(grid=(2, 2), base=(16, 16, 16)), rank=rank, world_size=2, seed=3)
        loader = DataLoader(dataset, batch_size=None, num_workers=2)
        seen.update(sample["volume_id"] for sample in loader)
    assert seen == Counter(list(inputs))


def test_regions_hold_the_input_voxels_and_air_outside(small_corpus):
    url, inputs = small_corpus
    dataset = RegionDataset(url, VoCoSampler(grid=(3, 3), base=(32, 32, 32)), seed=1)
    for sample in dataset:
        region = sample["region"][0].numpy()
        start = np.asarray(sample["region_start"])
        expected = np.full(region.shape, -1024, dtype=np.int16)
        volume = inputs[sample["volume_id"]]
        low, high = np.maximum(start, 0), np.minimum(start + region.shape, volume.shape)
        expected[tuple(slice(a - s, b - s) for a, b, s in zip(low, high, start, strict=True))] = volume[
            tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        ]
        np.testing.assert_array_equal(region, expected)
        assert sample["labels"].shape == (4, 9)


def test_epochs_reshuffle_and_repeat_exactly(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, VoCoSampler(grid=(2, 2), base=(16, 16, 16)), seed=7)
    first = [(s["volume_id"], s["region_start"]) for s in dataset]
    again = [(s["volume_id"], s["region_start"]) for s in dataset]
    dataset.set_epoch(1)
    other = [(s["volume_id"], s["region_start"]) for s in dataset]
    assert first == again
    assert first != other
    assert sorted(v for v, _ in first) == sorted(v for v, _ in other)


def test_selection_by_source_split_and_mixture_file(small_corpus, tmp_path):
    url, inputs = small_corpus
    sampler = VoCoSampler(grid=(2, 2), base=(16, 16, 16))
    assert len(RegionDataset(url, sampler, Mixture(sources=("nope",))).entries) == 0
    assert len(RegionDataset(url, sampler, Mixture(splits=("val",))).entries) == 0
    assert len(RegionDataset(url, sampler, Mixture(splits=("train",))).entries) == len(inputs)
    (tmp_path / "mix.toml").write_text('splits = ["train"]\n[repeats]\nvols = 3\n')
    mixture = Mixture.from_toml(tmp_path / "mix.toml")
    assert mixture == Mixture(sources=("vols",), splits=("train",), repeats={"vols": 3})
    entries = RegionDataset(url, sampler, mixture).entries
    assert Counter(e.volume_id for e in entries) == Counter(dict.fromkeys(inputs, 3))


def test_rejected_draws_are_bounded(small_corpus):
    """Volumes far smaller than a 112^3 view are mostly air: the redraw loop still ends."""
    url, _ = small_corpus
    dataset = RegionDataset(url, SubCropSampler(), max_draws=3)
    samples = list(dataset)
    assert len(samples) == len(SHAPES)
    assert all(s["crops"].shape == (8, 6) for s in samples)


def test_collate_pads_regions_with_air(small_corpus):
    url, _ = small_corpus
    samples = list(RegionDataset(url, SubCropSampler(), max_draws=1))[:3]
    batch = collate(samples)
    largest = np.max([s["region"].shape for s in samples], axis=0)
    assert tuple(batch["region"].shape) == (3, *largest)
    for index, sample in enumerate(samples):
        x, y, z = sample["region"].shape[1:]
        assert torch.equal(batch["region"][index, :, :x, :y, :z], sample["region"])
        assert torch.all(batch["region"][index, :, x:] == -1024)
    assert batch["crops"].shape == (3, 8, 6)


def test_batches_become_method_views_on_the_device(small_corpus):
    url, _ = small_corpus
    voco = collate(list(RegionDataset(url, VoCoSampler(grid=(2, 2), base=(16, 16, 16)))))
    views = voco_views(voco)
    assert tuple(views.bases.shape) == (len(SHAPES), 4, 1, 16, 16, 16)
    assert tuple(views.randoms.shape) == (len(SHAPES), 4, 1, 16, 16, 16)
    assert float(views.bases.min()) >= 0.0 and float(views.bases.max()) <= 1.0
    # base 0 is the region's first 16^3 corner, windowed to VoCo's -175..250 HU
    corner = voco["region"][:, :, :16, :16, :16].float()
    torch.testing.assert_close(views.bases[:, 0], ((corner + 175) / 425).clamp(0, 1), atol=1e-5, rtol=0)
    pcrl = pcrlv2_views(
        collate(list(RegionDataset(url, SubCropSampler(), max_draws=1))), torch.Generator().manual_seed(0)
    )
    assert tuple(pcrl.global_inputs.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(pcrl.global_targets.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(pcrl.local_inputs.shape) == (len(SHAPES), 6, 1, 16, 16, 16)
