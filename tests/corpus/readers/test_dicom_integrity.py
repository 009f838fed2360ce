"""Broken DICOM files are told from objects without pixels: cut files are truncated, garbage is unreadable."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from corpus.errors import InputError, Reason
from corpus.phantom_dicom import SeriesSpec, write_enhanced, write_series
from corpus.readers.dicom_headers import looks_like_dicom, read_headers

SPEC = SeriesSpec(16, 16, (1.0, 1.0), (1, 0, 0), (0, 1, 0), [(0.0, 0.0, 2.0 * k) for k in range(4)])


def reason_of(path: Path) -> Reason | None:
    try:
        read_headers(path)
    except InputError as error:
        return error.reason
    return None


def data_set_element_ends(path: Path) -> list[int]:
    """Byte offsets where the data set's top-level elements end (after the file meta), walked by pydicom."""
    syntax = pydicom.dcmread(path).file_meta.TransferSyntaxUID
    with path.open("rb") as stream:
        pydicom.filereader.read_preamble(stream, False)
        for _ in pydicom.filereader.data_element_generator(stream, False, True, stop_when=_past_group_2):
            pass  # the file meta: always explicit VR little endian
        elements = pydicom.filereader.data_element_generator(stream, syntax.is_implicit_VR, syntax.is_little_endian)
        return [stream.tell() for _ in elements]


def _past_group_2(tag: pydicom.tag.BaseTag, vr: str | None, length: int) -> bool:
    return bool(tag.group != 2)


@pytest.mark.parametrize("kind", ["classic", "enhanced"])
def test_a_file_cut_anywhere_is_truncated(tmp_path, kind):
    """Every byte a file can end at after the 'DICM' marker: inside an element or in the file meta it is cut
    (truncated); exactly between two data set elements the headers are whole, an image without its pixel module
    (unreadable) or, once that module is read, without its pixels, which the series reader fails as
    no_pixel_data (tests/corpus/test_hostile_inputs.py)."""
    whole = write_series(tmp_path, SPEC)[0] if kind == "classic" else write_enhanced(tmp_path / "e.dcm", SPEC)
    data = whole.read_bytes()
    assert reason_of(whole) is None
    between = set(data_set_element_ends(whole))
    part = tmp_path / "cut.dcm"
    reasons = {}
    for cut in range(132, len(data)):
        part.write_bytes(data[:cut])
        reasons[cut] = reason_of(part)
    assert {cut: r for cut, r in reasons.items() if cut not in between and r is not Reason.TRUNCATED} == {}
    whole_headers = [reasons[cut] for cut in sorted(between) if cut < len(data)]
    assert set(whole_headers) == {Reason.UNREADABLE, None}
    assert whole_headers.index(None) > 0 and set(whole_headers[whole_headers.index(None) :]) == {None}
    assert reasons[data.rindex(b"\xe0\x7f\x10\x00")] is None  # cut right before (7FE0,0010) Pixel Data


def test_garbage_or_missing_pixel_modules_are_unreadable(tmp_path):
    garbage, bare = write_series(tmp_path / "a", SPEC)[0], write_series(tmp_path / "b", SPEC)[0]
    dataset = pydicom.dcmread(garbage)
    dataset.Columns, dataset.BitsAllocated = 0, 12
    dataset.save_as(garbage)
    dataset = pydicom.dcmread(bare)
    for keyword in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PixelData"):
        delattr(dataset, keyword)
    dataset.save_as(bare)
    assert reason_of(garbage) is Reason.UNREADABLE
    assert reason_of(bare) is Reason.UNREADABLE


def test_an_object_without_pixels_by_nature_is_read_not_failed(tmp_path):
    """A report (no pixel module, a non-image class) is left to be skipped as not_an_image."""
    path = write_series(tmp_path, SPEC)[0]
    dataset = pydicom.dcmread(path)
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel", "PixelData"):
        delattr(dataset, keyword)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    dataset.save_as(path)
    (header,) = read_headers(path)
    assert not header.is_image


def test_every_real_dicom_file_in_shared_data_is_whole(shared_ct):
    files = [path for path in shared_ct.rglob("*") if path.is_file() and looks_like_dicom(path)]
    assert len(files) > 100
    assert {path.name: reason_of(path) for path in files if reason_of(path) is not None} == {}
