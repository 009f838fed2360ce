"""A small corpus of torso phantoms at 1.5 mm for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.build import build_corpus
from corpus.phantom import affine_from, render
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.conftest import save_nifti


@pytest.fixture(scope="session")
def phantom_corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("phantom-corpus")
    (root / "in").mkdir()
    for number, centre_z in enumerate((0.0, 60.0, -40.0)):
        shape = (200, 150, 70)
        affine = affine_from((1.5, 1.5, 1.5), np.eye(3), (0.0, 0.0, centre_z), shape)
        hu = np.rint(render(affine, shape, seed=number)).astype(np.int16)
        save_nifti(root / "in" / f"torso{number}.nii.gz", hu, affine)
    out = Path(root / "corpus")
    report = build_corpus(discover([root / "in"], []), str(out), BuildSpec(), progress=False)
    assert report.exit_code == 0
    return str(out)
