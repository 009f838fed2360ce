"""Crash recovery: a build killed at any moment (SIGKILL, a dead worker) resumes to the uninterrupted result."""

from __future__ import annotations

import os
import signal
import subprocess

import numpy as np
import pytest

from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.corpus.conftest import BUILD, content, run_build, verify


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
def test_sigkill_at_any_point_then_rerun_equals_an_uninterrupted_build(scans, reference, tmp_path, crashes):
    out = tmp_path / "corpus"
    for crash in crashes:
        assert run_build(scans, out, crash) == -signal.SIGKILL
    assert run_build(scans, out) == 3
    assert content(out) == reference
    code, output = verify(out)
    assert code == 0, output
    assert not (out / "_work" / "lock").exists()


def test_sigkill_at_random_moments_then_resume(scans, reference, tmp_path):
    """Kill a real build at random instants (bounded: 6 kills, 2 s each at most), resume each time."""
    rng = np.random.default_rng(11)
    out = tmp_path / "corpus"
    command = [*BUILD, str(scans), "--out", str(out), "--volumes-per-shard", "2"]
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
    assert run_build(scans, out) in (0, 3)  # finishes what is left (0 if nothing was left to fail)
    assert content(out) == reference
    assert verify(out)[0] == 0
    assert killed >= 1


def test_a_killed_worker_process_has_its_shard_retried(scans, reference, tmp_path, monkeypatch):
    """One dask worker dies mid-shard (SIGKILL, once); the task reruns elsewhere from its journal."""
    monkeypatch.setenv("CORPUS_CRASH_AT", "after_journal:1")
    monkeypatch.setenv("CORPUS_CRASH_MARKER", str(tmp_path / "crashed-once"))
    out = tmp_path / "corpus"
    report = build_corpus(discover([scans], []), str(out), BuildSpec(), volumes_per_shard=2, progress=False, workers=2)
    assert (tmp_path / "crashed-once").exists()  # a worker really died
    assert report.exit_code == 3
    assert content(out) == reference
    assert verify(out)[0] == 0
