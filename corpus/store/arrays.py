"""One volume = one zarr v3 group in a shard: NGFF metadata + array ``0``.

The array is int16 (x, y, z) RAS+, cut into the storage layout's chunks held
in a single shard object, so a volume is one object on disk and a crop reads
only the chunks it touches. Chunks are zstd-compressed after a bit-shuffle
(Blosc): CT noise compresses better bit-plane by bit-plane, and decodes faster.
A shard group records the layout its arrays are written with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
import zarr.codecs
from zarr.abc.store import Store

from corpus.preprocess.grid import Grid
from corpus.spec import BuildSpec
from corpus.store.layout import ARRAY_NAME, LABELS, SHARDS
from corpus.store.location import Location
from corpus.store.storage_layout import StorageLayout

LAYOUT_ATTRIBUTE = "storage_layout"  # in a shard group's attributes
AXES = ("x", "y", "z")  # RAS+
_GROUP_METADATA = "zarr.json"


@dataclass(frozen=True)
class StoredArray:
    path: str  # inside the shard: "<volume_id>/0"
    stored_bytes: int
    checksum: str


def open_shard(store: Store, layout: StorageLayout) -> zarr.Group:
    """Open a shard group for writing; a new one records ``layout`` in its attributes."""
    return zarr.open_group(store, mode="a", attributes={LAYOUT_ATTRIBUTE: layout.to_dict()})


def volume_names(location: Location, folder: str) -> list[str]:
    """The volume groups in a shard folder, read from the listing (the shard's own metadata may be gone)."""
    return [name for name in location.list_names(SHARDS, folder) if name != _GROUP_METADATA]


def write_volume(
    shard: zarr.Group, volume_id: str, array: np.ndarray, grid: Grid, spec: BuildSpec, layout: StorageLayout
) -> StoredArray:
    """Write one normalized volume into an open shard group."""
    group = shard.create_group(volume_id, attributes={"ome": _ngff(volume_id, grid)}, overwrite=True)
    chunks = layout.chunks_for(array.shape)
    shards = tuple(-(-n // c) * c for c, n in zip(chunks, array.shape, strict=True))
    stored = group.create_array(
        ARRAY_NAME,
        shape=array.shape,
        chunks=chunks,
        shards=shards,
        dtype="int16",
        compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=layout.zstd_level, shuffle="bitshuffle", typesize=2),
        fill_value=spec.fill_value,
        dimension_names=AXES,  # OME-Zarr 0.5 asks every array for the names of its axes
        attributes=_geometry_attrs(volume_id, grid, spec),
        overwrite=True,
    )
    stored[...] = array
    return StoredArray(f"{volume_id}/{ARRAY_NAME}", int(stored.nbytes_stored()), checksum(array))


def write_labels(
    shard: zarr.Group, volume_id: str, labels: np.ndarray, names: dict[int, str], layout: StorageLayout
) -> str:
    """Write a label map (uint8/uint16, the image's grid) beside its image; its path inside the shard."""
    group = shard.require_group(volume_id).create_group(LABELS, overwrite=True)
    chunks = layout.chunks_for(labels.shape)
    stored = group.create_array(
        ARRAY_NAME,
        shape=labels.shape,
        chunks=chunks,
        shards=tuple(-(-n // c) * c for c, n in zip(chunks, labels.shape, strict=True)),
        dtype=labels.dtype,
        compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=layout.zstd_level, shuffle="bitshuffle"),
        fill_value=0,
        attributes={"volume_id": volume_id, "label_names": {str(v): n for v, n in sorted(names.items())}},
        overwrite=True,
    )
    stored[...] = labels
    return f"{volume_id}/{LABELS}/{ARRAY_NAME}"


def checksum(array: np.ndarray) -> str:
    """Digest of the voxel values (little-endian int16, C order): equal voxels, equal sum."""
    data = np.ascontiguousarray(array, dtype="<i2")
    return "blake2b:" + hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()


def _geometry_attrs(volume_id: str, grid: Grid, spec: BuildSpec) -> dict[str, Any]:
    return {
        "volume_id": volume_id,
        "spacing": list(grid.spacing),
        "origin": list(grid.origin),
        "affine": grid.affine.tolist(),
        "axes": "xyz",
        "orientation": "RAS",
        "spec_hash": spec.hash(),
    }


def _ngff(volume_id: str, grid: Grid) -> dict[str, Any]:
    """OME-Zarr 0.5 multiscales (one level) so NGFF viewers place the volume in mm."""
    axes = [{"name": name, "type": "space", "unit": "millimeter"} for name in AXES]
    transforms = [
        {"type": "scale", "scale": list(grid.spacing)},
        {"type": "translation", "translation": list(grid.origin)},
    ]
    dataset = {"path": ARRAY_NAME, "coordinateTransformations": transforms}
    return {"version": "0.5", "multiscales": [{"name": volume_id, "axes": axes, "datasets": [dataset]}]}
