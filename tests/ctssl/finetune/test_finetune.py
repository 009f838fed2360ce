"""`corpus finetune`: learns from labels in the shards, validates on a held-out volume, resumes, compares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ctssl.finetune.config import TINY
from ctssl.finetune.model import build_model, load_weights
from tests.corpus.conftest import run

TINY_RUN = ("--tiny", "--model", "basicunet", "--crop", "32", "--batch-size", "2", "--lr", "3e-3",
            "--warmup-steps", "2", "--overlap", "0.25", "--log-every", "5", "--device", "cpu")


def test_dice_rises_on_the_held_out_volume(labelled_corpus: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = run("finetune", labelled_corpus, "--weights", "none", "--out", str(out), *TINY_RUN,
                       "--steps", "40", "--val-every", "20")
    assert code == 0, output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["history"]] == [0, 20, 40]
    assert metrics["split"] == {"train": ["imagesTr-case0", "imagesTr-case1"], "val": ["imagesTr-case2"]}
    assert set(metrics["final"]["dice"]) == {"liver", "kidney"}
    start, final = metrics["history"][0]["mean_dice"], metrics["final"]["mean_dice"]
    assert final > start + 0.3, (start, final)
    assert metrics["final"]["dice"]["liver"] > 0.7
