"""Crops for fine-tuning, read straight from the shards: centred on a label voxel or anywhere.

As MONAI's ``RandCropByPosNegLabeld``: with probability pos / (pos + neg) a
crop is centred on a random voxel of any class to learn, else on a random
voxel of the volume. Every choice comes from a generator of (seed, step,
rank), so a resumed run draws the same crops. Reading is numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import corpus
from corpus.store.reader import Corpus


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]


def labelled_split(opened: Corpus, val_volumes: tuple[str, ...], val_splits: tuple[str, ...]) -> Split:
    """Train and validation volumes among the labelled ones; validation never trains."""
    rows = [r for r in opened.stored().select(["volume_id", "split", "has_labels"]).to_pylist() if r["has_labels"]]
    ids = [r["volume_id"] for r in rows]
    if len(ids) < 2:
        raise ValueError(
            f"{opened.location.url} has {len(ids)} labelled volume(s); fine-tuning needs at least 2 "
            "(one to train, one to validate): build with --labels"
        )
    unknown = set(val_volumes) - set(ids)
    if unknown:
        raise ValueError(f"--val-volume {sorted(unknown)} is not a labelled volume; labelled: {ids}")
    val = list(val_volumes) or [r["volume_id"] for r in rows if r["split"] in val_splits] or ids[-1:]
    train = [v for v in ids if v not in val]
    if not train:
        raise ValueError("Every labelled volume is in the validation split; leave some to train on")
    return Split(tuple(train), tuple(val))


def to_classes(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Label values -> class index (1..K in the order of ``classes``; any other value is background 0)."""
    out = np.zeros(labels.shape, dtype=np.int64)
    for index, value in enumerate(classes, start=1):
        out[labels == value] = index
    return out


def present_labels(opened: Corpus, volume_ids: tuple[str, ...]) -> tuple[int, ...]:
    rows = opened.stored().select(["volume_id", "label_set"]).to_pylist()
    return tuple(sorted({v for r in rows if r["volume_id"] in volume_ids for v in r["label_set"]}))


class CropSource:
    """Image and class crops of the train volumes (one corpus handle per process)."""

    def __init__(self, url: str, volume_ids: tuple[str, ...], classes: tuple[int, ...], crop: tuple[int, int, int]):
        self.corpus, self.volume_ids, self.crop = corpus.open(url), volume_ids, crop
        self.classes = classes

    @lru_cache(maxsize=64)  # noqa: B019 - one source per run; label maps are small
    def _foreground(self, volume_id: str) -> np.ndarray:
        labels = self.corpus.read_labels(volume_id)
        return np.argwhere(np.isin(labels, self.classes))

    def sample(self, rng: np.random.Generator, positive_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """(image int16, class index) crops of one draw."""
        volume_id = self.volume_ids[int(rng.integers(len(self.volume_ids)))]
        shape = np.asarray(self.corpus.array(volume_id).shape)
        foreground = self._foreground(volume_id)
        if len(foreground) and rng.random() < positive_fraction:
            centre = foreground[int(rng.integers(len(foreground)))]
        else:
            centre = rng.integers(0, shape)
        size = np.asarray(self.crop)
        # keep the crop inside the volume where it fits, as MONAI does; smaller volumes are padded
        start = np.clip(centre - size // 2, 0, np.maximum(shape - size, 0))
        region = [(int(a), int(a + n)) for a, n in zip(start, size, strict=True)]
        return self.corpus.read(volume_id, region), to_classes(self.corpus.read_labels(volume_id, region), self.classes)
