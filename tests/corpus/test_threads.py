"""--threads: the default share of cores per worker, and that threads never change a stored voxel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corpus.threads import available_cores, default_threads
from tests.corpus.conftest import content, run


def test_default_threads_share_the_available_cores_among_workers():
    cores = available_cores()
    assert default_threads(1) == cores
    assert default_threads(cores + 1) == 1
    assert default_threads(2) == max(1, cores // 2)


def test_build_help_explains_threads():
    status, output = run("build", "--help")
    assert status == 0 and "--threads" in output and "divided by --workers" in output


def test_thread_counts_store_identical_volumes(inputs: Path, shared_ct: Path, tmp_path: Path):
    """NIfTI, MetaImage and a gantry-tilted DICOM series with uneven gaps, built with 1 and 3 threads."""
    shutil.copytree(shared_ct / "dcm_qa_ct" / "ge_head_tilt", inputs / "ge_head_tilt")
    results = []
    for threads in ("1", "3"):
        out = tmp_path / f"corpus-{threads}"
        status, _ = run("build", str(inputs), "--out", str(out), "--threads", threads)
        assert status == 3  # the broken inputs of the folder fail, the rest is stored
        results.append(content(out))
    assert results[0] == results[1]
    assert sum(row[1] == "ok" for row in results[0].values()) == 3


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_threads_must_be_a_positive_number(inputs: Path, tmp_path: Path, bad: str):
    status, output = run("build", str(inputs), "--out", str(tmp_path / "c"), "--threads", bad)
    assert status == 2 and "--threads" in output
