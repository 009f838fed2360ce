"""The manifest contract: one definition of the columns, used by the schema, the rows and the quality facts."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.preprocess.qc import QC_COLUMNS, QualityFacts
from corpus.store.layout import MANIFEST, part_file
from corpus.store.location import Location
from corpus.store.manifest import COLUMNS, QC_FLAGS, SCHEMA, new_row, read_manifest, stored, write_part
from corpus.store.thumbnails import VIEWS, write_thumbnails


def test_the_schema_is_the_column_definitions_in_order():
    assert SCHEMA.names == [column.name for column in COLUMNS]
    assert [SCHEMA.field(column.name).type for column in COLUMNS] == [column.type for column in COLUMNS]
    assert all(column.doc for column in COLUMNS)


def test_quality_facts_fill_exactly_their_declared_columns():
    assert [field.name for field in fields(QualityFacts)] == [column.name for column in QC_COLUMNS]
    assert set(QC_FLAGS) == {"suspect_non_ct", "suspect_orientation"}


def test_a_row_names_only_declared_columns(tmp_path):
    row = new_row(volume_id="a-b", status="ok")
    assert list(row) == SCHEMA.names and row["shard"] is None
    with pytest.raises(ValueError, match="no columns \\['shard_name'\\]"):
        new_row(shard_name="shard-00000")
    with pytest.raises(ValueError, match="no columns"):
        write_part(Location(str(tmp_path)), 0, [{**row, "typo": 1}])


def test_stored_rows_are_the_ok_rows_in_order(tmp_path):
    location = Location(str(tmp_path))
    statuses = ["ok", "failed", "ok", "skipped"]
    write_part(
        location,
        0,
        [new_row(volume_id=f"v{i}", source="s", input_path=f"{i}", status=s) for i, s in enumerate(statuses)],
    )
    assert stored(read_manifest(location)).column("volume_id").to_pylist() == ["v0", "v2"]


def test_an_older_part_gets_the_columns_it_lacks_as_nulls(tmp_path):
    """A part written before a column existed reads with that column null, in the schema's order."""
    older = pa.table({"volume_id": ["a-b"], "status": ["ok"], "source": ["a"], "input_path": ["b"]})
    sink = io.BytesIO()
    pq.write_table(older, sink)
    location = Location(str(tmp_path))
    location.write_atomic(sink.getvalue(), MANIFEST, part_file(0))
    table = read_manifest(location)
    assert table.schema == SCHEMA
    assert table.to_pylist() == [new_row(volume_id="a-b", status="ok", source="a", input_path="b")]


READS_ON_ONE_THREAD = """
import os, sys
from corpus.filters import apply_filters
from corpus.store.location import Location
from corpus.store.manifest import read_manifest
from corpus.store.thumbnails import read_thumbnails

def threads():  # but jemalloc's background thread, which Arrow's allocator starts by itself
    names = [open(f"/proc/self/task/{task}/comm").read().strip() for task in os.listdir("/proc/self/task")]
    return len([name for name in names if name != "jemalloc_bg_thd"])

location = Location(sys.argv[1])
before = threads()
apply_filters(read_manifest(location), ["status == 'ok'"])
read_thumbnails(location, ["v0"])
print(before, threads())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)")
def test_reading_a_corpus_starts_no_arrow_thread_pool(tmp_path):
    """Arrow's thread pools, once started, can abort the interpreter at exit (a finished build exited -6):
    manifest, thumbnails and filters are read on the calling thread."""
    location = Location(str(tmp_path))
    write_part(location, 0, [new_row(volume_id=f"v{i}", source="s", input_path=f"{i}", status="ok") for i in range(3)])
    write_thumbnails(location, 0, [{"volume_id": "v0", **dict.fromkeys(VIEWS, b"png")}])
    counts = subprocess.run(
        [sys.executable, "-c", READS_ON_ONE_THREAD, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert counts[0] == counts[1]
