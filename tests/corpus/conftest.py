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
from tests.corpus.duplicates.conftest import cropped, flipped_to_lps, random_scan, rewritten

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


def assert_nowhere(out: Path, needles: list[str]) -> None:
    """No needle in any byte of any file under ``out`` (manifest, attributes, logs, reports), nor in a decoded row."""
    encoded = [needle.encode() for needle in needles]
    for path in out.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [n for n in encoded if n in content], path
    decoded = " ".join(str(v) for row in corpus.open(str(out)).manifest.to_pylist() for v in row.values())
    assert not [n for n in needles if n in decoded]


@pytest.fixture(scope="session")
def four_collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collections a..d each hold one version of scan 0 and one other body of the same anatomy plan:
    a/patient/series (DICOM), b/relabelled.nii.gz (spacing header rewritten), c/subset0/<series UID>.mhd
    (flipped to LPS, named by the DICOM series UID, as LUNA16 does), d/cut.nii.gz (60% of the slices)."""
    import pydicom

    from corpus.phantom_dicom import write_array_series

    root = tmp_path_factory.mktemp("collections")
    hu, affine = random_scan(0)
    files = write_array_series(root / "a" / "patient" / "series", hu, affine, uid_seed="scan0")
    uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    for folder in ("b", "c/subset0", "d"):
        (root / folder).mkdir(parents=True)
    save_nifti(root / "b" / "relabelled.nii.gz", *rewritten(hu, affine))
    write_metaimage(root / "c" / "subset0" / f"{uid}.mhd", *flipped_to_lps(hu, affine))
    save_nifti(root / "d" / "cut.nii.gz", *cropped(hu, affine))
    for number, name in enumerate("abcd", start=1):
        save_nifti(root / name / f"other{number}.nii.gz", *random_scan(number))
    return root


@pytest.fixture(scope="session")
def collections_corpus(four_collections: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The four collections built into one corpus, each as a named source, as users run it."""
    arguments = [item for name in "abcd" for item in ("--source", f"{name}={four_collections / name}")]
    out = str(tmp_path_factory.mktemp("collections-corpus") / "corpus")
    code, output = run("build", *arguments, "--out", out)
    assert code == 0, output
    return out
