"""The demo: phantoms in several formats and geometries -> a corpus -> a summary.

Inputs mimic what collections ship: LPS and RAS NIfTI, permuted axes, a
rescaled unsigned NIfTI, an oblique MetaImage, a thick-slice LUNA-style .mhd,
and a DICOM series in a scanner-style folder. The DICOM headers and a
dcm2niix-style JSON sidecar carry acquisition metadata, and the LUNA-style
scan is put in the ``val`` split: several phantoms render one body, so the
summary shows acquisition counts, a near-duplicate group and a split leak.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from corpus.build import BuildReport, build_corpus
from corpus.phantom import affine_from, render, rotation_x, rotation_z
from corpus.phantom_dicom import SeriesSpec, write_series
from corpus.readers.metaimage import write_metaimage
from corpus.sources import discover
from corpus.spec import BuildSpec

_PERMUTED = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # array axes (z, x, y)
_LPS = np.diag([-1.0, -1.0, 1.0])
DEMO_VAL = "luna_style.mhd"  # in the val split: one body with train volumes, so a split leak to find
DEMO_SIDECAR = {  # beside chest_ras.nii.gz, keys as dcm2niix writes them
    "Manufacturer": "GE",
    "ManufacturersModelName": "LightSpeed VCT",
    "KVP": 100,
    "ConvolutionKernel": "LUNG",
    "SliceThickness": 2.5,
    "BodyPart": "CHEST",
    "ScanOptions": "HELICAL MODE",
}
DEMO_DICOM_TAGS = {  # acquisition headers of the demo series
    "Manufacturer": "SIEMENS",
    "ManufacturerModelName": "SOMATOM Definition AS",
    "KVP": "120",
    "ConvolutionKernel": "B30f",
    "BodyPartExamined": "ABDOMEN",
    "ContrastBolusAgent": "IOMERON 400",
    "AcquisitionType": "SPIRAL",
}


@dataclass(frozen=True)
class PhantomCase:
    file_name: str
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    rotation: np.ndarray
    centre: tuple[float, float, float]


DEMO_CASES = (
    PhantomCase("chest_ras.nii.gz", (0.8, 0.8, 2.5), (420, 310, 96), np.eye(3), (0, 0, 50)),
    PhantomCase("abdomen_lps_uint16.nii.gz", (0.75, 0.75, 1.25), (440, 330, 150), _LPS, (0, 0, -70)),
    PhantomCase("torso_permuted.nii.gz", (3.0, 1.0, 1.0), (110, 360, 260), _PERMUTED, (0, 0, 0)),
    PhantomCase("chest_oblique.mha", (1.0, 1.0, 2.0), (320, 260, 110), rotation_z(12) @ rotation_x(8), (0, 0, 40)),
    PhantomCase("luna_style.mhd", (0.7, 0.7, 5.0), (500, 380, 60), _LPS, (0, 0, 30)),
)


def write_phantoms(folder: Path, seed: int = 0) -> list[Path]:
    """Render every demo case and write it in the format its name says, plus one DICOM series."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, case in enumerate(DEMO_CASES):
        affine = affine_from(case.spacing, case.rotation, case.centre, case.shape)
        hu = render(affine, case.shape, seed=seed + number)
        path = folder / case.file_name
        _WRITERS[path.suffix](path, hu, affine)
        paths.append(path)
    (folder / "chest_ras.json").write_text(json.dumps(DEMO_SIDECAR, indent=2))
    series = replace(demo_dicom_series(), tags=DEMO_DICOM_TAGS)
    write_series(folder / "dicom_study" / "series_3", series, noise_hu=15.0, uid_seed="demo")
    return [*paths, folder / "dicom_study" / "series_3"]


def demo_dicom_series(pixels: int = 300, pixel_mm: float = 0.9, slices: int = 70, gap_mm: float = 2.5) -> SeriesSpec:
    """An axial CT series centred on RAS (0, 0, 30): 270 mm field of view, 2.5 mm slices."""
    half = (pixels - 1) / 2 * pixel_mm
    centre_lps = np.array([0.0, 0.0, 30.0])
    row, column, normal = np.eye(3)
    positions = [
        tuple(centre_lps - half * row - half * column + (k - (slices - 1) / 2) * gap_mm * normal) for k in range(slices)
    ]
    return SeriesSpec(pixels, pixels, (pixel_mm, pixel_mm), tuple(row), tuple(column), positions)


def _write_nifti(path: Path, hu: np.ndarray, affine: np.ndarray) -> None:
    if "uint16" in path.name:  # unsigned with scl_slope/scl_inter, as some exporters write
        image = nib.Nifti1Image(hu, affine)
        image.header.set_data_dtype(np.uint16)
    else:
        image = nib.Nifti1Image(np.rint(hu).astype(np.int16), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def _write_metaimage(path: Path, hu: np.ndarray, affine: np.ndarray) -> None:
    write_metaimage(path, np.rint(hu).astype(np.int16), affine)


_WRITERS: dict[str, Callable[[Path, np.ndarray, np.ndarray], None]] = {
    ".gz": _write_nifti,
    ".mha": _write_metaimage,
    ".mhd": _write_metaimage,
}


def run_demo(out: Path, spec: BuildSpec | None = None, progress: bool = True) -> BuildReport:
    """Write the phantoms under ``out/inputs`` and build ``out/corpus`` from them."""
    inputs = out / "inputs" / "phantoms"
    write_phantoms(inputs)  # deterministic: a rerun rewrites the same files, the build skips them
    items = [replace(item, split="val") if item.relpath == DEMO_VAL else item for item in discover([inputs], [])]
    return build_corpus(items, str(out / "corpus"), spec or BuildSpec(), progress=progress)
