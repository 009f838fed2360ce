"""Build a corpus: plan the inputs, ingest each into a shard, commit the manifest.

Work unit = one input file. Every input ends as exactly one manifest row:
``ok`` (stored), ``skipped`` (deliberately not stored) or ``failed`` (with a
reason code and a one-line message); a bad input never stops the build.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import zarr
from tqdm import tqdm

from corpus.errors import SKIP_REASONS, CorpusError, InputError, Reason, one_line
from corpus.preprocess import Normalized, normalize
from corpus.preprocess.intensity import hu_percentiles
from corpus.preprocess.qc import assess
from corpus.privacy import resolve_salt, salted_key
from corpus.readers import read_volume
from corpus.readers.dicom import read_dicom_series
from corpus.readers.volume import Volume
from corpus.sources import InputItem
from corpus.spec import BuildSpec
from corpus.store.arrays import StoredArray, write_volume
from corpus.store.layout import LOGS, MANIFEST, SHARDS, shard_folder, shard_index, shard_name
from corpus.store.location import Location
from corpus.store.manifest import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, read_manifest, write_part
from corpus.store.meta import ensure_meta
from corpus.store.thumbnails import thumbnails, write_thumbnails

VOLUMES_PER_SHARD = 32
EXIT_OK, EXIT_FATAL, EXIT_SOME_FAILED = 0, 1, 3
log = logging.getLogger("corpus.build")


@dataclass
class BuildPlan:
    """What a build will do: inputs to ingest, and inputs an earlier build already holds."""

    todo: list[InputItem]
    done: list[InputItem]
    stored_ids: dict[str, str] = field(default_factory=dict)  # volume id -> input path of its stored row

    def per_source(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for label, items in (("to_build", self.todo), ("already_built", self.done)):
            for item in items:
                counts = table.setdefault(item.source, {"to_build": 0, "already_built": 0, "input_bytes": 0})
                counts[label] += 1
                counts["input_bytes"] += _file_size(item) if label == "to_build" else 0
        return table


@dataclass
class BuildReport:
    """The rows this build committed, and how it went."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    already_built: int = 0
    seconds: float = 0.0
    log_path: str | None = None

    def counts(self) -> Counter[str]:
        return Counter(row["status"] for row in self.rows)

    def failure_reasons(self) -> Counter[str]:
        return Counter(row["reason"] for row in self.rows if row["status"] == STATUS_FAILED)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.counts()[STATUS_FAILED] else EXIT_OK


def plan_build(items: list[InputItem], out: str) -> BuildPlan:
    """Split inputs into new ones and ones an earlier build stored or skipped (failed ones are retried)."""
    location = Location(out)
    manifest = read_manifest(location)
    finished = manifest.filter(pc.is_in(manifest.column("status"), value_set=pa.array([STATUS_OK, STATUS_SKIPPED])))
    known = set(zip(finished.column("source").to_pylist(), finished.column("input_path").to_pylist(), strict=True))
    stored = manifest.filter(pc.equal(manifest.column("status"), STATUS_OK))
    ids = zip(stored.column("volume_id").to_pylist(), stored.column("input_path").to_pylist(), strict=True)
    return BuildPlan(
        todo=[item for item in items if (item.source, item.relpath) not in known],
        done=[item for item in items if (item.source, item.relpath) in known],
        stored_ids=dict(ids),
    )


def build_corpus(
    items: list[InputItem],
    out: str,
    spec: BuildSpec,
    volumes_per_shard: int = VOLUMES_PER_SHARD,
    progress: bool = True,
) -> BuildReport:
    """Ingest ``items`` into the corpus at ``out`` (created if new; spec must match if not)."""
    started = time.perf_counter()
    location = Location(out)
    salt = resolve_salt(ensure_meta(location, spec))
    plan = plan_build(items, out)
    report = BuildReport(already_built=len(plan.done))
    with _build_log(location) as log_path:
        report.log_path = log_path
        writer = _ShardWriter(location, spec, salt, volumes_per_shard)
        taken = dict(plan.stored_ids)  # volume id -> input path that holds it
        for item in tqdm(plan.todo, desc="build", unit="vol", disable=not progress or None):
            holder = taken.setdefault(item.volume_id, item.relpath)
            done = writer.ingest(item) if holder == item.relpath else Ingested(_duplicate_row(item, holder, spec))
            writer.add(done)
            report.rows.append(done.row)
        writer.close()
    report.seconds = time.perf_counter() - started
    return report


