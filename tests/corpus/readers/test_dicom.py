"""DICOM: synthetic series of known geometry, the real scanner folders in ../shared, privacy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

import corpus
from corpus.build import build_corpus
from corpus.phantom_dicom import SeriesSpec, write_enhanced, write_series
from corpus.readers.dicom import read_dicom_series
from corpus.readers.dicom_headers import read_headers
from corpus.readers.volume import LPS_TO_RAS
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.corpus.conftest import assert_nowhere
from tests.corpus.preprocess.test_geometry import MARKERS, marker_centroid

# Planted in every patient/study tag by the privacy test; none may reach the corpus.
PHI = {
    "PatientName": "PHINAME^ZEBULON",
    "PatientID": "PHIID-99817",
    "PatientBirthDate": "19230417",
    "AccessionNumber": "PHIACC5521",
    "InstitutionName": "PHI Memorial Hospital Qwerty",
    "InstitutionAddress": "PHI 12 Elm Street Xyzzy",
    "ReferringPhysicianName": "PHIDOC^QUINCY",
    "OperatorsName": "PHIOPERATOR^VERA",
    "StudyDescription": "PHI study of Zebulon",
    "SeriesDescription": "PHI series note Plugh",
    "StudyID": "PHISTUDY77",
    "OtherPatientIDs": "PHIOTHER-31337",
    # free text the acquisition columns read: only controlled values may come out
    "ContrastBolusAgent": "PHI Omnipaque for Zebulon",
    "BodyPartExamined": "PHI ZEBULON BODY",
}

CENTRE_LPS = np.array([0.0, -10.0, 5.0])  # RAS (0, 10, 5): the markers' neighbourhood
PIXELS, PIXEL_MM = 170, 0.8


def stack(
    row: np.ndarray, column: np.ndarray, offsets: np.ndarray, direction: np.ndarray, **kwargs: object
) -> SeriesSpec:
    """Slices of PIXELS x PIXELS around CENTRE_LPS, placed at ``offsets`` mm along ``direction``."""
    half = (PIXELS - 1) / 2 * PIXEL_MM
    middle = offsets.mean()
    positions = [tuple(CENTRE_LPS - half * row - half * column + (o - middle) * direction) for o in offsets]
    return SeriesSpec(
        PIXELS, PIXELS, (PIXEL_MM, PIXEL_MM), tuple(row), tuple(column), positions, markers=MARKERS, **kwargs
    )


X, Y, Z = np.eye(3)
TILT = np.deg2rad(15.0)
OBLIQUE = np.array([[np.cos(0.35), -np.sin(0.35), 0], [np.sin(0.35), np.cos(0.35), 0], [0, 0, 1]]) @ np.array(
    [[1, 0, 0], [0, np.cos(0.2), -np.sin(0.2)], [0, np.sin(0.2), np.cos(0.2)]]
)
UNEVEN = np.cumsum(np.r_[0.0, np.tile([2.0, 3.0], 14), np.full(12, 1.25)])

SYNTHETIC = {
    "axial": {"row": X, "column": Y, "offsets": np.arange(55) * 2.5, "direction": Z},
    "reversed_files": {"row": X, "column": Y, "offsets": np.arange(55) * 2.5, "direction": Z, "order": "reversed"},
    "uneven_gaps": {"row": X, "column": Y, "offsets": UNEVEN, "direction": Z},
    "gantry_tilt": {
        "row": X,
        "column": np.array([0, np.cos(TILT), -np.sin(TILT)]),
        "offsets": np.arange(55) * 2.5,
        "direction": Z,
    },
    "oblique": {
        "row": OBLIQUE[:, 0],
        "column": OBLIQUE[:, 1],
        "offsets": np.arange(60) * 2.2,
        "direction": OBLIQUE[:, 2],
    },
    "slope_and_padding": {
        "row": X,
        "column": Y,
        "offsets": np.arange(55) * 2.5,
        "direction": Z,
        "slope": 0.5,
        "intercept": -1000.0,
        "padding": -2000,
    },
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> corpus.Corpus:
    root = tmp_path_factory.mktemp("dicom")
    for name, case in SYNTHETIC.items():
        case = dict(case)
        order = case.pop("order", None)
        spec = stack(**case)  # type: ignore[arg-type]
        count = len(spec.positions)
        write_series(root / "synthetic" / name, spec, order=list(range(count))[::-1] if order else None)
    report = build_corpus(discover([root / "synthetic"], []), str(root / "corpus"), BuildSpec(), progress=False)
    assert report.exit_code == 0, [row["message"] for row in report.rows]
    return corpus.open(str(root / "corpus"))


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_markers_land_within_half_a_voxel(synthetic, name):
    volume_id = f"synthetic-{name}"
    stored = synthetic.read(volume_id)
    affine = np.asarray(synthetic.array(volume_id).attrs["affine"])
    for marker in MARKERS:
        found = marker_centroid(stored, affine, np.asarray(marker))
        error = np.linalg.norm(found - np.asarray(marker))
        assert error < 0.75, f"{name}: marker {marker} found at {found.round(2)} ({error:.2f} mm off)"


def test_synthetic_rows_describe_the_input(synthetic):
    rows = {row["volume_id"]: row for row in synthetic.manifest.to_pylist()}
    assert rows["synthetic-axial"]["spacing_in"] == pytest.approx([PIXEL_MM, PIXEL_MM, 2.5])
    assert rows["synthetic-axial"]["shape_in"] == [PIXELS, PIXELS, 55]
    assert rows["synthetic-uneven_gaps"]["input_format"] == "dicom"
    assert rows["synthetic-axial"]["modality"] == "CT"
    assert all(row["status"] == "ok" for row in rows.values())


def test_padding_becomes_air_and_slope_is_applied(tmp_path):
    spec = stack(X, Y, np.arange(4) * 2.0, Z, slope=0.5, intercept=-1000.0, padding=-2000)
    write_series(tmp_path / "s", spec)
    headers = [h for path in sorted((tmp_path / "s").iterdir()) for h in read_headers(path)]
    volume = read_dicom_series(headers, max_gap_mm=3.0)
    raw = pydicom.dcmread(sorted((tmp_path / "s").iterdir())[0]).pixel_array.T
    expected = np.where(raw == -2000, -1024.0, raw * 0.5 - 1000.0)
    np.testing.assert_allclose(volume.array[:, :, 0], expected)


@pytest.mark.parametrize(("intercept", "padding"), [(-1024.0, None), (-1024.0, -2000), (0.0, -32768)])
def test_whole_number_rescales_read_as_int16_with_the_same_hu(tmp_path, intercept, padding):
    """Slope 1 and a whole intercept: int16 HU, equal to the float rescale; -32768 - 1024 saturates below air."""
    spec = stack(X, Y, np.arange(4) * 2.0, Z, slope=1.0, intercept=intercept, padding=padding)
    write_series(tmp_path / "s", spec)
    paths = sorted((tmp_path / "s").iterdir())
    volume = read_dicom_series([h for path in paths for h in read_headers(path)], max_gap_mm=3.0)
    assert volume.array.dtype == np.int16
    raw = pydicom.dcmread(paths[0]).pixel_array.T.astype(np.float64)
    expected = raw + intercept if padding is None else np.where(raw == padding, -1024.0, raw + intercept)
    np.testing.assert_array_equal(volume.array[:, :, 0], np.maximum(expected, -32768))


# ---------------------------------------------------------------- real scanner folders


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> corpus.Corpus:
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CT test data not found at {SHARED_DATA}")
    folders = [
        SHARED_DATA / "dcm_qa_ct",
        SHARED_DATA / "totalsegmentator" / "abdomen_j2k_dicom",
        SHARED_DATA / "ibsi_sts",
        SHARED_DATA / "dcmqi",
        SHARED_DATA / "dicom2nifti_geometry",
    ]
    out = tmp_path_factory.mktemp("real") / "corpus"
    build_corpus(discover(folders, []), str(out), BuildSpec(), progress=False)
    return corpus.open(str(out))


def rows_by_id(opened: corpus.Corpus) -> dict[str, dict[str, object]]:
    return {str(row["volume_id"]): row for row in opened.manifest.to_pylist()}


def test_philips_study_gives_one_volume_and_two_reasoned_skips(real):
    rows = {k: v for k, v in rows_by_id(real).items() if "philips" in k}
    assert {k: (v["status"], v["reason"]) for k, v in rows.items()} == {
        "dcm_qa_ct-philips_study_S21570_S2010": ("ok", ""),
        "dcm_qa_ct-philips_study_S21570_S1000": ("skipped", "localizer"),
        "dcm_qa_ct-philips_study_S21570_S4010": ("skipped", "secondary_capture"),
    }
    assert not any("DIRFILE" in str(row["input_path"]) or "DICOMDIR" in str(row["input_path"]) for row in rows.values())


def test_dicom2nifti_geometry_cases(real):
    rows = rows_by_id(real)
    tilted = rows["dicom2nifti_geometry-gantrytilting_001"]
    assert (tilted["status"], tilted["shape_in"]) == ("ok", [512, 512, 4])
    assert rows["dicom2nifti_geometry-notavolume_001"]["reason"] == "not_a_volume"
    assert "one position" in str(rows["dicom2nifti_geometry-notavolume_001"]["message"])
    assert rows["dicom2nifti_geometry-sliceincrement_001"]["reason"] == "missing_slices"
    assert "10.00 mm gap" in str(rows["dicom2nifti_geometry-sliceincrement_001"]["message"])
    bridged = rows["dicom2nifti_geometry-sliceincrement_002"]
    assert bridged["status"] == "ok"
    assert "bridged" in str(bridged["message"]) and "1.56 mm gap" in str(bridged["message"])


def test_gantry_tilt_slab_keeps_its_tilted_corners(real, shared_ct):
    """The stored grid spans the tilted slab's corners (from each slice's own position), not a box around z."""
    folder = shared_ct / "dicom2nifti_geometry" / "gantrytilting" / "001"
    corners = np.concatenate([slice_world(pydicom.dcmread(p), pixels=False)[1] for p in sorted(folder.iterdir())])
    array = real.array("dicom2nifti_geometry-gantrytilting_001")
    low = np.asarray(array.attrs["origin"])
    high = low + (np.asarray(array.shape) - 1) * 1.5
    assert np.all(corners.min(axis=0) > low - 1.5) and np.all(corners.max(axis=0) < high + 1.5)
    z_span = corners[:, 2].max() - corners[:, 2].min()
    assert z_span > 15 + 50  # 15 mm of positions plus 214 mm * sin(14 deg) of tilt
    # Plus half a 5 mm slice beyond the outer slices on each side, minus at most one target voxel.
    assert z_span + 5.0 - 1.5 <= high[2] - low[2] + 1.5 <= z_span + 5.0 + 1.5


@pytest.mark.parametrize(
    ("volume_id", "folder"),
    [
        ("dcm_qa_ct-philips_study_S21570_S2010", "dcm_qa_ct/philips_study/S21570/S2010"),
        ("ibsi_sts-sts002_limb_dicom", "ibsi_sts/sts002_limb_dicom"),
        ("dcmqi-ge_3slice_padding", "dcmqi/ge_3slice_padding"),
    ],
)
def test_untilted_series_match_simpleitk(real, shared_ct, volume_id, folder):
    """An independent reader (ITK's GDCM series reader) resampled onto our grid agrees within 5 HU."""
    reference = simpleitk_on_grid(shared_ct / folder, real, volume_id)
    stored = real.read(volume_id).astype(np.float64)
    inside = reference > -5000  # ITK's own out-of-field marker
    assert inside.mean() > 0.5
    assert np.mean(np.abs(stored[inside] - reference[inside])) < 5.0


def simpleitk_on_grid(folder: Path, opened: corpus.Corpus, volume_id: str) -> np.ndarray:
    reader = sitk.ImageSeriesReader()
    files = [str(p) for p in sorted(folder.iterdir()) if read_headers(p)]
    image = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(folder)) or files, sitk.sitkFloat32)
    image = sitk.Maximum(image, -1024.0)  # padding and out-of-field values are air, as in the corpus
    array = opened.array(volume_id)
    origin_lps = LPS_TO_RAS[:3, :3] @ np.asarray(array.attrs["origin"])
    resampled = sitk.Resample(
        image, list(array.shape), sitk.Transform(), sitk.sitkLinear, origin_lps.tolist(), [1.5] * 3,
        [-1, 0, 0, 0, -1, 0, 0, 0, 1], -10000.0, sitk.sitkFloat32,
    )  # fmt: skip
    return np.clip(sitk.GetArrayFromImage(resampled).transpose(2, 1, 0), -10000, 3071)


