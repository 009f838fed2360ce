"""A labelled phantom corpus: liver (1) and kidneys (2) drawn from the phantom's own anatomy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from corpus.phantom import LIVER, TORSO, affine_from, render, world_points
from tests.conftest import save_nifti
from tests.corpus.conftest import run

ORGANS = {1: "liver", 2: "kidney"}


def phantom_labels(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    points = world_points(affine, shape, (0, shape[2]))
    labels = np.zeros(len(points), dtype=np.uint8)
    for organ in TORSO:
        if organ.hu == LIVER:
            labels[organ.inside(points)] = 1
        elif organ.radii == (25, 20, 50):
            labels[organ.inside(points)] = 2
    return labels.reshape(shape)


@pytest.fixture(scope="session")
def labelled_corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three labelled phantoms at 6 mm (two to train, the last to validate)."""
    root = tmp_path_factory.mktemp("labelled")
    for folder in ("imagesTr", "labelsTr"):
        (root / folder).mkdir()
    shape = (60, 44, 30)
    for case, shift in enumerate((0.0, 9.0, -6.0)):
        affine = affine_from((6.0, 6.0, 6.0), np.eye(3), (shift, 0.0, -110.0), shape)
        image = np.rint(render(affine, shape, seed=case)).astype(np.int16)
        save_nifti(root / "imagesTr" / f"case{case}.nii.gz", image, affine)
        save_nifti(root / "labelsTr" / f"case{case}.nii.gz", phantom_labels(affine, shape), affine)
    (root / "labelsTr" / "labels.json").write_text(json.dumps({"labels": {str(k): v for k, v in ORGANS.items()}}))
    out = root / "corpus"
    code, output = run(
        "build", str(root / "imagesTr"), "--out", str(out), "--labels", str(root / "labelsTr"), "--spacing", "6"
    )
    assert code == 0, output
    return str(out)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))
