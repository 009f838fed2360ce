"""One input -> one manifest row (and the stored array with its thumbnails when it is a volume).

Every failure of one input becomes its row's reason and message; nothing an
input does can stop the build.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from corpus.errors import SKIP_REASONS, CorpusError, InputError, Reason, one_line
from corpus.identity import describe_input
from corpus.preprocess.fingerprint import content_fingerprint
from corpus.preprocess.intensity import hu_percentiles
from corpus.preprocess.labels import label_counts, labels_on_grid
from corpus.preprocess.normalize import Normalized, normalize
from corpus.preprocess.qc import assess
from corpus.readers import read_volume
from corpus.readers.dicom import read_dicom_series
from corpus.readers.volume import Volume, check_slices
from corpus.sources import InputItem
from corpus.spec import BuildSpec, DicomSelection
from corpus.store.arrays import StoredArray, write_labels, write_volume
from corpus.store.manifest import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, new_row
from corpus.store.storage_layout import StorageLayout
from corpus.store.thumbnails import thumbnails

log = logging.getLogger("corpus.build")


@dataclass
class Ingested:
    """One input's manifest row, and the thumbnails of its stored volume (None if not stored)."""

    row: dict[str, Any]
    thumbnails: dict[str, bytes] | None = None


def ingest_input(
    item: InputItem,
    spec: BuildSpec,
    layout: StorageLayout,
    salt: str,
    open_shard: Callable[[], tuple[str, zarr.Group]],
    min_slices: int = DicomSelection().min_slices,
    threads: int = 1,
) -> Ingested:
    """Read, normalize and store one input, with ``threads`` threads; always return its manifest row."""
    started = time.perf_counter()
    row = base_row(item, spec)
    row.update(describe_input(item, salt))
    done = Ingested(row)
    try:
        volume = _read(item, spec, threads)
        row.update(_input_facts(volume))
        check_slices(volume.shape, min_slices)
        normalized = normalize(volume, spec, threads)  # a gzipped NIfTI still decodes meanwhile
        volume.complete()
        _check_unchanged(item, "while it was read")
        labels = _labels(item, volume, normalized)
        del volume  # the input array can be large: free it before writing
        shard, group = open_shard()
        stored, quality, done.thumbnails = _store(group, item.volume_id, normalized, spec, layout, threads)
        row.update(_stored_facts(shard, stored, normalized), **quality)
        if labels is not None:
            write_labels(group, item.volume_id, labels, dict(item.label_names), layout)
            row.update(_label_facts(labels))
    except CorpusError as error:
        status = STATUS_SKIPPED if error.reason in SKIP_REASONS else STATUS_FAILED
        row.update(status=status, reason=error.reason.value, message=_scrub(one_line(error), item))
        log.warning("%s: %s: %s", item.relpath, error.reason.value, one_line(error))
    except Exception as error:  # noqa: BLE001 - any bug in one input must not stop the build
        row.update(status=STATUS_FAILED, reason=Reason.INTERNAL_ERROR.value, message=_scrub(one_line(error), item))
        log.error("%s: unexpected error\n%s", item.relpath, traceback.format_exc())
    row["seconds"] = time.perf_counter() - started
    return done


def _scrub(message: str, item: InputItem) -> str:
    """Messages name files, not where they live: no absolute path reaches the manifest."""
    for path in (*item.files, item.path):
        message = message.replace(str(path.parent) + "/", "").replace(str(path.parent), ".")
    return message


def _read(item: InputItem, spec: BuildSpec, threads: int) -> Volume:
    if item.skip is not None:
        raise InputError(item.skip[1], item.skip[0])
    _check_unchanged(item, "before it was read")
    in_background = threads > 1  # a spare thread decodes while the resampling pass consumes what is in
    if item.slices:
        return read_dicom_series(item.slices, spec.max_gap_mm, in_background)
    return read_volume(item.path, in_background)


