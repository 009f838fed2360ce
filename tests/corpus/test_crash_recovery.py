"""Crash recovery: a build killed at any moment (SIGKILL, a dead worker) resumes to the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from dask.distributed import Client

from corpus.build import build_corpus
from corpus.faults import DELAY_ENV
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.corpus.conftest import content, kill_tree, run_build, start_build, verify


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


ROUNDS = 10


@pytest.mark.slow
def test_a_multi_process_build_killed_as_a_whole_process_tree_resumes_to_the_same_corpus(scans, reference, tmp_path):
    """10 rounds: a --workers 2 build is SIGKILLed with all its worker processes (as an OOM killer, a preemption or
    a container stop does) 1 or 2 times at random moments, each rerun starting at once while the killed build is
    still a zombie; the last rerun finishes. Every round's corpus equals an uninterrupted build and verifies clean.
    """
    rng = np.random.default_rng(20)
    options = ("--workers", "2", "--volumes-per-shard", "2")
    started = time.monotonic()
    uninterrupted = start_build(scans, tmp_path / "uninterrupted", *options)
    output = uninterrupted.communicate(timeout=120)[0].decode()
    assert uninterrupted.returncode == 3, output
    duration = time.monotonic() - started  # kills fall anywhere in a build, start-up included
    kills = 0
    for number in range(ROUNDS):
        out = tmp_path / f"round{number}"
        killed = []
        for _ in range(int(rng.integers(1, 3))):
            build = start_build(scans, out, *options)
            time.sleep(float(rng.uniform(0.05, duration)))
            kill_tree(build)  # not reaped yet: the next build finds a zombie holding the lock
            killed.append(build)
        final = start_build(scans, out, *options)
        output = final.communicate(timeout=120)[0].decode()
        for build in killed:
            build.communicate()
        kills += len(killed)
        assert final.returncode == 3, output
        assert content(out) == reference, f"round {number}: {output}"
        assert verify(out) == (0, "verified 7 arrays: all good\n"), f"round {number}"
    assert kills >= ROUNDS


TASK_INPUT_S = 1.0  # each input of a task on the cluster takes at least this long


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def holds_lock(out: Path, process: subprocess.Popen[bytes]) -> bool:
    """The build ``process`` holds the lock (its tasks are submitted), or it has ended."""
    try:
        return bool(json.loads((out / "_work" / "lock").read_text())["pid"] == process.pid)
    except (OSError, ValueError, KeyError):
        return process.poll() is not None


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A separately started `dask scheduler` and `dask worker` (2 processes, 1 thread each): localhost, random ports."""
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip(f"no dask command beside {sys.executable}")
    folder = tmp_path_factory.mktemp("cluster")
    address_file = folder / "scheduler.json"
    common = ["--no-dashboard", "--scheduler-file", str(address_file)]
    logs = (folder / "scheduler.log").open("wb"), (folder / "workers.log").open("wb")
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
        stdout=logs[0],
        stderr=logs[0],
        start_new_session=True,
    )
    workers = None
    try:
        wait_for(address_file.exists, timeout=60)
        workers = subprocess.Popen(
            [dask, "worker", "--nworkers", "2", "--nthreads", "1", "--local-directory", str(folder), *common],
            env={**os.environ, DELAY_ENV: f"after_ingest:{TASK_INPUT_S}"},  # tasks still run when a client dies
            stdout=logs[1],
            stderr=logs[1],
            start_new_session=True,
        )
        address = json.loads(address_file.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in (workers, scheduler):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)


@pytest.mark.slow
def test_a_build_on_a_dask_cluster_resumes_at_once_after_its_client_is_killed_while_tasks_run(
    scans, reference, tmp_path, dask_cluster
):
    """5 rounds: the client of a build on an external cluster is SIGKILLed 1 or 2 times while its tasks run on the
    workers, and the next build starts at once, while those tasks still write into OUT; the last one finishes.
    Every round's corpus equals an uninterrupted build and verifies clean.
    """
    rng = np.random.default_rng(21)
    options = ("--scheduler", dask_cluster, "--volumes-per-shard", "2")
    for number in range(5):
        out = tmp_path / f"round{number}"
        killed = []
        for _ in range(int(rng.integers(1, 3))):
            client = start_build(scans, out, *options)
            wait_for(lambda: holds_lock(out, client), timeout=120)  # noqa: B023
            time.sleep(float(rng.uniform(0.0, 2 * TASK_INPUT_S)))  # while its tasks run
            kill_tree(client)
            killed.append(client)
        final = start_build(scans, out, *options)
        output = final.communicate(timeout=180)[0].decode()
        for client in killed:
            client.communicate()
        assert final.returncode == 3, output
        assert content(out) == reference, f"round {number}: {output}"
        assert verify(out) == (0, "verified 7 arrays: all good\n"), f"round {number}"
