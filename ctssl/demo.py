"""The demo's last act (the ``corpus.demo`` entry point): a few CPU steps of every method on the demo corpus."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TextIO

from ctssl.methods import METHODS

DEMO_STEPS = 3


def demo_pretraining(corpus_url: str, out: Path, stream: TextIO) -> None:
    """Run DEMO_STEPS steps of each method, its default recipe's tiny options, into ``out/<method>``; earlier runs
    are replaced."""
    try:
        from ctssl.train import TrainConfig, pretrain
    except ImportError as error:
        print(f"\npre-training steps skipped: pip install 'ct-corpus[train]' ({error})", file=stream)
        return
    results = {}
    for method in METHODS.values():
        folder = out / method.name
        shutil.rmtree(folder, ignore_errors=True)
        config = TrainConfig(
            method.name,
            corpus_url,
            folder,
            steps=DEMO_STEPS,
            batch_size=2,
            warmup_steps=0,
            log_every=1,
            workers=0,
            device="cpu",
            model=method.recipe().tiny,
        )
        print(f"\n{method.name}: {DEMO_STEPS} CPU steps, tiny model, into {folder}", file=stream)
        results[method.name] = pretrain(config, stream)
    for name, result in results.items():
        loss = result.records[-1]["loss"]
        print(f"{name}: loss {loss:.4f} after {result.steps} steps; encoder weights: {result.export}", file=stream)
