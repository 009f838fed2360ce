"""Stream training regions straight from corpus shards (no cache, no copy).

Workers only do I/O: pick a volume (seeded, partitioned by DDP rank and
DataLoader worker), ask the sampler for the region it needs, read that region
as int16 (air outside the volume), and hand it over with the crop boxes and
labels. Windowing, cropping, resizing and augmentation happen on the device.
"""

from __future__ import annotations

import itertools
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

import corpus
from corpus.selection import select_rows
from ctssl.samplers.base import Sampler


@dataclass(frozen=True)
class Mixture:
    """Which volumes to train on and how often each source's volumes repeat.

    TOML form (manifests/mixtures/*.toml)::

        splits = ["train"]
        filters = ["slice_thickness_mm <= 3", "kernel not in ['B70f', 'FC52']"]  # corpus.filters
        exclude = ["lists/btcv_test.txt"]           # list files of volume ids or paths to leave out
        exclude_duplicates_of = ["/data/amos_test_corpus", "lists/btcv_test.txt"]  # and whatever leaks into them
        [repeats]
        btcv = 8          # "repeat abdomen 8x", as the large-scale VoCo code does
        luna16 = 1

    Relative paths in ``exclude`` and ``exclude_duplicates_of`` are read from the mixture file's folder.
    """

    sources: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    repeats: dict[str, int] = field(default_factory=dict)
    filters: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_duplicates_of: tuple[str, ...] = ()

    @classmethod
    def from_toml(cls, path: str | Path) -> Mixture:
        data = tomllib.loads(Path(path).read_text())
        known = [f.name for f in fields(cls)]
        if set(data) - set(known):
            raise ValueError(f"Mixture {path}: unknown keys {sorted(set(data) - set(known))}; expected some of {known}")
        repeats = {str(k): int(v) for k, v in data.get("repeats", {}).items()}
        if any(v < 1 for v in repeats.values()):
            raise ValueError(f"Mixture {path}: repeats must be whole numbers >= 1, got {repeats}")
        sources = tuple(data.get("sources", repeats)) or None
        splits = tuple(data["splits"]) if "splits" in data else None
        folder = Path(path).parent
        return cls(
            sources,
            splits,
            repeats,
            filters=tuple(str(text) for text in data.get("filters", [])),
            exclude=tuple(_beside(folder, entry) for entry in data.get("exclude", [])),
            exclude_duplicates_of=tuple(_beside(folder, entry) for entry in data.get("exclude_duplicates_of", [])),
        )


def _beside(folder: Path, entry: str) -> str:
    """A path relative to the mixture file's folder; URLs and absolute paths as they are."""
    return entry if "://" in entry or Path(entry).is_absolute() else str(folder / entry)


@dataclass(frozen=True)
class VolumeEntry:
    volume_id: str
    shape: tuple[int, int, int]
    body_bbox: tuple[int, ...] | None


def select_volumes(opened: corpus.Corpus, mixture: Mixture) -> list[VolumeEntry]:
    """Stored volumes of the mixture's sources and splits that pass its filters and exclusions, each
    source's listed ``repeats`` times."""
    entries = []
    rows = select_rows(opened, mixture.filters, mixture.exclude, mixture.exclude_duplicates_of)
    for row in rows.select(["volume_id", "source", "split", "shape", "body_bbox"]).to_pylist():
        if (mixture.sources and row["source"] not in mixture.sources) or (
            mixture.splits and row["split"] not in mixture.splits
        ):
            continue
        bbox = tuple(row["body_bbox"]) if row["body_bbox"] is not None else None
        entry = VolumeEntry(row["volume_id"], tuple(row["shape"]), bbox)
        entries.extend([entry] * mixture.repeats.get(row["source"], 1))
    return entries


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The (seed, epoch)-shuffled positions 0 .. count - 1."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def partition(count: int, seed: int, epoch: int, shard: int, shards: int) -> np.ndarray:
    """Positions of this shard's share of a (seed, epoch)-shuffled list: disjoint, sizes within one."""
    return epoch_order(count, seed, epoch)[shard::shards]


