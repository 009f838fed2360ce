"""`corpus stats`: numbers against an independent pyarrow count, real-data outcomes, stable JSON keys, HTML."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from PIL import Image

import corpus
from corpus.build import build_corpus
from corpus.cli import main
from corpus.demo import write_phantoms
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """The demo phantoms plus every real scan in ../shared/data/ct (when present)."""
    root = tmp_path_factory.mktemp("stats")
    write_phantoms(root / "phantoms")
    folders = [root / "phantoms"] + ([SHARED_DATA] if SHARED_DATA.is_dir() else [])
    build_corpus(discover(folders, []), str(root / "corpus"), BuildSpec(), progress=False)
    result = CliRunner().invoke(main, ["stats", str(root / "corpus"), "--json"])
    assert result.exit_code == 0, result.output
    return str(root / "corpus"), json.loads(result.output)


def test_counts_equal_an_independent_pyarrow_count(audited):
    url, report = audited
    table = corpus.open(url).manifest
    grouped = table.group_by(["source", "status"]).aggregate([("volume_id", "count")]).to_pylist()
    for row in grouped:
        assert report["sources"][row["source"]][row["status"]] == row["volume_id_count"]
    assert report["total"]["inputs"] == table.num_rows
    ok = table.filter(pc.equal(table.column("status"), "ok"))
    assert report["total"]["stored_bytes"] == pc.sum(ok.column("stored_bytes")).as_py()
    shapes = np.array(ok.column("shape").to_pylist())
    assert report["total"]["voxels"] == int(np.prod(shapes, axis=1).sum())
    failed = table.filter(pc.equal(table.column("status"), "failed")).column("reason").to_pylist()
    assert report["total"]["failure_reasons"] == {r: failed.count(r) for r in set(failed)}
    slices = np.array(ok.column("shape_in").to_pylist())[:, 2]
    assert report["total"]["slices_in"]["p50"] == pytest.approx(float(np.median(slices)))
    assert report["total"]["slices_in"]["max"] == slices.max()


def test_real_data_outcomes_show_up_in_the_audit(audited):
    _, report = audited
    if not SHARED_DATA.is_dir():
        pytest.skip("no ../shared/data")
    reasons = report["sources"]["ct"]
    assert reasons["failure_reasons"] == {"missing_slices": 1, "not_a_volume": 1}
    assert reasons["skip_reasons"] == {"localizer": 1, "secondary_capture": 1}
    groups = {tuple(group["volumes"]): group for group in report["qc"]["near_duplicates"]}
    # the two dicom2nifti ground-truth NIfTI files hold one volume twice
    truth = "ct-dicom2nifti_geometry_sliceincrement_002_ground_truth"
    twins = (truth, f"{truth}_reoriented")
    assert [link["rule"] for link in groups[twins]["evidence"]] == ["checksum"]
    # abdomen_3mm_small is abdomen_3mm_int32 cut to 30 slices: found by its content
    (cut,) = groups[("ct-totalsegmentator_abdomen_3mm_int32", "ct-totalsegmentator_abdomen_3mm_small")]["evidence"]
    assert cut["rule"] == "fingerprint" and cut["z_overlap_fraction"] > 0.9 and cut["z_scale"] == pytest.approx(1, 0.02)


def test_json_keys_are_stable(audited):
    _, report = audited
    assert set(report) == {"corpus", "total", "sources", "qc", "labels"}
    assert set(report["qc"]) == {
        "suspect_non_ct",
        "suspect_orientation",
        "short_z_coverage",
        "near_duplicates",
        "split_leaks",
    }
    assert set(report["total"]) >= {"inputs", "ok", "skipped", "failed", "failure_reasons", "spacing_in_mm", "hu"}
    assert set(report["total"]["acquisition"]) == {
        *("manufacturer", "model", "kvp", "kernel", "slice_thickness_mm", "contrast", "body_part", "acquisition_type")
    }
    for group in report["qc"]["near_duplicates"]:
        assert set(group) == {"volumes", "evidence"}
        assert all({"rule", "volumes"} <= set(link) for link in group["evidence"])


def test_acquisition_counts_equal_an_independent_pyarrow_count(audited):
    url, report = audited
    ok = corpus.open(url).stored()
    for name in ("manufacturer", "kernel", "contrast", "body_part", "acquisition_type"):
        counted = ok.group_by(name).aggregate([("volume_id", "count")]).to_pylist()
        expected = {row[name] if row[name] is not None else "unknown": row["volume_id_count"] for row in counted}
        assert report["total"]["acquisition"][name] == expected, name
    assert sum(report["total"]["acquisition"]["slice_thickness_mm"].values()) == ok.num_rows


def test_html_report_is_self_contained_and_its_images_decode(audited, tmp_path):
    url, report = audited
    result = CliRunner().invoke(main, ["stats", url, "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    stored = report["total"]["ok"]
    grouped = sum(len(group["volumes"]) for group in report["qc"]["near_duplicates"])
    assert len(sources) == 3 + 3 * stored + 3 * grouped  # three plots, three thumbnails per volume and group member
    for encoded in sources:
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        image.verify()
        assert min(image.size) >= 1


def test_audit_of_a_missing_corpus_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "not a corpus" in result.output
