"""Preemption and machine limits: SIGTERM checkpoints and resumes on the same curve; snapshots; memory; workers."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctssl import config as config_module
from ctssl import memory
from ctssl.checkpoint import load
from ctssl.train import pretrain
from tests.ctssl.test_train import _config

STEPS = 4
CORPUS = [sys.executable, "-c", "from corpus.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # every run sums in the same order


def logged_steps(out: Path) -> list[dict[str, float]]:
    path = out / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pretrain_command(corpus_url: str, out: Path, *extra: str) -> list[str]:
    options = ["--corpus", corpus_url, "--out", str(out), "--steps", str(STEPS), "--batch-size", "2"]
    options += ["--warmup-steps", "2", "--log-every", "1", "--checkpoint-every", "100", "--workers", "0", *extra]
    return [*CORPUS, "pretrain", "voco", "--tiny", *options]


def test_a_sigterm_run_checkpoints_exits_0_and_resumes_on_the_uninterrupted_curve(phantom_corpus, tmp_path):
    """Three real `corpus pretrain` processes: uninterrupted, SIGTERM'd after its first step, and its resume."""
    straight = subprocess.run(pretrain_command(phantom_corpus, tmp_path / "straight"), env=ENV, timeout=600)
    assert straight.returncode == 0
    out = tmp_path / "preempted"
    run = subprocess.Popen(
        pretrain_command(phantom_corpus, out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 600
    while not logged_steps(out) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)  # as a scheduler preempting the job: during step 2 or later
    output, errors = run.communicate(timeout=600)
    assert run.returncode == 0, errors
    stopped = re.search(r"SIGTERM: stopped after step (\d+) of 4, checkpoint .*last\.pt. Resume with:\n  (.*)", output)
    assert stopped, output
    reached, resume = int(stopped.group(1)), shlex.split(stopped.group(2))
    assert 1 <= reached < STEPS and load(out / "checkpoints" / "last.pt")["step"] == reached
    assert resume[0] == "corpus" and resume[-1] == "--resume"
    resumed = subprocess.run([*CORPUS, *resume[1:]], env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"steps {reached} -> {STEPS}" in resumed.stderr
    curve = {record["step"]: record for record in logged_steps(out)}
    expected = logged_steps(tmp_path / "straight")
    assert sorted(curve) == [record["step"] for record in expected] == list(range(1, STEPS + 1))
    for record in expected:
        for key in ("loss", "lr", "grad_norm"):
            assert curve[record["step"]][key] == pytest.approx(record[key], rel=1e-4, abs=1e-6), (record["step"], key)


def test_keep_checkpoints_keeps_the_newest_snapshots_besides_last(phantom_corpus, tmp_path):
    pretrain(_config(phantom_corpus, tmp_path, steps=3, checkpoint_every=1, keep_checkpoints=2))
    folder = tmp_path / "checkpoints"
    assert sorted(path.name for path in folder.iterdir()) == ["last.pt", "step-00000002.pt", "step-00000003.pt"]
    assert load(folder / "step-00000002.pt")["step"] == 2 and load(folder / "last.pt")["step"] == 3


def test_a_step_that_cannot_fit_is_refused_before_training_with_the_options_to_change(
    phantom_corpus, tmp_path, monkeypatch
):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)
    with pytest.raises(ValueError, match=r"voco needs about .* on cpu, but 0\.00 GiB are free\. Lower --batch-size"):
        pretrain(_config(phantom_corpus, tmp_path, steps=2))
    assert not (tmp_path / "checkpoints").exists()
    assert pretrain(_config(phantom_corpus, tmp_path, steps=1, memory_check=False)).steps == 1


def test_loader_workers_default_to_at_most_the_usable_cores(monkeypatch):
    monkeypatch.setattr(config_module, "usable_cores", lambda: 2)
    assert config_module.default_workers() == 2
    monkeypatch.setattr(config_module, "usable_cores", lambda: 64)
    assert config_module.default_workers() == config_module.MAX_WORKERS
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    monkeypatch.setattr(config_module, "usable_cores", lambda: 16)
    assert config_module.default_workers() == 2
