"""JSON sidecars beside image files: metadata and identity read, patient data never kept."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import corpus
from corpus.build import build_corpus
from corpus.cli import main
from corpus.readers.sidecar import read_sidecar, sidecar_path
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.conftest import save_nifti
from tests.corpus.conftest import assert_nowhere, small_phantom

# What dcm2niix writes without -ba y, with identifying values planted where a careless export leaves them.
SIDECAR = {
    "Modality": "CT",
    "Manufacturer": "Siemens",
    "ManufacturersModelName": "SOMATOM Force",
    "BodyPart": "CHEST",
    "ConvolutionKernel": "Br40d",
    "SliceThickness": 1.5,
    "KVP": 100,
    "ScanOptions": "HELICAL MODE",
    "ContrastBolusAgent": "PHI Visipaque given to Zebulon",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.12345",
    "PatientID": "PHIID-99817",
    "PatientName": "PHINAME^ZEBULON",
    "PatientBirthDate": "1923-04-17",
    "AccessionNumber": "PHIACC5521",
    "InstitutionName": "PHI Memorial Hospital Qwerty",
    "StudyDescription": "PHI study of Zebulon",
    "SeriesDescription": "PHI series note Plugh",
}
NEEDLES = [
    *(str(v) for k, v in SIDECAR.items() if str(v).startswith("PHI") or k in ("PatientBirthDate",)),
    "Zebulon",
    "ZEBULON",
    "Qwerty",
    "Plugh",
    "99817",
    "Visipaque",
]


def write_scan_with_sidecar(folder: Path, name: str, sidecar: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = save_nifti(folder / f"{name}.nii.gz", *small_phantom())
    sidecar_path(path).write_text(json.dumps(sidecar))
    return path


def test_sidecar_beside_a_nifti_gives_controlled_metadata(tmp_path):
    path = write_scan_with_sidecar(tmp_path, "scan", SIDECAR)
    assert sidecar_path(path) == tmp_path / "scan.json"
    found = read_sidecar(path)
    assert found is not None
    assert found.acquisition.as_row() == {
        "manufacturer": "Siemens",
        "model": "SOMATOM Force",
        "kvp": 100.0,
        "kernel": "Br40d",
        "slice_thickness_mm": 1.5,
        "contrast": "yes",
        "body_part": "CHEST",
        "acquisition_type": "helical",
    }
    assert (found.series_uid, found.patient_id) == (SIDECAR["SeriesInstanceUID"], SIDECAR["PatientID"])


def test_a_missing_or_broken_sidecar_means_no_metadata(tmp_path):
    path = save_nifti(tmp_path / "plain.nii.gz", *small_phantom())
    assert read_sidecar(path) is None
    sidecar_path(path).write_text("{not json")
    assert read_sidecar(path) is None
    sidecar_path(path).write_text("[1, 2]")
    assert read_sidecar(path) is None


def test_no_patient_data_from_a_sidecar_reaches_the_corpus(tmp_path):
    write_scan_with_sidecar(tmp_path / "in", "scan", SIDECAR)
    out = tmp_path / "corpus"
    assert build_corpus(discover([tmp_path / "in"], []), str(out), BuildSpec(), progress=False).exit_code == 0
    CliRunner().invoke(main, ["stats", str(out), "--html", str(out / "audit.html")])
    assert (out / "audit.html").exists()
    assert_nowhere(out, NEEDLES)
    row = corpus.open(str(out)).manifest.to_pylist()[0]
    assert row["subject_key"] and row["contrast"] == "yes" and row["manufacturer"] == "Siemens"
