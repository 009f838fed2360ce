"""The manifest contract: one definition of the columns, used by the schema, the rows and the quality facts."""

from __future__ import annotations

from dataclasses import fields

import pytest

from corpus.preprocess.qc import QC_COLUMNS, QualityFacts
from corpus.store.location import Location
from corpus.store.manifest import COLUMNS, QC_FLAGS, SCHEMA, new_row, read_manifest, stored, write_part


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
