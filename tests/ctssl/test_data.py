"""Streaming regions from a corpus: partitioning, reading, redraws, batching."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from ctssl.data import Mixture, RegionDataset, RejectedVolumeWarning, partition
from ctssl.samplers import SubCropSampler, VoCoSampler
from ctssl.samplers.base import CropParams
from tests.conftest import save_nifti
from tests.corpus.duplicates.conftest import random_scan, rewritten
from tests.ctssl.conftest import SHAPES

SMALL_VOCO = VoCoSampler(grid=(2, 2), base=(16, 16, 16), random_crops=4)


def test_partition_is_disjoint_and_complete_for_2_ranks_by_2_workers():
    shares = [partition(103, seed=5, epoch=2, shard=s, shards=4) for s in range(4)]
    together = np.concatenate(shares)
    assert sorted(together.tolist()) == list(range(103))
    assert {len(s) for s in shares} <= {25, 26}


def test_one_epoch_over_2_ranks_and_2_workers_visits_every_volume_once(small_corpus):
    url, inputs = small_corpus
    seen: Counter[str] = Counter()
    for rank in range(2):
        dataset = RegionDataset(url, SMALL_VOCO, rank=rank, world_size=2, seed=3)
        loader = DataLoader(dataset, batch_size=None, num_workers=2)
        seen.update(sample["volume_id"] for sample in loader)
    assert seen == Counter(list(inputs))


def test_regions_hold_the_input_voxels_and_air_outside(small_corpus):
    url, inputs = small_corpus
    dataset = RegionDataset(url, VoCoSampler(grid=(3, 3), base=(32, 32, 32), random_crops=4), seed=1)
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
    dataset = RegionDataset(url, SMALL_VOCO, seed=7)
    first = [(s["volume_id"], s["region_start"]) for s in dataset]
    again = [(s["volume_id"], s["region_start"]) for s in dataset]
    dataset.set_epoch(1)
    other = [(s["volume_id"], s["region_start"]) for s in dataset]
    assert first == again
    assert first != other
    assert sorted(v for v, _ in first) == sorted(v for v, _ in other)


def test_selection_by_source_split_and_mixture_file(small_corpus, tmp_path):
    url, inputs = small_corpus
    sampler = SMALL_VOCO
    assert len(RegionDataset(url, sampler, Mixture(sources=("nope",))).entries) == 0
    assert len(RegionDataset(url, sampler, Mixture(splits=("val",))).entries) == 0
    assert len(RegionDataset(url, sampler, Mixture(splits=("train",))).entries) == len(inputs)
    (tmp_path / "mix.toml").write_text('splits = ["train"]\n[repeats]\nvols = 3\n')
    mixture = Mixture.from_toml(tmp_path / "mix.toml")
    assert mixture == Mixture(sources=("vols",), splits=("train",), repeats={"vols": 3})
    entries = RegionDataset(url, sampler, mixture).entries
    assert Counter(e.volume_id for e in entries) == Counter(dict.fromkeys(inputs, 3))


def test_mixture_filters_and_exclusions_drop_volumes(small_corpus, tmp_path):
    url, _ = small_corpus  # z sizes 40, 30, 64, 20, 33, 50, 30
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "test.txt").write_text("v0.nii.gz\n")
    (tmp_path / "lists" / "val.txt").write_text("vols-v2\n")
    (tmp_path / "mix.toml").write_text(
        'filters = ["shape[2] >= 33"]\nexclude = ["lists/test.txt"]\nexclude_duplicates_of = ["lists/val.txt"]\n'
    )
    mixture = Mixture.from_toml(tmp_path / "mix.toml")
    assert mixture.exclude == (str(tmp_path / "lists" / "test.txt"),)  # relative to the mixture file
    entries = RegionDataset(url, SMALL_VOCO, mixture).entries
    assert sorted(e.volume_id for e in entries) == ["vols-v4", "vols-v5"]


def test_a_mixture_key_with_a_typo_is_refused(tmp_path):
    (tmp_path / "mix.toml").write_text('exlude = ["lists/test.txt"]\n')
    with pytest.raises(ValueError, match="unknown keys \\['exlude'\\]"):
        Mixture.from_toml(tmp_path / "mix.toml")


def test_rejected_draws_are_bounded(small_corpus):
    """Volumes far smaller than a 112^3 view are mostly air: the redraw loop still ends."""
    url, _ = small_corpus
    dataset = RegionDataset(url, SubCropSampler(local_views=6), max_draws=3)
    samples = list(dataset)
    assert len(samples) == len(SHAPES)
    assert all(s["crops"].shape == (8, 6) for s in samples)


class RejectsShapes(VoCoSampler):
    """Rejects every draw in volumes of the given shapes (the content rule of a sampler, made certain)."""

    def __init__(self, shapes: Sequence[tuple[int, int, int]]) -> None:
        super().__init__(grid=(2, 2), base=(16, 16, 16), random_crops=4)
        self.shapes, self.draws = set(shapes), Counter[tuple[int, ...]]()

    def make_params(
        self, rng: np.random.Generator, shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> CropParams:
        self.current = tuple(shape)
        self.draws[self.current] += 1
        return super().make_params(rng, shape, body_bbox)

    def accept(self, params: CropParams, region: np.ndarray) -> bool:
        return self.current not in self.shapes


def test_a_volume_rejected_max_draws_times_is_passed_over_and_reported(small_corpus):
    """Before: the last rejected draw was returned as if accepted. Now the sample comes from the next volume,
    names the volume passed over, and a warning says so."""
    url, _ = small_corpus
    sampler = RejectsShapes([SHAPES[2]])
    dataset = RegionDataset(url, sampler, seed=4, max_draws=5)
    with pytest.warns(RejectedVolumeWarning, match="vols-v2: the sampler rejected all 5 draws"):
        samples = list(dataset)
    assert sampler.draws[SHAPES[2]] == 5  # every allowed draw was tried
    assert len(samples) == len(SHAPES)
    assert "vols-v2" not in [s["volume_id"] for s in samples]
    replaced = [s for s in samples if s["passed_over"]]
    assert [s["passed_over"] for s in replaced] == [["vols-v2"]]
    order = [e.volume_id for e in dataset.entries]
    assert replaced[0]["volume_id"] == order[(order.index("vols-v2") + 1) % len(order)]
    batch = dataset.collate(samples)
    assert batch["passed_over"] == ["vols-v2"]


def test_a_corpus_whose_every_volume_is_rejected_stops_with_a_reason(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, RejectsShapes(SHAPES), max_draws=2)
    with pytest.warns(RejectedVolumeWarning), pytest.raises(ValueError, match=r"No volume .* 2 draws each"):
        next(iter(dataset))


def test_collate_pads_regions_with_air(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, SubCropSampler(local_views=6), max_draws=1)
    samples = list(dataset)[:3]
    batch = dataset.collate(samples)
    largest = np.max([s["region"].shape for s in samples], axis=0)
    assert tuple(batch["region"].shape) == (3, *largest)
    for index, sample in enumerate(samples):
        x, y, z = sample["region"].shape[1:]
        assert torch.equal(batch["region"][index, :, :x, :y, :z], sample["region"])
        assert torch.all(batch["region"][index, :, x:] == -1024)
    assert batch["crops"].shape == (3, 8, 6)


@pytest.fixture(scope="module")
def acquired_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Three bodies: ``a`` also in a downstream corpus with its spacing header rewritten, ``c`` 5 mm thick with a
    sharp kernel (from its JSON sidecar), ``b`` neither. Built at 3 mm to keep the test short."""
    root = tmp_path_factory.mktemp("acquired")
    (root / "pre").mkdir()
    (root / "downstream").mkdir()
    scans = {name: random_scan(seed, spacing=(3.0, 3.0, 3.0)) for seed, name in enumerate("abc")}
    for name, (hu, affine) in scans.items():
        save_nifti(root / "pre" / f"{name}.nii.gz", hu, affine)
    (root / "pre" / "a.json").write_text(json.dumps({"SliceThickness": 1.0, "ConvolutionKernel": "B30f"}))
    (root / "pre" / "c.json").write_text(json.dumps({"SliceThickness": 5.0, "ConvolutionKernel": "B70f"}))
    save_nifti(root / "downstream" / "test0.nii.gz", *rewritten(*scans["a"]))
    spec = BuildSpec(spacing=(3.0, 3.0, 3.0))
    for folder in ("pre", "downstream"):
        report = build_corpus(discover([root / folder], []), str(root / f"{folder}-corpus"), spec, progress=False)
        assert report.exit_code == 0
    return str(root / "pre-corpus"), root / "downstream-corpus"


def test_the_loader_never_yields_a_filtered_or_leaking_volume(acquired_corpus, tmp_path):
    url, downstream = acquired_corpus
    everything = {sample["volume_id"] for sample in DataLoader(RegionDataset(url, SMALL_VOCO), batch_size=None)}
    assert everything == {"pre-a", "pre-b", "pre-c"}  # the unfiltered loader sees all three
    (tmp_path / "mix.toml").write_text(
        'filters = ["slice_thickness_mm <= 3 or slice_thickness_mm is null"]\n'
        f'exclude_duplicates_of = ["{downstream}"]\n'
    )
    loader = DataLoader(RegionDataset(url, SMALL_VOCO, Mixture.from_toml(tmp_path / "mix.toml")), batch_size=None)
    assert {sample["volume_id"] for sample in loader} == {"pre-b"}  # c too thick; a is downstream test0 relabelled
    (tmp_path / "kernel.toml").write_text("filters = [\"kernel not in ['B70f']\"]\n")
    kept = RegionDataset(url, SMALL_VOCO, Mixture.from_toml(tmp_path / "kernel.toml"))
    assert {e.volume_id for e in kept.entries} == {"pre-a"}  # b's kernel is unknown: `not in` keeps known kernels
