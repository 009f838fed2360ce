"""The training loop: resume on the same curve, refusals, the endless stream, 2-process DDP, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import DataLoader

from corpus.cli import main
from ctssl.data import RegionDataset, TrainingStream
from ctssl.methods import METHODS
from ctssl.train import RunLog, TrainConfig, pretrain


def _config(corpus_url: str, out: Path, method: str = "voco", **changes) -> TrainConfig:
    base = TrainConfig(
        method,
        corpus_url,
        out,
        steps=6,
        batch_size=METHODS[method].min_batch_size(METHODS[method].recipe().tiny),  # the fastest a CPU test can be
        warmup_steps=2,
        log_every=1,
        checkpoint_every=3,
        workers=0,
        device="cpu",
        model=METHODS[method].recipe().tiny,
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("method", "workers", "options"),
    [
        ("voco", 2, {}),
        ("pcrlv2", 0, {}),
        ("joint2d3d", 0, {}),  # stages of 2 steps: the resumed run crosses from stage 2 into stage 3
        ("joint2d3d", 0, {"clustering": "deepcluster", "dc_recluster_every": 2}),  # banks and k-means resume too
    ],
    ids=["voco", "pcrlv2", "joint2d3d", "joint2d3d-deepcluster"],
)
def test_resume_after_a_crash_continues_the_same_loss_curve(
    phantom_corpus, tmp_path, monkeypatch, method, workers, options
):
    model = replace(METHODS[method].tiny, **options)
    straight = pretrain(_config(phantom_corpus, tmp_path / "straight", method, workers=workers, model=model))
    assert [r["step"] for r in straight.records] == [1, 2, 3, 4, 5, 6]

    calls = {"n": 0}
    original = RunLog.stepped

    def crash_in_step_five(self: RunLog) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # after the step-3 checkpoint, before step 5 completes
        original(self)

    monkeypatch.setattr(RunLog, "stepped", crash_in_step_five)
    with pytest.raises(KeyboardInterrupt):
        pretrain(_config(phantom_corpus, tmp_path / "crashed", method, workers=workers, model=model))
    monkeypatch.setattr(RunLog, "stepped", original)
    resumed = pretrain(_config(phantom_corpus, tmp_path / "crashed", method, workers=workers, resume=True, model=model))
    assert resumed.start_step == 3
    assert [r["step"] for r in resumed.records] == [4, 5, 6]
    for record in resumed.records:
        expected = straight.records[record["step"] - 1]
        for key in ("loss", "lr", "grad_norm"):
            assert record[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6), (record["step"], key)
    logged = [json.loads(line)["step"] for line in (tmp_path / "crashed" / "train.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5, 6]  # step 4, logged before the crash, was cut and logged again


def test_a_run_refuses_to_overwrite_an_earlier_one_or_resume_with_other_options(phantom_corpus, tmp_path):
    pretrain(_config(phantom_corpus, tmp_path, steps=1))
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain(_config(phantom_corpus, tmp_path, steps=2))
    with pytest.raises(ValueError, match="another batch_size"):
        pretrain(_config(phantom_corpus, tmp_path, steps=2, resume=True, batch_size=2))
    with pytest.raises(ValueError, match="another optimizer_name"):
        pretrain(_config(phantom_corpus, tmp_path, steps=2, resume=True, optimizer="sgd"))
    with pytest.raises(ValueError, match="at step 1 already"):
        pretrain(_config(phantom_corpus, tmp_path, steps=1, resume=True))
    one_base = replace(METHODS["voco"].tiny, grid=(1, 1))  # the paper's head: batch norm over bases apart
    with pytest.raises(ValueError, match="at least 2 per process"):  # 1 x 1 bases: batch norm over one base
        pretrain(_config(phantom_corpus, tmp_path / "one", batch_size=1, model=one_base))


def test_a_resumed_run_takes_the_new_lr_and_steps(phantom_corpus, tmp_path):
    pretrain(_config(phantom_corpus, tmp_path, steps=2, checkpoint_every=2))
    with (tmp_path / "train.jsonl").open("a") as log:
        log.write('{"step": 3, "loss": 0.')  # a line cut short by a crash
    longer = pretrain(_config(phantom_corpus, tmp_path, steps=4, resume=True, lr=3e-4, warmup_steps=0))
    # cosine over the new total, from the new peak: step 3 uses lr(2) = 3e-4 * 0.5 * (1 + cos(pi * 2 / 4))
    assert [r["step"] for r in longer.records] == [3, 4]
    assert longer.records[0]["lr"] == pytest.approx(3e-4 * 0.5)
    logged = [json.loads(line)["step"] for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]
    first_lr = METHODS["voco"].recipe().optimisation.lr
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == first_lr  # the first run's options are kept
    assert json.loads((tmp_path / "config.resumed-at-2.json").read_text())["lr"] == 3e-4


def test_a_stream_started_at_step_n_yields_what_a_straight_one_yields_from_step_n(phantom_corpus):
    dataset = RegionDataset(phantom_corpus, METHODS["voco"].sampler(METHODS["voco"].recipe().tiny), seed=3)

    def starts(start_batch: int, count: int) -> list[tuple]:
        stream = TrainingStream(dataset, batch_size=2, start_batch=start_batch)
        loader = iter(DataLoader(stream, batch_size=None, num_workers=2))
        batches = [next(loader) for _ in range(count)]
        return [(tuple(b["volume_id"]), tuple(map(tuple, b["region_start"].tolist()))) for b in batches]

    straight = starts(0, 7)
    assert starts(3, 4) == straight[3:]
    assert starts(4, 3) == straight[4:]


@pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker processes")
def test_more_loader_streams_than_volumes_still_feed_every_batch_and_share_volumes_evenly(phantom_corpus):
    dataset = RegionDataset(phantom_corpus, METHODS["voco"].sampler(METHODS["voco"].recipe().tiny), seed=1)
    assert len(dataset.entries) == 3
    loader = iter(DataLoader(TrainingStream(dataset, batch_size=1), batch_size=None, num_workers=4, timeout=120))
    seen = Counter(next(loader)["volume_id"][0] for _ in range(12))
    assert sorted(seen.values()) == [4, 4, 4]  # 12 samples = 4 whole epochs of 3 volumes


def _torchrun(corpus_url: str, out: Path, method: str, steps: int, *extra: str) -> list[dict]:
    """A 2-process CPU run; it compares the ranks' weights at every checkpoint and fails if they differ."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "corpus.cli", "pretrain", method, "--corpus", corpus_url, "--out", str(out), "--tiny",
        "--device", "cpu", "--steps", str(steps), "--log-every", "1", "--checkpoint-every", "1", *extra,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]


