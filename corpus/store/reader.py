"""Reading a corpus: ``corpus.open(OUT)`` -> spec, layout, manifest, regions of volumes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pyarrow as pa
import zarr

from corpus.errors import CorpusError
from corpus.spec import BuildSpec
from corpus.store.layout import ARRAY_NAME, LABELS, SHARDS, folder_of_shard
from corpus.store.location import Location
from corpus.store.manifest import read_manifest, stored
from corpus.store.meta import read_meta
from corpus.store.storage_layout import StorageLayout

Region = Sequence[tuple[int, int]]


class Corpus:
    """A built corpus, local or behind any fsspec URL."""

    def __init__(self, url: str) -> None:
        self.location = Location(url)
        meta = read_meta(self.location)
        self.spec = BuildSpec.from_dict(meta["spec"])
        self.layout = StorageLayout.from_dict(meta["layout"])  # what new shards get; arrays describe their own
        self._arrays: dict[str, zarr.Array] = {}  # opened once: training reads many regions of each

    @cached_property
    def manifest(self) -> pa.Table:
        """Every input's row (ok, skipped, failed) as an Arrow table."""
        return read_manifest(self.location)

    def stored(self) -> pa.Table:
        """The rows of the stored volumes (status ok), in manifest order."""
        return stored(self.manifest)

    @cached_property
    def _stored(self) -> dict[str, tuple[str, str]]:
        columns = self.stored().select(["volume_id", "shard", "array"]).to_pydict()
        return {v: (s, a) for v, s, a in zip(columns["volume_id"], columns["shard"], columns["array"], strict=True)}

    @property
    def volume_ids(self) -> list[str]:
        """Ids of the stored volumes, in manifest order."""
        return list(self._stored)

    def array(self, volume_id: str) -> zarr.Array:
        """The zarr array of one stored volume (int16, x y z, RAS+)."""
        if volume_id in self._arrays:
            return self._arrays[volume_id]
        if volume_id not in self._stored:
            raise CorpusError(f"No stored volume {volume_id!r} in {self.location.url}; see .volume_ids")
        shard, path = self._stored[volume_id]
        store = self.location.zarr_store(SHARDS, folder_of_shard(shard), read_only=True)
        self._arrays[volume_id] = zarr.open_array(store, path=path, mode="r")
        return self._arrays[volume_id]

    def has_labels(self, volume_id: str) -> bool:
        return volume_id in self._labelled

    @cached_property
    def _labelled(self) -> frozenset[str]:
        columns = self.stored().select(["volume_id", "has_labels"]).to_pydict()
        return frozenset(v for v, has in zip(columns["volume_id"], columns["has_labels"], strict=True) if has)

    def label_array(self, volume_id: str) -> zarr.Array:
        """The label map stored beside a volume (uint8/uint16, the volume's grid)."""
        if not self.has_labels(volume_id):
            raise CorpusError(f"Volume {volume_id!r} has no label map; see the manifest's has_labels")
        key = f"{volume_id}/{LABELS}"
        if key not in self._arrays:
            shard, _ = self._stored[volume_id]
            store = self.location.zarr_store(SHARDS, folder_of_shard(shard), read_only=True)
            self._arrays[key] = zarr.open_array(store, path=f"{key}/{ARRAY_NAME}", mode="r")
        return self._arrays[key]

    def label_names(self, volume_id: str) -> dict[int, str]:
        """Label value -> name, as the build's label names said (empty when none were given)."""
        names = self.label_array(volume_id).attrs.get("label_names", {})
        assert isinstance(names, dict), "label_names is written as a mapping"
        return {int(value): str(name) for value, name in names.items()}

    def read_labels(self, volume_id: str, region: Region | None = None) -> np.ndarray:
        """Labels of a volume, cut like :meth:`read`; outside the volume is background (0)."""
        return _cut(self.label_array(volume_id), region, 0)

    def read(self, volume_id: str, region: Region | None = None) -> np.ndarray:
        """Voxels of a volume; ``region`` = ((x0, x1), (y0, y1), (z0, z1)) voxel bounds.

        Bounds may leave the volume: the part outside is filled with air (the
        low clip value), so a crop box always gets the shape it asked for.
        """
        return _cut(self.array(volume_id), region, self.spec.fill_value)


def _cut(stored: zarr.Array, region: Region | None, fill: int) -> np.ndarray:
    if region is None:
        return np.asarray(stored[...])
    bounds = parse_region(region)
    inside = [(max(start, 0), min(stop, size)) for (start, stop), size in zip(bounds, stored.shape, strict=True)]
    if inside == bounds:  # the common case: no padding, no second copy
        return np.asarray(stored[tuple(slice(lo, hi) for lo, hi in bounds)])
    out = np.full([stop - start for start, stop in bounds], fill, dtype=stored.dtype)
    if all(lo < hi for lo, hi in inside):
        source = tuple(slice(lo, hi) for lo, hi in inside)
        target = tuple(slice(lo - start, hi - start) for (lo, hi), (start, _) in zip(inside, bounds, strict=True))
        out[target] = stored[source]
    return out


def parse_region(region: Region) -> list[tuple[int, int]]:
    bounds = [(int(start), int(stop)) for start, stop in region]
    if len(bounds) != 3 or any(stop < start for start, stop in bounds):
        raise CorpusError(f"Region must be three (start, stop) voxel pairs with start <= stop, got {list(region)}")
    return bounds


def open_corpus(url: str) -> Corpus:
    """Open the corpus at a local path or fsspec URL (``corpus.open``)."""
    return Corpus(str(url))