def test_head_tilt_is_unsheared_and_spans_its_true_positions(real, shared_ct):
    """Each original pixel, placed by its own slice's position, finds its value in the stored grid."""
    folder = shared_ct / "dcm_qa_ct" / "ge_head_tilt"
    volume_id = "dcm_qa_ct-ge_head_tilt"
    stored = real.read(volume_id).astype(np.float64)
    origin = np.asarray(real.array(volume_id).attrs["origin"])
    errors, corrupted = [], []  # corrupted: the same check on positions displaced by 20 mm
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        hu, world = slice_world(ds)
        sample = (world[::97] - origin) / 1.5
        inside = np.all((sample >= 0) & (sample <= np.asarray(stored.shape) - 1), axis=1)
        inside &= hu.reshape(-1)[::97] > -500  # tissue and bone: where a misplacement shows
        values = ndimage.map_coordinates(stored, sample[inside].T, order=1)
        expected = np.clip(hu.reshape(-1)[::97][inside], -1024, 3071)
        errors.append(np.abs(values - expected))
        sheared = (world[::97] - origin + np.array([0.0, 0.0, 20.0])) / 1.5
        corrupted.append(np.abs(ndimage.map_coordinates(stored, sheared[inside].T, order=1) - expected))
    error, wrong = np.median(np.concatenate(errors)), np.median(np.concatenate(corrupted))
    assert error < 15.0, f"median |stored - original| {error:.1f} HU"
    assert wrong > 3 * error, f"a 20 mm displacement gives {wrong:.1f} HU: the check cannot tell"


