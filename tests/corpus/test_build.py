"""`corpus build` end to end: rows for every input, exit statuses, reading back, resume."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import corpus
from corpus.readers.metaimage import write_metaimage
from tests.corpus.conftest import run, small_phantom

REQUIRED_COLUMNS = [
    *[
        "volume_id",
        "source",
        "split",
        "status",
        "reason",
        "message",
        "shard",
        "array",
        "shape",
        "spacing",
        "origin",
        "input_path",
    ],
    *["input_format", "modality", "shape_in", "spacing_in", "hu_p01", "hu_p50", "hu_p99", "body_bbox", "body_fraction"],
    *["stored_bytes", "checksum", "spec_hash", "subject_key", "series_key"],
]


def test_bad_inputs_become_failed_rows_and_the_build_goes_on(inputs, tmp_path):
    out = tmp_path / "corpus"
    code, output = run("build", str(inputs), "--out", str(out))
    assert code == 3, output
    assert "Traceback" not in output
    rows = {row["input_path"]: row for row in corpus.open(str(out)).manifest.to_pylist()}
    assert set(rows) == {"good.nii.gz", "sub/good2.mhd", "empty.nii.gz", "truncated.nii.gz", "notes.nii"}
    assert rows["good.nii.gz"]["status"] == "ok"
    assert rows["sub/good2.mhd"]["status"] == "ok"
    assert rows["empty.nii.gz"]["reason"] == "empty_file"
    assert rows["truncated.nii.gz"]["reason"] == "truncated"
    assert rows["notes.nii"]["reason"] == "unreadable"
    for row in rows.values():
        if row["status"] == "failed":
            assert row["message"] and "\n" not in row["message"]
            assert row["array"] is None
    assert "2 stored" in output and "3 failed (" in output and "truncated 1" in output


def test_manifest_has_the_design_columns_and_stored_rows_fill_them(inputs, tmp_path):
    out = tmp_path / "corpus"
    run("build", str(inputs / "good.nii.gz"), "--out", str(out))
    parts = sorted((out / "manifest").glob("part-*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet"]
    table = pq.read_table(parts[0])
    assert set(REQUIRED_COLUMNS) <= set(table.column_names)
    row = table.to_pylist()[0]
    assert row["volume_id"] == "scans-good"
    assert row["shape_in"] == [60, 50, 20]
    assert row["spacing_in"] == pytest.approx([2.0, 2.0, 3.0])
    assert row["spacing"] == [1.5, 1.5, 1.5]
    assert row["shape"] == [80, 66, 39]  # as MONAI: round((n - 1) * spacing / 1.5 + 1)
    assert row["hu_p01"] <= row["hu_p50"] <= row["hu_p99"]
    assert row["stored_bytes"] > 0 and row["checksum"].startswith("blake2b:")
    assert row["spec_hash"] == json.loads((out / "corpus.json").read_text())["spec_hash"]


def test_regions_read_back_with_air_outside(inputs, tmp_path):
    out = tmp_path / "corpus"
    run("build", str(inputs / "good.nii.gz"), "--out", str(out))
    opened = corpus.open(str(out))
    whole = opened.read("scans-good")
    assert whole.shape == (80, 66, 39) and whole.dtype == np.int16
    region = opened.read("scans-good", ((10, 30), (-5, 15), (30, 50)))
    assert region.shape == (20, 20, 20)
    np.testing.assert_array_equal(region[:, 5:, :9], whole[10:30, 0:15, 30:39])
    assert np.all(region[:, :5, :] == -1024) and np.all(region[:, :, 9:] == -1024)
    with pytest.raises(corpus.CorpusError, match="start <= stop"):
        opened.read("scans-good", ((5, 1), (0, 1), (0, 1)))
    with pytest.raises(corpus.CorpusError, match="No stored volume"):
        opened.read("nope")


def test_ngff_metadata_places_the_volume_in_mm(inputs, tmp_path):
    out = tmp_path / "corpus"
    run("build", str(inputs / "good.nii.gz"), "--out", str(out))
    group = json.loads((out / "shards" / "shard-00000.zarr" / "scans-good" / "zarr.json").read_text())
    multiscale = group["attributes"]["ome"]["multiscales"][0]
    assert [axis["unit"] for axis in multiscale["axes"]] == ["millimeter"] * 3
    transforms = multiscale["datasets"][0]["coordinateTransformations"]
    origin = corpus.open(str(out)).array("scans-good").attrs["origin"]
    assert transforms == [{"type": "scale", "scale": [1.5] * 3}, {"type": "translation", "translation": origin}]


def test_rebuild_skips_what_is_stored_and_retries_failures(inputs, tmp_path):
    out = tmp_path / "corpus"
    run("build", str(inputs), "--out", str(out))
    shard_files = sorted(p for p in (out / "shards").rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in shard_files}
    (inputs / "empty.nii.gz").write_bytes((inputs / "good.nii.gz").read_bytes())  # the user fixes one input
    code, output = run("build", str(inputs), "--out", str(out))
    assert code == 3  # truncated and notes still fail
    assert "2 already built" in output and "1 stored" in output
    assert {p: p.stat().st_mtime_ns for p in shard_files} == before  # old shards never rewritten
    rows = corpus.open(str(out)).manifest.to_pylist()
    assert len(rows) == 5 and len({row["volume_id"] for row in rows}) == 5
    assert next(r for r in rows if r["input_path"] == "empty.nii.gz")["status"] == "ok"


def test_spec_mismatch_is_refused(inputs, tmp_path):
    out = tmp_path / "corpus"
    run("build", str(inputs / "good.nii.gz"), "--out", str(out))
    code, output = run("build", str(inputs / "good.nii.gz"), "--out", str(out), "--spacing", "1.0")
    assert code == 1
    assert "another spec" in output and "spacing" in output


def test_dry_run_writes_nothing(inputs, tmp_path):
    out = tmp_path / "corpus"
    code, output = run("build", str(inputs), "--out", str(out), "--dry-run")
    assert code == 0
    assert "5 inputs to build" in output
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spacing", "0,1,1"], "Spacing must be"),
        (["--clip", "5"], "Clip must be"),
        (["--source", "noequals"], "NAME=ROOT"),
    ],
)
def test_usage_errors_exit_2(inputs, tmp_path, args, message):
    code, output = run("build", str(inputs), "--out", str(tmp_path / "c"), *args)
    assert code == 2
    assert message in output


def test_missing_input_is_a_usage_error(tmp_path):
    code, output = run("build", str(tmp_path / "nothing"), "--out", str(tmp_path / "c"))
    assert code == 2 and "does not exist" in output


def test_named_source_and_custom_spacing(inputs, tmp_path):
    out = tmp_path / "corpus"
    code, _ = run("build", "--source", f"mine={inputs / 'sub'}", "--out", str(out), "--spacing", "1.25,1.25,5")
    assert code == 0
    row = corpus.open(str(out)).manifest.to_pylist()[0]
    assert row["volume_id"] == "mine-good2" and row["source"] == "mine"
    assert row["spacing"] == [1.25, 1.25, 5.0]


def test_same_volume_id_twice_is_skipped_not_overwritten(inputs, tmp_path):
    """good.nii.gz and good.mha would both be volume scans-good: the second is skipped with a reason."""
    write_metaimage(inputs / "good.mha", *small_phantom(seed=7))
    code, _ = run("build", str(inputs / "good.nii.gz"), str(inputs / "good.mha"), "--out", str(tmp_path / "c"))
    assert code == 0
    rows = corpus.open(str(tmp_path / "c")).manifest.to_pylist()
    assert sorted((row["input_path"], row["status"], row["reason"]) for row in rows) == [
        ("good.mha", "skipped", "duplicate_input"),
        ("good.nii.gz", "ok", ""),
    ]


def test_two_folders_with_one_name_must_be_told_apart(inputs, tmp_path):
    other = tmp_path / "elsewhere" / "scans"
    other.mkdir(parents=True)
    code, output = run("build", str(inputs), str(other), "--out", str(tmp_path / "c"))
    assert code == 2
    assert "--source" in output


def test_shards_roll_over(inputs, tmp_path):
    from corpus.build import build_corpus
    from corpus.sources import discover
    from corpus.spec import BuildSpec

    items = discover([inputs / "good.nii.gz", inputs / "sub"], [])
    build_corpus(items, str(tmp_path / "c"), BuildSpec(), volumes_per_shard=1, progress=False)
    opened = corpus.open(str(tmp_path / "c"))
    assert sorted(opened.manifest.column("shard").to_pylist()) == ["shard-00000", "shard-00001"]
    assert all(opened.read(v).size for v in opened.volume_ids)


def test_a_volume_id_stored_by_an_earlier_build_is_not_taken_twice(inputs, tmp_path):
    out = str(tmp_path / "c")
    run("build", str(inputs / "good.nii.gz"), "--out", out)
    write_metaimage(inputs / "good.mha", *small_phantom(seed=7))
    code, output = run("build", str(inputs / "good.mha"), "--out", out)
    assert code == 0
    assert "already belongs to 'good.nii.gz'" in output
    opened = corpus.open(out)
    assert opened.volume_ids == ["scans-good"]
    row = next(r for r in opened.manifest.to_pylist() if r["status"] == "ok")
    assert row["input_path"] == "good.nii.gz"
