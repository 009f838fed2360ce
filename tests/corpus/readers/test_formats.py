"""The format table: every file format reads its header geometry exactly as its reader places the voxels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from corpus.readers import FORMATS, file_format, image_suffix, input_format
from corpus.readers.metaimage import write_metaimage
from tests.conftest import save_nifti
from tests.corpus.readers.conftest import oblique_affine


def _nifti(folder: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    return save_nifti(folder / "sample.nii.gz", array, affine)


def _metaimage(folder: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    write_metaimage(folder / "sample.mhd", array, affine)
    return folder / "sample.mhd"


# One sample writer per format: a format added to FORMATS without one fails below, loudly.
SAMPLES: dict[str, Callable[[Path, np.ndarray, np.ndarray], Path]] = {"nifti": _nifti, "metaimage": _metaimage}


def test_every_format_has_a_sample():
    assert sorted(SAMPLES) == sorted(f.name for f in FORMATS), "add a sample writer for each new format"


@pytest.mark.parametrize("found", FORMATS, ids=lambda f: f.name)
def test_header_geometry_equals_what_the_reader_reads(tmp_path, found):
    path = SAMPLES[found.name](tmp_path, np.zeros((7, 6, 5), np.int16), oblique_affine())
    assert file_format(path) is found
    shape, spacing = found.read_geometry(path)
    volume = found.read(path)
    assert shape == volume.shape
    np.testing.assert_allclose(spacing, volume.spacing, atol=1e-5)
    assert volume.input_format == found.name


def test_names_announce_formats_whatever_the_case():
    assert input_format("a/B.NII.GZ") == "nifti" and image_suffix("a/B.NII.GZ") == ".nii.gz"
    assert input_format("scan.mhd") == "metaimage"
    assert input_format("notes.txt") is None and file_format("archive.gz") is None
