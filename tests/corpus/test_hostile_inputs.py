"""Hostile inputs: each becomes a manifest row with its reason, the build goes on, exit 3.

One folder holds every case, as a real collection would; it is built once
through the CLI. ``EXPECTED`` is the table the closing note reports.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from click.testing import CliRunner
from pydicom.encaps import encapsulate

import corpus
import corpus.build
import corpus.ingest
from corpus.cli import main
from corpus.phantom_dicom import SeriesSpec, write_series
from corpus.readers.metaimage import write_metaimage
from corpus.verify import verify_corpus
from tests.conftest import save_nifti

ROOT_USER = os.geteuid() == 0
EXPECTED: dict[str, tuple[str, str]] = {
    "good.nii.gz": ("ok", ""),
    "empty.nii.gz": ("failed", "empty_file"),
    "truncated.nii.gz": ("failed", "truncated"),
    "truncated_meta.mha": ("failed", "truncated"),
    "gzip_bomb.nii.gz": ("failed", "too_large"),
    "absurd_dims.mha": ("failed", "too_large"),
    "nan.nii.gz": ("failed", "non_finite"),
    "inf.mha": ("failed", "non_finite"),
    "huge_floats.nii.gz": ("ok", ""),
    "flat_2d.nii.gz": ("skipped", "too_few_slices"),
    "flat_2d_meta.mha": ("skipped", "too_few_slices"),
    "one_slice.nii.gz": ("skipped", "too_few_slices"),
    "two_slices.mha": ("skipped", "too_few_slices"),
    "four_d.nii.gz": ("failed", "not_3d"),
    "singular.nii.gz": ("failed", "bad_geometry"),
    "text.mha": ("failed", "unreadable"),
    "missing_raw.mhd": ("failed", "unreadable"),
    "escape.mhd": ("failed", "unreadable"),
    "slice_list.mhd": ("failed", "unsupported_format"),
    "dangling.nii.gz": ("failed", "unreadable"),
    "self_loop.nii.gz": ("failed", "unreadable"),
    "unreadable.nii.gz": ("ok", "") if ROOT_USER else ("failed", "unreadable"),  # root reads anything
    "caf\\xe9.nii.gz": ("ok", ""),
    "pätient_日本.nii.gz": ("ok", ""),
    "changes.nii.gz": ("failed", "changed_during_build"),
    "too_big_for_memory.nii.gz": ("failed", "too_large"),
    "disk_full.nii.gz": ("failed", "write_failed"),
    "mr_series": ("skipped", "not_ct"),
    "scout": ("skipped", "localizer"),
    "no_pixels": ("failed", "no_pixel_data"),
    "odd_syntax": ("failed", "unsupported_format"),
    "no_geometry": ("failed", "bad_geometry"),
    "one_position": ("failed", "not_a_volume"),
    "duplicate_instances": ("ok", ""),
    "mixed_sizes#series3": ("ok", ""),
    "mixed_sizes#series3-2": ("skipped", "too_few_slices"),
    "cut_header": ("ok", ""),  # the three whole slices
    "cut_header/IM0003": ("failed", "truncated"),
    "cut_pixels/IM0000": ("failed", "truncated"),
    "garbage_pixel_module/IM0000": ("failed", "unreadable"),
    "no_pixel_module/IM0000": ("failed", "unreadable"),
    "garbage_after_marker": ("failed", "unreadable"),
    "short_pixel_data": ("failed", "unreadable"),
}
MEMORY_LIMIT = 200_000  # bytes: the small cases fit, too_big_for_memory does not


def small() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(-1000, 1000, size=(24, 20, 10)).astype(np.int16), np.diag([2.0, 2.0, 3.0, 1.0])


def dicom(folder: Path, count: int = 4, size: int = 16, **kwargs: object) -> list[Path]:
    positions = [(0.0, 0.0, 2.0 * k) for k in range(count)]
    spec = SeriesSpec(size, size, (1.0, 1.0), (1, 0, 0), (0, 1, 0), positions, **kwargs)  # type: ignore[arg-type]
    return write_series(folder, spec)


def edit(paths: list[Path], change: object) -> None:
    for path in paths:
        dataset = pydicom.dcmread(path)
        change(dataset)  # type: ignore[operator]
        dataset.save_as(path)


def make_tree(root: Path) -> None:
    array, affine = small()
    save_nifti(root / "good.nii.gz", array, affine)
    (root / "empty.nii.gz").write_bytes(b"")
    good = (root / "good.nii.gz").read_bytes()
    (root / "truncated.nii.gz").write_bytes(good[: len(good) // 2])
    write_metaimage(root / "full.mha", array, affine, compress=False)
    (root / "truncated_meta.mha").write_bytes((root / "full.mha").read_bytes()[:-500])
    (root / "full.mha").unlink()
    _gzip_bomb(root / "gzip_bomb.nii.gz")
    header = "NDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"
    (root / "absurd_dims.mha").write_bytes(header.encode() + b"\0" * 64)
    nan = array.astype(np.float32)
    nan[3, 3, 3] = np.nan
    save_nifti(root / "nan.nii.gz", nan, affine)
    inf = array.astype(np.float32)
    inf[1, 2, 3] = np.inf
    write_metaimage(root / "inf.mha", inf, affine)
    save_nifti(root / "huge_floats.nii.gz", np.where(array > 0, 1e30, -1e30).astype(np.float32), affine)
    save_nifti(root / "flat_2d.nii.gz", array[:, :, 0], affine)
    flat = "NDims = 2\nDimSize = 24 20\nElementSpacing = 2 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"
    (root / "flat_2d_meta.mha").write_bytes(flat.encode() + array[:, :, 0].T.tobytes())
    save_nifti(root / "one_slice.nii.gz", array[:, :, :1], affine)
    write_metaimage(root / "two_slices.mha", array[:, :, :2], affine)
    save_nifti(root / "four_d.nii.gz", np.stack([array, array], axis=-1), affine)
    singular = nib.Nifti1Image(array, None)
    singular.set_qform(None, code=0)
    singular.set_sform(np.diag([2.0, 0.0, 3.0, 1.0]), code=2)  # a zero column: voxels collapse onto a plane
    nib.save(singular, root / "singular.nii.gz")
    (root / "text.mha").write_text("just some text\n")
    (root / "missing_raw.mhd").write_text(
        "NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = gone.raw\n"
    )
    (root / "escape.mhd").write_text(
        "NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = ../../outside.raw\n"
    )
    (root / "slice_list.mhd").write_text(
        "NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = LIST\n"
    )
    (root / "dangling.nii.gz").symlink_to(root / "nowhere.nii.gz")
    (root / "self_loop.nii.gz").symlink_to(root / "self_loop.nii.gz")
    (root / "loop").symlink_to(root, target_is_directory=True)  # a folder loop: not followed
    shutil.copy(root / "good.nii.gz", root / "unreadable.nii.gz")
    (root / "unreadable.nii.gz").chmod(0)
    shutil.copy(root / "good.nii.gz", os.fsencode(root) + b"/caf\xe9.nii.gz")
    shutil.copy(root / "good.nii.gz", root / "pätient_日本.nii.gz")
    shutil.copy(root / "good.nii.gz", root / "changes.nii.gz")
    save_nifti(root / "too_big_for_memory.nii.gz", np.zeros((100, 100, 20), np.int16), affine)
    shutil.copy(root / "good.nii.gz", root / "disk_full.nii.gz")
    _dicom_cases(root)
    (root / "README.txt").write_text("clutter")
    (root / "notes.csv").write_text("a,b\n")


def _gzip_bomb(path: Path) -> None:
    """A header claiming 4096^3 int16 (128 GiB) over a long run of zeros that gzip shrinks 1000x."""
    header = nib.Nifti1Header()
    header.set_data_shape((4096, 4096, 4096))
    header.set_data_dtype(np.int16)
    with gzip.open(path, "wb") as stream:
        stream.write(header.binaryblock + b"\0" * 4)
        zeros = bytes(1 << 20)
        for _ in range(64):
            stream.write(zeros)


def _as_mpeg2(dataset: pydicom.Dataset) -> None:
    """Label the pixels MPEG2 video (a syntax no CT decoder handles), encapsulated as DICOM requires."""
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    dataset.PixelData = encapsulate([bytes(dataset.PixelData)])
    dataset["PixelData"].VR = "OB"


def _dicom_cases(root: Path) -> None:
    edit(dicom(root / "mr_series"), lambda ds: setattr(ds, "Modality", "MR"))
    edit(dicom(root / "scout", count=1), lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "LOCALIZER"]))
    edit(dicom(root / "no_pixels"), lambda ds: delattr(ds, "PixelData"))
    edit(dicom(root / "odd_syntax"), _as_mpeg2)
    edit(dicom(root / "no_geometry"), lambda ds: delattr(ds, "ImagePositionPatient"))
    edit(dicom(root / "one_position"), lambda ds: setattr(ds, "ImagePositionPatient", [0, 0, 0]))
    written = dicom(root / "duplicate_instances")
    shutil.copy(written[0], written[0].with_name("copy_of_first"))
    mixed = dicom(root / "mixed_sizes", count=5)
    odd = dicom(root / "odd_size_tmp", count=1, size=8)[0]
    series_uid = pydicom.dcmread(mixed[0]).SeriesInstanceUID
    edit([odd], lambda ds: setattr(ds, "SeriesInstanceUID", series_uid))
    shutil.move(odd, root / "mixed_sizes" / "IM_odd")
    shutil.rmtree(root / "odd_size_tmp")
    _broken_dicom_cases(root)


def _broken_dicom_cases(root: Path) -> None:
    """DICOM files with the 'DICM' marker that are cut short or carry garbage: failed, never skipped as no image."""
    last = dicom(root / "cut_header")[-1]
    last.write_bytes(last.read_bytes()[:600])  # inside the SeriesInstanceUID
    cut = dicom(root / "cut_pixels", count=1)[0]
    cut.write_bytes(cut.read_bytes()[:-100])
    edit(dicom(root / "garbage_pixel_module", count=1), _garbage_pixel_module)
    edit(dicom(root / "no_pixel_module", count=1), _without_pixel_module)
    (root / "garbage_after_marker").write_bytes(bytes(128) + b"DICM" + np.random.default_rng(0).bytes(300))
    edit(dicom(root / "short_pixel_data"), lambda ds: setattr(ds, "PixelData", bytes(ds.PixelData)[:100]))


def _garbage_pixel_module(dataset: pydicom.Dataset) -> None:
    dataset.Rows, dataset.BitsAllocated = 0, 13


def _without_pixel_module(dataset: pydicom.Dataset) -> None:
    """A CT image whose pixel module and pixels are gone (as when a header is cut just before them)."""
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel", "PixelData"):
        delattr(dataset, keyword)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "hostile"
    inputs.mkdir()
    make_tree(inputs)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("CORPUS_MAX_VOLUME_BYTES", str(MEMORY_LIMIT))
    real_write, real_take_over = corpus.ingest.write_volume, corpus.build.take_over

    def full_disk(group, volume_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if volume_id == "hostile-disk_full":
            real_write(group, volume_id, *args, **kwargs)  # half of it lands, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(group, volume_id, *args, **kwargs)

    def change_after_planning(location, generation):  # type: ignore[no-untyped-def]
        (inputs / "changes.nii.gz").write_bytes((inputs / "good.nii.gz").read_bytes() + b"\0")
        return real_take_over(location, generation)

    monkeypatch.setattr(corpus.ingest, "write_volume", full_disk)
    monkeypatch.setattr(corpus.build, "take_over", change_after_planning)
    result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(root / "corpus")])
    monkeypatch.undo()
    return root / "corpus", result


def rows(out: Path) -> dict[str, dict[str, object]]:
    return {str(row["input_path"]): row for row in corpus.open(str(out)).manifest.to_pylist()}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_each_case_gets_its_row_and_reason(hostile, case):
    out, _ = hostile
    row = rows(out)[case]
    assert (row["status"], row["reason"]) == EXPECTED[case], row["message"]
    if row["status"] != "ok":
        assert row["message"] and "\n" not in str(row["message"])
        assert row["array"] is None


def test_the_build_went_on_and_said_so(hostile):
    out, result = hostile
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert set(rows(out)) == set(EXPECTED)  # clutter ignored, the folder loop not followed
    assert len(EXPECTED) >= 25


def test_nothing_half_written_is_listed(hostile):
    out, _ = hostile
    report = verify_corpus(corpus.open(str(out)))
    assert report.ok, report.problems
    shard_arrays = [p.name for p in (out / "shards").glob("*/*") if p.is_dir()]
    assert "hostile-disk_full" not in shard_arrays


def test_out_of_range_floats_are_clipped_not_wrapped(hostile):
    out, _ = hostile
    opened = corpus.open(str(out))
    stored = opened.read("hostile-huge_floats")
    assert stored.min() == -1024 and stored.max() == 3071


def test_messages_name_files_but_never_their_absolute_location(hostile):
    out, _ = hostile
    for row in rows(out).values():
        assert str(out.parent) not in str(row["message"]), row["message"]