def _check_unchanged(item: InputItem, when: str) -> None:
    """A file that changes under the build is not stored half old, half new."""
    if item.stamp is not None and item.current_stamp() != item.stamp:
        raise InputError(
            f"The input changed or vanished {when}; build again to take its new state", Reason.CHANGED_DURING_BUILD
        )


def _store(
    group: zarr.Group, volume_id: str, normalized: Normalized, spec: BuildSpec, layout: StorageLayout, threads: int
) -> tuple[StoredArray, dict[str, Any], dict[str, bytes]]:
    """Write the array, its quality facts and thumbnails; with threads to spare, the compression
    and the write run beside the quality facts and thumbnails instead of before them."""
    if threads <= 1:
        stored = _write(group, volume_id, normalized, spec, layout)
        return stored, _quality_facts(normalized), thumbnails(normalized.array, normalized.grid.spacing)
    with ThreadPoolExecutor(max_workers=1) as pool:
        writing = pool.submit(_write, group, volume_id, normalized, spec, layout)
        quality, pictures = _quality_facts(normalized), thumbnails(normalized.array, normalized.grid.spacing)
        return writing.result(), quality, pictures


def _labels(item: InputItem, volume: Volume, normalized: Normalized) -> np.ndarray | None:
    """The item's label map on the stored grid (None without one); read errors name the label file."""
    if item.labels is None:
        return None
    try:
        label_volume = read_volume(item.labels)
    except CorpusError as error:
        raise InputError(f"Label map {item.labels.name}: {one_line(error)}", Reason.BAD_LABELS) from error
    return labels_on_grid(label_volume, volume, normalized.grid)


def _label_facts(labels: np.ndarray) -> dict[str, Any]:
    values, counts = label_counts(labels)
    return {"has_labels": True, "label_set": values, "label_voxels": counts}


def _write(
    group: zarr.Group, volume_id: str, normalized: Normalized, spec: BuildSpec, layout: StorageLayout
) -> StoredArray:
    try:
        return write_volume(group, volume_id, normalized.array, normalized.grid, spec, layout)
    except OSError as error:
        _discard(group, volume_id)
        raise InputError(f"Writing the array failed: {error}", Reason.WRITE_FAILED) from error


def _discard(group: zarr.Group, volume_id: str) -> None:
    try:
        del group[volume_id]
    except (KeyError, OSError):
        log.warning("could not remove the partial array %s", volume_id)


def base_row(item: InputItem, spec: BuildSpec) -> dict[str, Any]:
    return new_row(
        volume_id=item.volume_id,
        source=item.source,
        split=item.split,
        status=STATUS_FAILED,
        reason="",
        message="",
        input_path=item.relpath,
        input_bytes=file_size(item),
        spec_hash=spec.hash(),
        has_labels=False,
    )


def _input_facts(volume: Volume) -> dict[str, Any]:
    return {
        "input_format": volume.input_format,
        "input_bytes": volume.input_bytes,
        "message": volume.note,
        "modality": volume.modality,
        "shape_in": list(volume.shape),
        "spacing_in": [round(s, 6) for s in volume.spacing],
    }


def _quality_facts(normalized: Normalized) -> dict[str, Any]:
    percentiles = hu_percentiles(normalized.array)
    p01, p50, p99 = percentiles
    facts = assess(normalized.array, normalized.grid.spacing, percentiles).as_row()
    fingerprint = content_fingerprint(normalized.array, normalized.grid.spacing)
    return {**facts, **fingerprint, "hu_p01": p01, "hu_p50": p50, "hu_p99": p99}


def _stored_facts(shard: str, stored: StoredArray, normalized: Normalized) -> dict[str, Any]:
    return {
        "status": STATUS_OK,
        "shard": shard,
        "array": stored.path,
        "shape": list(normalized.grid.shape),
        "spacing": list(normalized.grid.spacing),
        "origin": list(normalized.grid.origin),
        "stored_bytes": stored.stored_bytes,
        "checksum": stored.checksum,
    }


def file_size(item: InputItem) -> int:
    try:
        return sum(path.stat().st_size for path in item.files)
    except OSError:
        return 0