class RegionDataset(IterableDataset[dict[str, Any]]):
    """One epoch of samples: each selected volume once, read at a sampler-chosen region.

    Rank and world size default to torch.distributed's when it is initialised.
    Call :meth:`set_epoch` before each epoch to reshuffle (as with DistributedSampler),
    and batch its samples with :meth:`collate` (pads with the corpus's air value).
    """

    def __init__(
        self,
        corpus_url: str,
        sampler: Sampler,
        mixture: Mixture | None = None,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        max_draws: int = 10,
    ) -> None:
        self.corpus_url, self.sampler, self.seed, self.max_draws = corpus_url, sampler, seed, max_draws
        opened = corpus.open(corpus_url)
        self.entries = select_volumes(opened, mixture or Mixture())
        self.fill_value = opened.spec.fill_value  # air: what lies outside a volume
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if distributed else 0)
        self.world_size = (
            world_size if world_size is not None else (torch.distributed.get_world_size() if distributed else 1)
        )
        self.epoch = 0
        self._corpus: corpus.Corpus | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        shard, shards = self.rank * workers + worker, self.world_size * workers
        for position in partition(len(self.entries), self.seed, self.epoch, shard, shards):
            yield self.sample_at(self.epoch, int(position))

    def endless(self, stream: int, streams: int, skip: int = 0) -> Iterator[dict[str, Any]]:
        """Stream ``stream`` of ``streams`` per rank: every (rank x streams)-th sample of the endless
        sequence epoch 0's order, epoch 1's order, ...; the first ``skip`` are passed over unread.

        Striding over the joined epochs, not within each one, keeps every stream fed even when
        there are fewer volumes than streams, and lets a stream start anywhere in O(1).
        """
        count = len(self.entries)
        if not count:
            raise ValueError(f"No stored volumes of the chosen sources and splits in {self.corpus_url}")
        shard, shards = self.rank * streams + stream, self.world_size * streams
        order_epoch, order = -1, np.empty(0, dtype=np.int64)
        for index in itertools.count(skip):
            epoch, offset = divmod(shard + index * shards, count)
            if epoch != order_epoch:
                order_epoch, order = epoch, epoch_order(count, self.seed, epoch)
            yield self.sample_at(epoch, int(order[offset]))

    def sample_at(self, epoch: int, position: int) -> dict[str, Any]:
        """The sample of entry ``position`` in ``epoch``, a function of (seed, epoch, position) alone.

        When the sampler rejects all ``max_draws`` draws of that volume, the next entries of the list are tried
        in turn, each with a generator of its own; the sample names the volumes passed over (``passed_over``)
        and a warning says so. A resumed run therefore meets the same replacements.
        """
        passed_over: list[str] = []
        count = len(self.entries)
        for hop in range(count):
            entry = self.entries[(position + hop) % count]
            key = [self.seed, epoch, position] + ([hop] if hop else [])
            found = self.sample(entry, np.random.default_rng(key))
            if found is not None:
                return found | {"passed_over": passed_over}
            passed_over.append(entry.volume_id)
            warnings.warn(
                f"{entry.volume_id}: the sampler rejected all {self.max_draws} draws of crops; sample taken from "
                "the next volume",
                RejectedVolumeWarning,
                stacklevel=2,
            )
        raise ValueError(
            f"No volume of {self.corpus_url} gave crops the sampler accepts in {self.max_draws} draws each "
            f"({count} volumes tried): the volumes are too small or too empty for these crops; "
            "choose other sources (--mixture) or smaller crops"
        )

    def sample(self, entry: VolumeEntry, rng: np.random.Generator) -> dict[str, Any] | None:
        """Draw crops and read their region, redrawing when the sampler rejects the content;
        None when it rejected all ``max_draws`` draws."""
        for _ in range(self.max_draws):
            params = self.sampler.make_params(rng, entry.shape, entry.body_bbox)
            region = self._open().read(entry.volume_id, params.region.bounds())
            if self.sampler.accept(params, region):
                return {
                    "region": torch.from_numpy(region)[None],
                    "crops": torch.from_numpy(params.crop_rows()),
                    "labels": torch.from_numpy(params.labels),
                    "out_sizes": params.out_sizes,
                    "volume_id": entry.volume_id,
                    "region_start": params.region.start,
                }
        return None

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """A batch of this dataset's samples (the DataLoader's ``collate_fn``)."""
        return collate(samples, self.fill_value)

    def _open(self) -> corpus.Corpus:
        if self._corpus is None:  # opened in each worker process, never pickled across
            self._corpus = corpus.open(self.corpus_url)
        return self._corpus

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_corpus": None}


class RejectedVolumeWarning(UserWarning):
    """A volume gave no crops the sampler accepts; its sample came from another volume."""


def collate(samples: list[dict[str, Any]], fill_value: int) -> dict[str, Any]:
    """Batch samples; regions of different sizes are padded with ``fill_value`` (air) at their far end."""
    shape = np.max([s["region"].shape for s in samples], axis=0)
    regions = torch.full((len(samples), *shape), fill_value, dtype=torch.int16)
    for index, sample in enumerate(samples):
        x, y, z = sample["region"].shape[1:]
        regions[index, :, :x, :y, :z] = sample["region"]
    return {
        "region": regions,
        "crops": torch.stack([s["crops"] for s in samples]),
        "labels": torch.stack([s["labels"] for s in samples]),
        "out_sizes": samples[0]["out_sizes"],
        "volume_id": [s["volume_id"] for s in samples],
        "region_start": torch.tensor([s["region_start"] for s in samples]),
        "passed_over": [volume for s in samples for volume in s.get("passed_over", ())],
    }


class TrainingStream(IterableDataset[dict[str, Any]]):
    """Endless batches for a step-based run, able to start at any step without reading what came before.

    A DataLoader over an iterable dataset takes whole batches from its workers
    in turn, starting with worker 0: batch b of a run comes from stream
    b mod workers. A loader started at batch s therefore gives its worker w
    stream (w + s) mod workers, which had delivered ceil((s - stream) / workers)
    batches before s; the worker skips those samples without reading them and
    the run goes on exactly where it stopped.
    """

    def __init__(self, dataset: RegionDataset, batch_size: int, start_batch: int = 0) -> None:
        self.dataset, self.batch_size, self.start_batch = dataset, batch_size, start_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        stream = (worker + self.start_batch) % workers
        delivered = max(0, -(-(self.start_batch - stream) // workers))
        samples = self.dataset.endless(stream, workers, skip=delivered * self.batch_size)
        while True:
            yield self.dataset.collate(list(itertools.islice(samples, self.batch_size)))
