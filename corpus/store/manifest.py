"""The Parquet manifest: one row per input (stored, skipped or failed), and its columns, defined once.

Each shard's rows go to ``manifest/part-NNNNN.parquet``, written once and
atomically after the shard's arrays are complete, so the manifest never lists
an array that is not whole. ``COLUMNS`` (DESIGN.md's required columns plus
extras) is the one definition the Parquet schema, the rows the build
assembles (:func:`new_row`), the quality facts and every reader take names and
types from; the quality columns are declared where they are computed
(corpus.preprocess.qc).
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.acquisition import ACQUISITION_COLUMNS
from corpus.preprocess.fingerprint import FINGERPRINT_COLUMNS
from corpus.preprocess.qc import QC_COLUMNS
from corpus.store.columns import Column, vector
from corpus.store.layout import MANIFEST, is_part_file, part_file
from corpus.store.location import Location

STATUS_OK, STATUS_SKIPPED, STATUS_FAILED = "ok", "skipped", "failed"

COLUMNS: tuple[Column, ...] = (
    Column("volume_id", pa.string(), "<source>-<path slug>: stable across rebuilds, a zarr group name"),
    Column("source", pa.string(), "the collection the input belongs to"),
    Column("split", pa.string(), "train, val, test... as the source's recipe says"),
    Column("status", pa.string(), f"{STATUS_OK} | {STATUS_SKIPPED} | {STATUS_FAILED}"),
    Column("reason", pa.string(), "a corpus.errors.Reason code; empty when stored"),
    Column("message", pa.string(), "one line: what went wrong, or a note on a stored volume"),
    Column("shard", pa.string(), "the shard holding the array (shard-NNNNN)"),
    Column("array", pa.string(), "the array's path inside the shard (<volume_id>/0)"),
    Column("shape", vector(pa.int32(), 3), "stored voxels (x, y, z)"),
    Column("spacing", vector(pa.float64(), 3), "stored spacing, mm"),
    Column("origin", vector(pa.float64(), 3), "RAS mm of voxel (0, 0, 0)"),
    Column("input_path", pa.string(), "relative to the source root; DICOM: folder[#series label]"),
    Column("input_format", pa.string(), "nifti, metaimage or dicom"),
    Column("input_bytes", pa.int64(), "bytes of every file read"),
    Column("modality", pa.string(), "DICOM Modality; CT for image files"),
    Column("shape_in", vector(pa.int32(), 3), "input voxels"),
    Column("spacing_in", vector(pa.float64(), 3), "input spacing, mm (the median gap of uneven stacks)"),
    *ACQUISITION_COLUMNS,
    Column("hu_p01", pa.float64(), "1st percentile of the stored HU"),
    Column("hu_p50", pa.float64(), "median stored HU"),
    Column("hu_p99", pa.float64(), "99th percentile of the stored HU"),
    *QC_COLUMNS,
    Column("stored_bytes", pa.int64(), "compressed bytes of the array"),
    Column("checksum", pa.string(), "blake2b of the voxel values"),
    *FINGERPRINT_COLUMNS,
    Column("spec_hash", pa.string(), "hash of the BuildSpec the volume was built with"),
    Column("subject_key", pa.string(), "salted hash of the patient (DICOM), never the identifier"),
    Column("series_key", pa.string(), "salted hash of the series (or of the file)"),
    Column("seconds", pa.float64(), "time spent on the input"),
    Column("has_labels", pa.bool_(), "a label map is stored beside the image (<volume_id>/labels/0)"),
    Column("label_set", pa.list_(pa.int32()), "label values present in the stored label map, background 0 excluded"),
    Column("label_voxels", pa.list_(pa.int64()), "stored voxels of each label in label_set, in its order"),
)
SCHEMA = pa.schema([(column.name, column.type) for column in COLUMNS])
QC_FLAGS = tuple(column.name for column in COLUMNS if column.flag)
_NAMES = frozenset(SCHEMA.names)


def new_row(**values: Any) -> dict[str, Any]:
    """A row with every column (None where not given)."""
    row = dict.fromkeys(SCHEMA.names)
    row.update(values)
    check_columns(row)
    return row


def check_columns(row: dict[str, Any]) -> None:
    unknown = set(row) - _NAMES
    if unknown:
        raise ValueError(f"Manifest rows have no columns {sorted(unknown)}; declare them in COLUMNS or drop them")


def stored(table: pa.Table) -> pa.Table:
    """The rows of stored volumes (status ok), in manifest order."""
    return table.filter(pc.equal(table.column("status"), STATUS_OK))


def write_part(location: Location, index: int, rows: list[dict[str, Any]]) -> None:
    """Write the rows of shard ``index`` as one Parquet file, atomically."""
    for row in rows:
        check_columns(row)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    location.write_atomic(sink.getvalue(), MANIFEST, part_file(index))


def read_part(data: bytes, schema: pa.Schema | None = None) -> pa.Table:
    """One Parquet part; with ``schema``, its columns in that order (a column older parts lack is null).

    Read from an Arrow buffer on this thread: pyarrow's dataset reader (pq.read_table) starts Arrow's thread
    pools even with use_threads=False, and a pool once started can abort the interpreter at exit
    (std::terminate on a joinable worker; apache/arrow#39862, #34314): a finished build on a dask cluster
    exited -6 (SIGABRT) instead of 3. Parts are small; one thread costs little.
    """
    table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    if schema is None:
        return table
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def read_manifest(location: Location) -> pa.Table:
    """All committed rows; when an input (source, input_path) appears in several parts the newest wins."""
    names = [name for name in location.list_names(MANIFEST) if is_part_file(name)]
    tables = [read_part(location.read_bytes(MANIFEST, name), SCHEMA) for name in names]
    if not tables:
        return SCHEMA.empty_table()
    return _latest_per_input(pa.concat_tables(tables))


def _latest_per_input(table: pa.Table) -> pa.Table:
    inputs = zip(table.column("source").to_pylist(), table.column("input_path").to_pylist(), strict=True)
    last = {key: row for row, key in enumerate(inputs)}
    if len(last) == table.num_rows:
        return table
    return table.take(pa.array(sorted(last.values())))
