"""The demo's last act: a few CPU steps of each method on the demo corpus, with the tiny model."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ctssl.methods import TINY
from ctssl.train import RunResult, TrainConfig, pretrain

DEMO_STEPS = 3


def demo_pretraining(corpus_url: str, out: Path, stream: TextIO | None = None) -> dict[str, RunResult]:
    """Run DEMO_STEPS VoCo and PCRLv2 steps into ``out/<method>`` (earlier demo runs there are replaced)."""
    results = {}
    for method in ("voco", "pcrlv2"):
        folder = out / method
        shutil.rmtree(folder, ignore_errors=True)
        config = TrainConfig(
            method,
            corpus_url,
            folder,
            steps=DEMO_STEPS,
            batch_size=2,
            warmup_steps=0,
            log_every=1,
            workers=0,
            device="cpu",
            model=replace(TINY),
        )
        print(f"\n{method}: {DEMO_STEPS} CPU steps, tiny model, into {folder}", file=stream or sys.stderr)
        results[method] = pretrain(config, stream)
    return results
