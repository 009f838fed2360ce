"""The Parquet manifest: one row per input (stored, skipped or failed).

Each shard's rows go to ``manifest/part-NNNNN.parquet``, written once and
atomically after the shard's arrays are complete, so the manifest never lists
an array that is not whole. Columns are DESIGN.md's required ones plus extras.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.store.layout import MANIFEST, is_part_file, part_file
from corpus.store.location import Location

STATUS_OK, STATUS_SKIPPED, STATUS_FAILED = "ok", "skipped", "failed"


def _vector(kind: pa.DataType, size: int) -> pa.DataType:
    return pa.list_(kind, size)


SCHEMA = pa.schema(
    [
        ("volume_id", pa.string()),
        ("source", pa.string()),
        ("split", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("shard", pa.string()),
        ("array", pa.string()),
        ("shape", _vector(pa.int32(), 3)),
        ("spacing", _vector(pa.float64(), 3)),
        ("origin", _vector(pa.float64(), 3)),
        ("input_path", pa.string()),
        ("input_format", pa.string()),
        ("input_bytes", pa.int64()),
        ("modality", pa.string()),
        ("shape_in", _vector(pa.int32(), 3)),
        ("spacing_in", _vector(pa.float64(), 3)),
        ("hu_p01", pa.float64()),
        ("hu_p50", pa.float64()),
        ("hu_p99", pa.float64()),
        ("body_bbox", _vector(pa.int32(), 6)),
        ("body_fraction", pa.float64()),
        ("z_coverage_mm", pa.float64()),
        ("suspect_non_ct", pa.bool_()),
        ("suspect_orientation", pa.bool_()),
        ("stored_bytes", pa.int64()),
        ("checksum", pa.string()),
        ("spec_hash", pa.string()),
        ("subject_key", pa.string()),
        ("series_key", pa.string()),
        ("seconds", pa.float64()),
    ]
)


def write_part(location: Location, index: int, rows: list[dict[str, Any]]) -> None:
    """Write the rows of shard ``index`` as one Parquet file, atomically."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    location.write_atomic(sink.getvalue(), MANIFEST, part_file(index))


def read_manifest(location: Location) -> pa.Table:
    """All committed rows; when an input (source, input_path) appears in several parts the newest wins."""
    names = [name for name in location.list_names(MANIFEST) if is_part_file(name)]
    tables = [pq.read_table(io.BytesIO(location.read_bytes(MANIFEST, name)), schema=SCHEMA) for name in names]
    if not tables:
        return SCHEMA.empty_table()
    return _latest_per_input(pa.concat_tables(tables))


def _latest_per_input(table: pa.Table) -> pa.Table:
    inputs = zip(table.column("source").to_pylist(), table.column("input_path").to_pylist(), strict=True)
    last = {key: row for row, key in enumerate(inputs)}
    if len(last) == table.num_rows:
        return table
    return table.take(pa.array(sorted(last.values())))
