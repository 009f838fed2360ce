"""Starting a run: new, or resumed from OUT/checkpoints/last.pt, decided once for every rank."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ctssl import checkpoint, distributed

CHECKPOINT = Path("checkpoints") / "last.pt"


def decide(out: Path, resume: bool, context: distributed.Context) -> bool:
    """True to resume. Rank 0 looks at OUT and every rank follows, so all start at the same step."""
    path = out / CHECKPOINT
    verdict = ""
    if context.main:
        if path.exists() and not resume:
            verdict = f"{path} holds an earlier run: pass --resume to continue it, or choose another --out"
        elif path.exists():
            verdict = "resume"
        elif resume:
            print(f"No checkpoint at {path}: starting at step 0", file=sys.stderr)
    verdict = distributed.broadcast(verdict, context)
    if verdict and verdict != "resume":
        raise FileExistsError(verdict)
    if verdict and not distributed.all_true(path.exists(), context):
        raise FileNotFoundError(f"Some process cannot see {path}: OUT must be on storage every node shares")
    return verdict == "resume"


def identity(
    method: str, model_options: dict[str, Any], batch_size: int, optimizer: str, momentum: float
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: anything that shapes the weights or the optimizer state."""
    return {
        "method": method,
        "model_options": model_options,
        "batch_size": batch_size,
        "optimizer_name": optimizer,
        "momentum": momentum,
    }


def restore(
    path: Path,
    expected: dict[str, Any],
    stream: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    weight_decay: float,
    announce: bool,
) -> int:
    """Load model, optimizer and RNG states; return the step reached.

    The learning rate follows the step (see ``schedule``), so a resumed run may change
    --lr, --weight-decay or --steps. A different data stream (seed, corpus, mixture,
    workers, processes) is allowed but warned about: the run then leaves the sample order it had.
    """
    state = checkpoint.load(path)
    saved = {key: state.get(key) for key in expected}
    if saved != expected:
        differ = {key: (saved[key], expected[key]) for key in expected if saved[key] != expected[key]}
        raise ValueError(
            f"{path} cannot be resumed with another {', '.join(differ)} (checkpoint, asked: {differ}); "
            "resume with the same method, model, batch size and optimizer, or start a new --out"
        )
    if state["stream"] != stream and announce:
        changed = sorted(key for key in stream if state["stream"].get(key) != stream[key])
        note = f"Resuming with other {', '.join(changed)}: the samples will not follow the earlier order"
        print(note, file=sys.stderr)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    for group in optimizer.param_groups:
        group["weight_decay"] = weight_decay
    checkpoint.restore_rng(state["rng"])
    return int(state["step"])


def check_steps(reached: int, steps: int, path: Path) -> None:
    if steps <= reached:
        raise ValueError(f"{path} is at step {reached} already: pass --steps above {reached} to train longer")


def state(
    step: int, identity_: dict[str, Any], stream: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    return {
        "step": step,
        **identity_,
        "stream": stream,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": checkpoint.rng_states(),
    }