def slice_world(ds: pydicom.Dataset, pixels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """HU of every pixel of one slice and its RAS position, from that slice's own header.

    With ``pixels=False`` only the four corner pixels are placed (no decoding).
    """
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept) if pixels else None
    row, column = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
    spacing = np.asarray(ds.PixelSpacing, float)
    j, i = np.mgrid[0 : ds.Rows, 0 : ds.Columns] if pixels else np.meshgrid([0, ds.Rows - 1], [0, ds.Columns - 1])
    lps = (
        np.asarray(ds.ImagePositionPatient, float)
        + np.outer(i.ravel() * spacing[1], row)
        + np.outer(j.ravel() * spacing[0], column)
    )
    return hu, lps * np.array([-1.0, -1.0, 1.0])


def test_jpeg2000_series_with_empty_uids_is_stored(real, shared_ct):
    rows = [r for r in real.manifest.to_pylist() if r["source"] == "abdomen_j2k_dicom"]
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "ok", row["message"]
    assert row["shape_in"] == [512, 512, 20]
    assert row["spacing_in"][2] == pytest.approx(2.0)
    stored = real.read(str(row["volume_id"]))
    assert stored.max() > 300  # bone decoded, not a blank volume


# ---------------------------------------------------------------- privacy


def test_no_patient_data_reaches_any_byte_of_the_corpus(tmp_path):
    spec = stack(X, Y, np.arange(6) * 2.0, Z, tags=PHI)
    write_series(tmp_path / "in" / "series", spec)
    out = tmp_path / "corpus"
    report = build_corpus(discover([tmp_path / "in"], []), str(out), BuildSpec(), progress=False)
    assert report.exit_code == 0
    from click.testing import CliRunner

    from corpus.cli import main

    CliRunner().invoke(main, ["stats", str(out), "--html", str(out / "audit.html")])
    CliRunner().invoke(main, ["verify", str(out)])
    assert (out / "audit.html").exists() and list((out / "logs").glob("*.log"))
    needles = [*PHI.values(), "ZEBULON", "Zebulon", "Qwerty", "Xyzzy", "QUINCY", "Plugh", "99817", "31337", "Omnipaque"]
    assert_nowhere(out, needles)
    row = corpus.open(str(out)).manifest.to_pylist()[0]
    assert row["subject_key"] and PHI["PatientID"] not in row["subject_key"]
    assert (row["contrast"], row["body_part"]) == ("yes", "other")


