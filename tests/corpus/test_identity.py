"""Series identity across formats: a DICOM series and the same series as a UID-named file share one key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import corpus
from corpus.build import build_corpus
from corpus.identity import uid_in_name
from corpus.phantom_dicom import SeriesSpec, write_series
from corpus.readers.metaimage import write_metaimage
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.conftest import save_nifti
from tests.corpus.conftest import small_phantom

LUNA_UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001.100225287222365663678666836860"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{LUNA_UID}.mhd", LUNA_UID),
        (f"{LUNA_UID}.nii.gz", LUNA_UID),
        ("1.2.840.113619.2.55.3.nii", "1.2.840.113619.2.55.3"),
        ("case_001.nii.gz", ""),
        ("1.5.nii.gz", ""),  # a version-like name, not a UID
        ("1.02.3.4.mha", ""),  # leading zero: not a UID component
        ("1." + "2." * 40 + "3.mhd", ""),  # longer than 64 characters
        ("CT.1.2.3.4.5", ""),
    ],
)
def test_a_file_named_by_a_dicom_uid_gives_that_uid(name, expected):
    assert uid_in_name(Path("subset3") / name) == expected


def test_one_series_as_dicom_as_uid_named_metaimage_and_with_a_sidecar_has_one_key(tmp_path):
    positions = [(-40.0, -40.0, 2.5 * k) for k in range(6)]
    files = write_series(tmp_path / "a" / "series", SeriesSpec(32, 32, (2.5, 2.5), (1, 0, 0), (0, 1, 0), positions))
    uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    array, affine = small_phantom()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    write_metaimage(tmp_path / "b" / f"{uid}.mhd", array, affine)
    save_nifti(tmp_path / "c" / "renamed.nii.gz", array, affine)
    (tmp_path / "c" / "renamed.json").write_text(json.dumps({"SeriesInstanceUID": uid, "PatientID": "x"}))
    save_nifti(tmp_path / "c" / "other.nii.gz", array, affine)
    items = discover([], [(name, tmp_path / name) for name in "abc"])
    build_corpus(items, str(tmp_path / "corpus"), BuildSpec(spacing=(3.0, 3.0, 3.0)), progress=False)
    rows = corpus.open(str(tmp_path / "corpus")).manifest.to_pylist()
    keys = {row["input_path"]: row["series_key"] for row in rows}
    assert keys["series"] == keys[f"{uid}.mhd"] == keys["renamed.nii.gz"]
    assert keys["other.nii.gz"] != keys["series"] and uid not in "".join(keys.values())
    assert np.unique(list(keys.values())).size == 2
