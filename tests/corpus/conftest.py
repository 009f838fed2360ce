"""Inputs and helpers shared by the corpus tests: folders of scans as users have them, builds run as users run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import corpus
from corpus.cli import main
from corpus.phantom import affine_from, render
from corpus.readers.metaimage import write_metaimage
from tests.conftest import save_nifti

BUILD = [sys.executable, "-c", "from corpus.cli import main; main()", "build"]


def small_phantom(
    spacing: tuple[float, float, float] = (2.0, 2.0, 3.0), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    shape = (60, 50, 20)
    affine = affine_from(spacing, np.eye(3), (0.0, 0.0, 0.0), shape)
    return np.rint(render(affine, shape, seed=seed)).astype(np.int16), affine


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder as users have them: good volumes, broken ones, and clutter."""
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    array, affine = small_phantom()
    save_nifti(folder / "good.nii.gz", array, affine)
    write_metaimage(folder / "sub" / "good2.mhd", *small_phantom((1.5, 1.5, 2.5), seed=1))
    (folder / "empty.nii.gz").write_bytes(b"")
    good = (folder / "good.nii.gz").read_bytes()
    (folder / "truncated.nii.gz").write_bytes(good[: len(good) // 3])
    (folder / "notes.nii").write_text("not an image")
    (folder / "README.txt").write_text("clutter that is not an input")
    return folder


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven small NIfTI volumes and one broken file: enough for three shards of three."""
    folder = tmp_path_factory.mktemp("resume") / "scans"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for number in range(7):
        array = rng.integers(-1000, 1000, size=(30 + number, 28, 12)).astype(np.int16)
        save_nifti(folder / f"case{number}.nii.gz", array, np.diag([2.0, 2.0, 3.0, 1.0]))
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    return folder


def content(out: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    rows = corpus.open(str(out)).manifest.to_pylist()
    keys = [(row["source"], row["input_path"]) for row in rows]
    assert len(keys) == len(set(keys)), "an input listed twice"
    return {(r["source"], r["input_path"]): (r["volume_id"], r["status"], r["reason"], r["checksum"]) for r in rows}


def run_build(inputs: Path, out: Path, crash: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "CORPUS_CRASH_AT"}
    if crash:
        env["CORPUS_CRASH_AT"] = crash
    command = [*BUILD, str(inputs), "--out", str(out), "--volumes-per-shard", "3"]
    return subprocess.run(command, env=env, capture_output=True, timeout=120).returncode


def start_build(inputs: Path, out: Path, *options: str) -> subprocess.Popen[bytes]:
    """A build in a process group of its own: what it starts (dask workers) can be killed with it.

    Its stderr joins its stdout, with Python's fault handler on, so a build that dies shows why in the test's message.
    """
    env = {k: v for k, v in os.environ.items() if k != "CORPUS_CRASH_AT"} | {"PYTHONFAULTHANDLER": "1"}
    command = [*BUILD, str(inputs), "--out", str(out), *options]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started by :func:`start_build` and every process of its group, as an OOM killer does.

    It is not reaped here: until its caller waits for it, it stays a zombie.
    """
    os.killpg(process.pid, signal.SIGKILL)


def run(*args: str) -> tuple[int, str]:
    """``corpus ARGS...`` in this process: (exit status, output)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def verify(out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", str(out)])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def reference(scans: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[object, ...]]:
    """The rows of an uninterrupted build of ``scans``."""
    out = tmp_path_factory.mktemp("reference") / "corpus"
    assert run_build(scans, out) == 3  # the broken input fails, the build finishes
    return content(out)