def test_enhanced_multiframe_ct_is_read_frame_by_frame(tmp_path):
    spec = stack(X, Y, np.arange(50)[::-1] * 2.5, Z)  # frames stored top to bottom
    (tmp_path / "in").mkdir()
    write_enhanced(tmp_path / "in" / "enhanced.dcm", spec)
    report = build_corpus(discover([tmp_path / "in"], []), str(tmp_path / "c"), BuildSpec(), progress=False)
    assert report.exit_code == 0, report.rows
    opened = corpus.open(str(tmp_path / "c"))
    volume_id = opened.volume_ids[0]
    assert opened.manifest.to_pylist()[0]["shape_in"] == [PIXELS, PIXELS, 50]
    stored = opened.read(volume_id)
    affine = np.asarray(opened.array(volume_id).attrs["affine"])
    for marker in MARKERS:
        assert np.linalg.norm(marker_centroid(stored, affine, np.asarray(marker)) - np.asarray(marker)) < 0.75


def test_rle_compressed_series_equals_the_uncompressed_one(tmp_path):
    from pydicom.uid import RLELossless

    spec = stack(X, Y, np.arange(5) * 2.0, Z)
    plain = write_series(tmp_path / "plain" / "s", spec)
    (tmp_path / "rle" / "s").mkdir(parents=True)
    for path in plain:
        dataset = pydicom.dcmread(path)
        dataset.compress(RLELossless)
        dataset.save_as(tmp_path / "rle" / "s" / path.name)
    volumes = []
    for name in ("plain", "rle"):
        headers = [h for path in sorted((tmp_path / name / "s").iterdir()) for h in read_headers(path)]
        volumes.append(read_dicom_series(headers, max_gap_mm=3.0).array)
    assert pydicom.dcmread(tmp_path / "rle" / "s" / plain[0].name).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(volumes[0], volumes[1])