class _ShardWriter:
    """Fills shards one after another; commits a shard's manifest part once it is full."""

    def __init__(self, location: Location, spec: BuildSpec, salt: str, capacity: int) -> None:
        self.location, self.spec, self.salt, self.capacity = location, spec, salt, capacity
        self.index = _next_shard_index(location)
        self.rows: list[dict[str, Any]] = []
        self.thumbnails: list[dict[str, Any]] = []
        self._group: zarr.Group | None = None

    def ingest(self, item: InputItem) -> Ingested:
        return ingest_input(item, self.spec, self.salt, self._shard)

    def add(self, done: Ingested) -> None:
        """Queue a row (and thumbnails) for the current shard; commit once the shard is full."""
        self.rows.append(done.row)
        if done.thumbnails is not None:
            self.thumbnails.append({"volume_id": done.row["volume_id"], **done.thumbnails})
        if len(self.thumbnails) >= self.capacity:
            self.close()

    def _shard(self) -> tuple[str, zarr.Group]:
        if self._group is None:
            store = self.location.zarr_store(SHARDS, shard_folder(self.index))
            self._group = zarr.open_group(store, mode="a")
        return shard_name(self.index), self._group

    def close(self) -> None:
        """Commit the current shard's rows (if any) and move on to a fresh shard."""
        if self.rows:
            write_thumbnails(self.location, self.index, self.thumbnails)
            write_part(self.location, self.index, self.rows)  # last: the manifest part commits the shard
            log.info("committed %s: %d rows", shard_name(self.index), len(self.rows))
            self.index += 1
        self.rows, self.thumbnails, self._group = [], [], None


@dataclass
class Ingested:
    """One input's manifest row, and the thumbnails of its stored volume (None if not stored)."""

    row: dict[str, Any]
    thumbnails: dict[str, bytes] | None = None


def ingest_input(
    item: InputItem, spec: BuildSpec, salt: str, open_shard: Callable[[], tuple[str, zarr.Group]]
) -> Ingested:
    """Read, normalize and store one input; always return its manifest row."""
    started = time.perf_counter()
    row = _base_row(item, spec)
    row.update(input_keys(item, salt))
    done = Ingested(row)
    try:
        volume = _read(item, spec)
        row.update(_input_facts(volume))
        normalized = normalize(volume, spec)
        del volume  # the input array can be large: free it before writing
        shard, group = open_shard()
        stored = _write(group, item.volume_id, normalized, spec)
        row.update(_stored_facts(shard, stored, normalized))
        done.thumbnails = thumbnails(normalized.array, normalized.grid.spacing)
    except CorpusError as error:
        status = STATUS_SKIPPED if error.reason in SKIP_REASONS else STATUS_FAILED
        row.update(status=status, reason=error.reason.value, message=one_line(error))
        log.warning("%s: %s: %s", item.relpath, error.reason.value, one_line(error))
    except Exception as error:  # noqa: BLE001 - any bug in one input must not stop the build
        row.update(status=STATUS_FAILED, reason=Reason.INTERNAL_ERROR.value, message=one_line(error))
        log.error("%s: unexpected error\n%s", item.relpath, traceback.format_exc())
    row["seconds"] = time.perf_counter() - started
    return done


