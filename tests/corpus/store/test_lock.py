"""The build lock: one build at a time per corpus; a stale lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from click.testing import CliRunner

import corpus
from corpus.cli import main
from tests.corpus.conftest import BUILD, run_build


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