def test_two_process_cpu_ddp_run_of_pcrlv2(phantom_corpus, tmp_path):
    records = _torchrun(phantom_corpus, tmp_path, "pcrlv2", 3, "--batch-size", "2", "--workers", "1")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["world_size"] == 2 and np.isfinite(r["loss"]) for r in records)
    assert (tmp_path / "checkpoints" / "last.pt").exists() and (tmp_path / "export" / "encoder.pt").exists()


def test_two_process_cpu_ddp_voco_resumes_on_the_same_curve(phantom_corpus, tmp_path):
    # Within a 100-step warmup the lr does not depend on --steps: a 2-step run is the first 2 steps of a 3-step one.
    options = ("--batch-size", "1", "--workers", "1", "--warmup-steps", "100")
    straight = _torchrun(phantom_corpus, tmp_path / "straight", "voco", 3, *options)
    _torchrun(phantom_corpus, tmp_path / "resumed", "voco", 2, *options)
    resumed = _torchrun(phantom_corpus, tmp_path / "resumed", "voco", 3, "--resume", *options)
    assert [r["step"] for r in resumed] == [1, 2, 3] and all(r["world_size"] == 2 for r in resumed)
    for key in ("loss", "grad_norm", "lr"):
        assert resumed[2][key] == pytest.approx(straight[2][key], rel=1e-4), key


def test_cli_pretrain_and_export(phantom_corpus, tmp_path):
    runner = CliRunner()
    arguments = ["pretrain", "pcrlv2", "--corpus", phantom_corpus, "--out", str(tmp_path / "run"), "--tiny"]
    arguments += ["--steps", "2", "--batch-size", "2", "--workers", "0", "--device", "cpu", "--log-every", "1"]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "step 2/2" in result.output and "data wait" in result.output
    again = runner.invoke(main, arguments)
    assert again.exit_code == 1 and "--resume" in again.output
    exported = runner.invoke(
        main, ["export", str(tmp_path / "run" / "checkpoints" / "last.pt"), "--out", str(tmp_path / "e")]
    )
    assert exported.exit_code == 0, exported.output
    weights = torch.load(tmp_path / "e" / "encoder.pt", weights_only=True)
    final = torch.load(tmp_path / "run" / "export" / "encoder.pt", weights_only=True)
    assert weights.keys() == final.keys() and all(torch.equal(weights[k], final[k]) for k in weights)
    foreign = tmp_path / "not-a-checkpoint.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    refused = runner.invoke(main, ["export", str(foreign), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 1 and "not a ct-corpus training checkpoint" in refused.output
    bf16 = runner.invoke(main, [*arguments[:4], "--out", str(tmp_path / "bf"), "--precision", "bf16"])
    assert bf16.exit_code == 1 and "for CUDA" in bf16.output
    bad = runner.invoke(main, ["pretrain", "voco", "--corpus", phantom_corpus, "--grid", "4by4"])
    assert bad.exit_code == 2 and "--grid" in bad.output
    single = runner.invoke(main, [*arguments[:4], "--out", str(tmp_path / "one"), "--batch-size", "1"])
    assert single.exit_code == 1 and "at least 2" in single.output