def _read(item: InputItem, spec: BuildSpec) -> Volume:
    if item.skip is not None:
        raise InputError(item.skip[1], item.skip[0])
    if item.slices:
        return read_dicom_series(item.slices, spec.max_gap_mm)
    return read_volume(item.path)


def input_keys(item: InputItem, salt: str) -> dict[str, str | None]:
    """Salted subject and series keys: stable for grouping, useless for identifying."""
    if not item.slices:
        return {"subject_key": None, "series_key": salted_key(salt, "file", item.source, item.relpath)}
    first = item.slices[0]
    series = (first.study_uid, first.series_uid) if first.series_uid else (item.source, item.relpath)
    return {
        "subject_key": salted_key(salt, "patient", first.patient_id) if first.patient_id else None,
        "series_key": salted_key(salt, "series", *series, first.frame_of_reference),
    }


def _write(group: zarr.Group, volume_id: str, normalized: Normalized, spec: BuildSpec) -> StoredArray:
    try:
        return write_volume(group, volume_id, normalized.array, normalized.grid, spec)
    except OSError as error:
        _discard(group, volume_id)
        raise InputError(f"Writing the array failed: {error}", Reason.WRITE_FAILED) from error


def _discard(group: zarr.Group, volume_id: str) -> None:
    try:
        del group[volume_id]
    except (KeyError, OSError):
        log.warning("could not remove the partial array %s", volume_id)


def _base_row(item: InputItem, spec: BuildSpec) -> dict[str, Any]:
    return {
        "volume_id": item.volume_id,
        "source": item.source,
        "split": item.split,
        "status": STATUS_FAILED,
        "reason": "",
        "message": "",
        "input_path": item.relpath,
        "input_bytes": _file_size(item),
        "spec_hash": spec.hash(),
    }


def _input_facts(volume: Volume) -> dict[str, Any]:
    return {
        "input_format": volume.input_format,
        "input_bytes": volume.input_bytes,
        "message": volume.note,
        "modality": volume.modality,
        "shape_in": list(volume.shape),
        "spacing_in": [round(s, 6) for s in volume.spacing],
    }


def _stored_facts(shard: str, stored: StoredArray, normalized: Normalized) -> dict[str, Any]:
    percentiles = hu_percentiles(normalized.array)
    p01, p50, p99 = percentiles
    return {
        **assess(normalized.array, normalized.grid.spacing, percentiles).as_row(),
        "z_coverage_mm": normalized.grid.shape[2] * normalized.grid.spacing[2],
        "status": STATUS_OK,
        "shard": shard,
        "array": stored.path,
        "shape": list(normalized.grid.shape),
        "spacing": list(normalized.grid.spacing),
        "origin": list(normalized.grid.origin),
        "hu_p01": p01,
        "hu_p50": p50,
        "hu_p99": p99,
        "stored_bytes": stored.stored_bytes,
        "checksum": stored.checksum,
    }


def _duplicate_row(item: InputItem, holder: str, spec: BuildSpec) -> dict[str, Any]:
    row = _base_row(item, spec)
    message = f"Volume id {item.volume_id} already belongs to {holder!r}; rename one of them"
    row.update(status=STATUS_SKIPPED, reason=Reason.DUPLICATE_INPUT.value, message=message)
    return row


def _next_shard_index(location: Location) -> int:
    names = location.list_names(SHARDS) + location.list_names(MANIFEST)
    indices = [i for i in (shard_index(name) for name in names) if i is not None]
    return max(indices, default=-1) + 1


def _file_size(item: InputItem) -> int:
    try:
        return sum(path.stat().st_size for path in item.files)
    except OSError:
        return 0


@contextmanager
def _build_log(location: Location) -> Iterator[str | None]:
    """Full details (tracebacks included) go to OUT/logs/, never to the terminal."""
    if not location.is_local:
        yield None
        return
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = location.path(LOGS, f"build-{stamp}.log")
    location.fs.makedirs(location.path(LOGS), exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield path
    finally:
        log.removeHandler(handler)
        handler.close()
