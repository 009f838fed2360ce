"""Preemption and machine limits: SIGTERM checkpoints and resumes on the same curve; snapshots; memory; workers."""

from __future__ import annotations

import json
import re
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


def logged_steps(out: Path) -> list[dict[str, float]]:
    path = out / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_sigterm_run_checkpoints_exits_0_and_resumes_on_the_uninterrupted_curve(phantom_corpus, tmp_path):
    straight = pretrain(_config(phantom_corpus, tmp_path / "straight", steps=STEPS))
    out = tmp_path / "preempted"
    options = ["--corpus", phantom_corpus, "--out", str(out), "--steps", str(STEPS), "--batch-size", "2"]
    options += ["--warmup-steps", "2", "--log-every", "1", "--checkpoint-every", "100", "--workers", "0"]
    command = [sys.executable, "-c", "from corpus.cli import main; main()", "pretrain", "voco", "--tiny", *options]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not logged_steps(out) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)  # as a scheduler preempting the job: during step 2 or later
    output, errors = run.communicate(timeout=600)
    assert run.returncode == 0, errors
    stopped = re.search(r"SIGTERM: stopped after step (\d+) of 4, checkpoint .*last\.pt", output)
    assert stopped, output
    assert f"--out {out} " in output and output.rstrip().endswith("--resume")
    reached = int(stopped.group(1))
    assert 1 <= reached < STEPS and load(out / "checkpoints" / "last.pt")["step"] == reached
    resumed = pretrain(_config(phantom_corpus, out, steps=STEPS, resume=True))
    assert resumed.start_step == reached
    curve = {record["step"]: record for record in logged_steps(out)}
    assert sorted(curve) == list(range(1, STEPS + 1))
    for record in straight.records:
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