def test_volume_ids_and_array_paths_cannot_leave_the_corpus():
    from corpus.sources import InputItem

    for hostile in [
        "../../etc/passwd.nii.gz",
        "..",
        "/abs/path.nii.gz",
        "a/../../b.mha",
        ".hidden.nii.gz",
        "x\\..\\y.nii",
    ]:
        volume_id = InputItem(Path("x"), "src", hostile).volume_id
        assert "/" not in volume_id and "\\" not in volume_id and ".." not in volume_id, volume_id
        assert not volume_id.startswith("."), volume_id


@pytest.mark.parametrize("folder", ["dcm_qa_ct/ge_head_tilt", "dcm_qa_ct/philips_study/S21570/S2010"])
def test_background_decoding_stores_the_same_voxels(shared_ct, folder):
    """Tilted with uneven gaps (the sheared path waits through the slice knots) and a plain stack."""
    from corpus.preprocess.normalize import normalize

    item = next(item for item in discover([shared_ct / folder], []) if item.skip is None)
    spec = BuildSpec()
    arriving = read_dicom_series(item.slices, spec.max_gap_mm, in_background=True)
    assert arriving.arrival is not None
    stored = normalize(arriving, spec, threads=2).array
    arriving.complete()
    expected = normalize(read_dicom_series(item.slices, spec.max_gap_mm), spec, threads=2).array
    assert np.array_equal(stored, expected)


def test_background_decoding_reports_an_unreadable_slice(tmp_path):
    spec = SeriesSpec(16, 16, (1.0, 1.0), (1, 0, 0), (0, 1, 0), [(0.0, 0.0, 2.0 * k) for k in range(5)])
    paths = write_series(tmp_path / "s", spec)
    headers = [h for path in paths for h in read_headers(path)]
    paths[3].write_bytes(paths[3].read_bytes()[:200])  # cut after planning
    volume = read_dicom_series(headers, 3.0, in_background=True)
    with pytest.raises(corpus.CorpusError):
        volume.complete()
