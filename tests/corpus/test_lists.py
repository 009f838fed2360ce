"""List files: a line names a row by volume id, by path (either way round) or by a DICOM UID file name."""

from __future__ import annotations

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
