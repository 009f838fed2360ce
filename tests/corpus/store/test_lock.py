"""The build lock: one build at a time per corpus; a stale lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psutil
import pytest
from click.testing import CliRunner

import corpus
from corpus.cli import main
from corpus.store.lock import Holder
from tests.corpus.conftest import BUILD, run_build

HOST = socket.gethostname()


def now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def zombie_of(process: subprocess.Popen[bytes]) -> int:
    """Kill ``process`` without reaping it: its pid stays, as a zombie, until its parent waits."""
    process.kill()
    for _ in range(1000):  # bounded: 10 s
        if psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE:
            return process.pid
        time.sleep(0.01)
    raise AssertionError("the killed process never became a zombie")


def test_a_holder_is_stale_when_gone_a_zombie_or_its_pid_reused(sleeper):
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert not Holder(os.getpid(), HOST, now(), 1).is_stale()  # this process: alive
    assert not Holder(sleeper.pid, HOST, now(), 1).is_stale()  # started before its lock
    assert Holder(sleeper.pid, HOST, an_hour_ago, 1).is_stale()  # started after the lock: a reused pid
    assert not Holder(sleeper.pid, "another-machine", an_hour_ago, 1).is_stale()  # cannot be seen from here
    assert Holder().is_stale()  # unreadable
    assert Holder(zombie_of(sleeper), HOST, now(), 1).is_stale()


def test_a_lock_held_by_a_killed_build_not_yet_reaped_is_taken_over(scans, tmp_path, sleeper):
    """Right after a kill the holder is a zombie; the rerun must not take it for a running build."""
    out = tmp_path / "corpus"
    (out / "_work").mkdir(parents=True)
    holder = {"pid": zombie_of(sleeper), "host": HOST, "started": now(), "generation": 1}
    (out / "_work" / "lock").write_text(json.dumps(holder))
    assert run_build(scans, out) == 3
    assert len(corpus.open(str(out)).volume_ids) == 7


def test_a_second_build_is_refused_while_one_runs(scans, tmp_path):
    out = tmp_path / "corpus"
    (out / "_work").mkdir(parents=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}  # this process: alive
    (out / "_work" / "lock").write_text(json.dumps(holder))
    result = CliRunner().invoke(main, ["build", str(scans), "--out", str(out)])
    assert result.exit_code == 1
    assert "Another build holds" in result.output and str(os.getpid()) in result.output


def test_a_stale_lock_from_a_dead_process_is_taken_over(scans, tmp_path):
    out = tmp_path / "corpus"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / "_work").mkdir(parents=True)
    (out / "_work" / "lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    assert run_build(scans, out) == 3
    assert len(corpus.open(str(out)).volume_ids) == 7


def test_two_real_builds_at_once_the_second_is_refused(scans, tmp_path):
    """The first build is paused (SIGSTOP) while it holds the lock; the second must be refused."""
    out = tmp_path / "corpus"
    first = subprocess.Popen(
        [*BUILD, str(scans), "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(3000):  # bounded: 30 s
            if (out / "_work" / "lock").exists() or first.poll() is not None:
                break
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)
        assert first.poll() is None, "the first build ended before it could be paused"
        second = subprocess.run([*BUILD, str(scans), "--out", str(out)], capture_output=True, text=True, timeout=60)
    finally:
        first.send_signal(signal.SIGCONT)
        first.wait(timeout=120)
    assert second.returncode == 1
    assert "Another build holds" in second.stdout + second.stderr
    assert first.returncode == 3
    assert len(corpus.open(str(out)).volume_ids) == 7
