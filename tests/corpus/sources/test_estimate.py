"""The dry run's size estimate, from headers only, against what the build stores."""

from __future__ import annotations

import numpy as np

import corpus
from tests.conftest import save_nifti
from tests.corpus.conftest import run


def test_dry_run_estimates_the_voxels_the_build_stores(inputs, tmp_path):
    from corpus.sources import discover
    from corpus.sources.estimate import target_voxels
    from corpus.spec import BuildSpec

    estimates = {item.relpath: target_voxels(item, BuildSpec().spacing) for item in discover([inputs], [])}
    run("build", str(inputs), "--out", str(tmp_path / "c"))
    for row in corpus.open(str(tmp_path / "c")).manifest.to_pylist():
        if row["status"] == "ok":
            stored = int(np.prod(row["shape"]))
            assert abs(estimates[row["input_path"]] - stored) / stored < 0.1, row["input_path"]
    assert estimates["empty.nii.gz"] == 0  # unreadable headers estimate nothing


def test_a_header_that_is_not_3d_estimates_nothing_instead_of_stopping_the_dry_run(tmp_path):
    from corpus.sources import discover
    from corpus.sources.estimate import target_voxels

    save_nifti(tmp_path / "flat.nii.gz", np.zeros((20, 20), np.int16), np.eye(4))
    (item,) = discover([tmp_path / "flat.nii.gz"], [])
    assert target_voxels(item, (1.5, 1.5, 1.5)) == 0
