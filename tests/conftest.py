"""Shared fixtures: tiny volumes of known geometry, and the real scans in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import settings

# The same examples on every run, so a suite that passed once passes again; set
# HYPOTHESIS_PROFILE=explore to draw new examples while developing.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
SHARED_SPLITS = SHARED_DATA.parent / "splits"


@pytest.fixture
def shared_ct() -> Path:
    """../shared/data/ct, or a clean skip for a checkout without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CT test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def shared_splits() -> Path:
    """../shared/data/splits (the VoCo pre-training lists), or a clean skip for a checkout without it."""
    if not SHARED_SPLITS.is_dir():
        pytest.skip(f"split lists not found at {SHARED_SPLITS}")
    return SHARED_SPLITS


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, *, qform: bool = True, sform: bool = True) -> Path:
    """Write a NIfTI with explicit qform/sform codes (nibabel decides which wins on read)."""
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1 if qform else 0)
    image.set_sform(affine, code=2 if sform else 0)
    nib.save(image, path)
    return path
