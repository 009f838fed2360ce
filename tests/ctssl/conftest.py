"""Small corpora for the training tests: torso phantoms, and random volumes already on the corpus grid."""

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


SHAPES = [(70, 60, 40), (80, 50, 30), (64, 64, 64), (50, 90, 20), (66, 66, 33), (72, 40, 50), (90, 80, 30)]


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    """Volumes already at 1.5 mm RAS: stored voxels equal the inputs (clipped), an independent reference."""
    root = tmp_path_factory.mktemp("regions")
    rng = np.random.default_rng(0)
    inputs = {}
    (root / "vols").mkdir()
    for number, shape in enumerate(SHAPES):
        array = rng.integers(-1100, 1500, size=shape).astype(np.int16)
        save_nifti(root / "vols" / f"v{number}.nii.gz", array, np.diag([1.5, 1.5, 1.5, 1.0]))
        inputs[f"vols-v{number}"] = np.clip(array, -1024, 3071)
    build_corpus(discover([root / "vols"], []), str(root / "corpus"), BuildSpec(), progress=False)
    return str(root / "corpus"), inputs
