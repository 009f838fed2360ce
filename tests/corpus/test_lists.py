"""List files: a line names a row by volume id, by path (either way round) or by a DICOM UID file name."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from corpus.errors import SpecError
from corpus.lists import listed, read_list

UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001.100225287222365663678666836860"
TABLE = pa.table(
    {
        "volume_id": ["btcv-img0001", "btcv-img0061", "luna16-x", "amos-amos_0001"],
        "input_path": ["imagesTr/img0001.nii.gz", "img0061.nii.gz", f"subset3/{UID}.mhd", "amos_0001.nii.gz"],
    }
)


def named(*entries: str) -> list[str]:
    return [v for v, hit in zip(TABLE.column("volume_id").to_pylist(), listed(TABLE, entries), strict=True) if hit]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("btcv-img0001", ["btcv-img0001"]),  # a volume id
        ("imagesTr/img0001.nii.gz", ["btcv-img0001"]),  # the input path
        ("img0001.nii.gz", ["btcv-img0001"]),  # its last components
        ("RawData/Testing/img0061.nii.gz", ["btcv-img0061"]),  # folders above the source root
        (f"subset_0/{UID}.nii.gz", ["luna16-x"]),  # the same UID in another folder and format
        ("img0002.nii.gz", []),
        ("Tr/img0001.nii.gz", []),  # a partial folder name is not a folder
    ],
)
def test_a_line_names_rows_by_id_path_or_uid(entry, expected):
    assert named(entry) == expected


def test_list_files_skip_blanks_and_comments(tmp_path):
    (tmp_path / "test.txt").write_text("# BTCV test\n\nimg0061.nii.gz  \n")
    assert read_list(tmp_path / "test.txt") == ["img0061.nii.gz"]
    with pytest.raises(SpecError, match="one volume id or path per line"):
        read_list(tmp_path / "missing.txt")


def test_a_json_data_list_gives_its_image_paths_per_section(tmp_path):
    data = {
        "name": "btcv",
        "training": [{"image": "imagesTr/img0001.nii.gz", "label": "labelsTr/label0001.nii.gz"}],
        "validation": [f"subset_0/{UID}.nii.gz", {"image": ["img0061.nii.gz"]}],
    }
    (tmp_path / "btcv.json").write_text(json.dumps(data))
    assert read_list(f"{tmp_path / 'btcv.json'}#validation") == [f"subset_0/{UID}.nii.gz", "img0061.nii.gz"]
    assert named(*read_list(f"{tmp_path / 'btcv.json'}#validation")) == ["btcv-img0061", "luna16-x"]
    assert named(*read_list(tmp_path / "btcv.json")) == ["btcv-img0001", "btcv-img0061", "luna16-x"]  # every list
    with pytest.raises(SpecError, match="no list 'test'; it has \\['training', 'validation'\\]"):
        read_list(f"{tmp_path / 'btcv.json'}#test")


def test_the_voco_luna16_validation_list_names_native_mhd_files_by_uid(shared_splits, tmp_path):
    """The real VoCo list names `subset_0/<uid>.nii.gz` conversions; LUNA16 ships `subsetN/<uid>.mhd`."""
    data = json.loads((shared_splits / "luna16.json").read_text())
    validation = [Path(p).name.removesuffix(".nii.gz") for p in data["validation"]]
    training = [Path(p).name.removesuffix(".nii.gz") for p in data["training"]]
    assert len(validation) == 45 and len(training) == 843 and not set(validation) & set(training)
    rows = [f"subset{n}/{uid}.mhd" for n, uid in enumerate([*validation[:3], *training[:2]])]
    table = pa.table({"volume_id": [f"luna16-{n}" for n in range(5)], "input_path": rows})
    hits = listed(table, read_list(f"{shared_splits / 'luna16.json'}#validation"))
    assert hits.tolist() == [True, True, True, False, False]
