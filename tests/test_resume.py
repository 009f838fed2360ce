"""Crash safety, resume, the build lock, verify, parallel and remote builds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import corpus
from corpus.build import build_corpus
from corpus.cli import main
from corpus.sources import discover
from corpus.spec import BuildSpec
from corpus.verify import verify_corpus
from tests.conftest import save_nifti

BUILD = [sys.executable, "-c", "from corpus.cli import main; main()", "build"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


def verify(out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", str(out)])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def reference(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[object, ...]]:
    out = tmp_path_factory.mktemp("reference") / "corpus"
    assert run_build(inputs, out) == 3  # the broken input fails, the build finishes
    return content(out)


@pytest.mark.parametrize(
    "crashes",
    [
        ["after_ingest:2"],  # an array written, its journal entry not
        ["after_journal:4"],  # inside the second shard
        ["between_parts:1"],  # thumbnails part written, manifest part not
        ["after_commit:2"],  # second shard committed, its journal not yet removed
        ["after_ingest:1", "after_journal:2", "between_parts:2"],  # killed again while resuming
    ],
)
def test_sigkill_at_any_point_then_rerun_equals_an_uninterrupted_build(inputs, reference, tmp_path, crashes):
    out = tmp_path / "corpus"
    for crash in crashes:
        assert run_build(inputs, out, crash) == -signal.SIGKILL
    assert run_build(inputs, out) == 3
    assert content(out) == reference
    code, output = verify(out)
    assert code == 0, output
    assert not (out / "_work" / "lock").exists()


def test_a_second_build_is_refused_while_one_runs(inputs, tmp_path):
    out = tmp_path / "corpus"
    (out / "_work").mkdir(parents=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}  # this process: alive
    (out / "_work" / "lock").write_text(json.dumps(holder))
    result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(out)])
    assert result.exit_code == 1
    assert "Another build holds" in result.output and str(os.getpid()) in result.output


def test_a_stale_lock_from_a_dead_process_is_taken_over(inputs, tmp_path):
    out = tmp_path / "corpus"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / "_work").mkdir(parents=True)
    (out / "_work" / "lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    assert run_build(inputs, out) == 3
    assert len(corpus.open(str(out)).volume_ids) == 7


def test_verify_catches_tampering_missing_and_unlisted_arrays(inputs, tmp_path):
    out = tmp_path / "corpus"
    run_build(inputs, out)
    opened = corpus.open(str(out))
    first, second = opened.volume_ids[:2]
    first_shard = next(r["shard"] for r in opened.manifest.to_pylist() if r["volume_id"] == first)
    writable = zarr.open_array(zarr.storage.LocalStore(out / "shards" / f"{first_shard}.zarr"), path=f"{first}/0")
    writable[0, 0, 0] = writable[0, 0, 0] + 1
    shard = next(r["shard"] for r in opened.manifest.to_pylist() if r["volume_id"] == second)
    array_folder = out / "shards" / f"{shard}.zarr" / second
    os.rename(array_folder, array_folder.with_name("stray"))
    code, output = verify(out)
    assert code == 1
    assert f"{first}: checksum differs" in output
    assert f"{second}: cannot be read" in output
    assert "stray: an array with no manifest row" in output


def test_two_worker_processes_build_the_same_corpus(inputs, reference, tmp_path):
    out = tmp_path / "corpus"
    spec = BuildSpec()
    report = build_corpus(discover([inputs], []), str(out), spec, volumes_per_shard=2, progress=False, workers=2)
    assert report.exit_code == 3
    assert content(out) == reference
    assert verify(out)[0] == 0


def test_a_remote_fsspec_corpus(inputs):
    url = "memory://corpus-test/out"
    report = build_corpus(discover([inputs], []), url, BuildSpec(), progress=False)
    assert report.counts()["ok"] == 7
    opened = corpus.open(url)
    region = opened.read(opened.volume_ids[0], ((0, 8), (0, 8), (0, 4)))
    assert region.shape == (8, 8, 4) and region.dtype == np.int16
    assert verify_corpus(opened).ok


def test_sigkill_at_random_moments_then_resume(inputs, reference, tmp_path):
    """Kill a real build at random instants (bounded: 6 kills, 2 s each at most), resume each time."""
    rng = np.random.default_rng(11)
    out = tmp_path / "corpus"
    command = [*BUILD, str(inputs), "--out", str(out), "--volumes-per-shard", "2"]
    env = {k: v for k, v in os.environ.items() if k != "CORPUS_CRASH_AT"}
    killed = 0
    for _ in range(6):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=float(rng.uniform(0.3, 2.0)))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed += 1
    assert run_build(inputs, out) in (0, 3)  # finishes what is left (0 if nothing was left to fail)
    assert content(out) == reference
    assert verify(out)[0] == 0
    assert killed >= 1


def test_a_killed_worker_process_has_its_shard_retried(inputs, reference, tmp_path, monkeypatch):
    """One dask worker dies mid-shard (SIGKILL, once); the task reruns elsewhere from its journal."""
    monkeypatch.setenv("CORPUS_CRASH_AT", "after_journal:1")
    monkeypatch.setenv("CORPUS_CRASH_MARKER", str(tmp_path / "crashed-once"))
    out = tmp_path / "corpus"
    report = build_corpus(discover([inputs], []), str(out), BuildSpec(), volumes_per_shard=2, progress=False, workers=2)
    assert (tmp_path / "crashed-once").exists()  # a worker really died
    assert report.exit_code == 3
    assert content(out) == reference
    assert verify(out)[0] == 0


def test_two_real_builds_at_once_the_second_is_refused(inputs, tmp_path):
    """The first build is paused (SIGSTOP) while it holds the lock; the second must be refused."""
    out = tmp_path / "corpus"
    first = subprocess.Popen(
        [*BUILD, str(inputs), "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(3000):  # bounded: 30 s
            if (out / "_work" / "lock").exists() or first.poll() is not None:
                break
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)
        assert first.poll() is None, "the first build ended before it could be paused"
        second = subprocess.run([*BUILD, str(inputs), "--out", str(out)], capture_output=True, text=True, timeout=60)
    finally:
        first.send_signal(signal.SIGCONT)
        first.wait(timeout=120)
    assert second.returncode == 1
    assert "Another build holds" in second.stdout + second.stderr
    assert first.returncode == 3
    assert len(corpus.open(str(out)).volume_ids) == 7
