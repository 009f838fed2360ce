"""Training checkpoints: written atomically, loaded without running code from the file.

Everything in a checkpoint is a tensor or a plain Python value (no pickled
objects), so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpus.store.atomic import write_file_atomic

SNAPSHOT_PREFIX = "step-"
KEYS = ("step", "method", "model_options", "batch_size", "stream", "model", "optimizer", "rng")


def save(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (temporary file, fsync, rename, fsync of the folder).

    A crash at any moment leaves either the previous checkpoint or the new one, never half of one.
    """
    write_file_atomic(path, lambda handle: torch.save(state, handle))


def keep_snapshot(last: Path, step: int, keep: int) -> None:
    """Keep the checkpoint just written as ``step-NNNNNNNN.pt`` beside ``last``, and only the ``keep`` newest."""
    if keep <= 0:
        return
    snapshot = last.with_name(f"{SNAPSHOT_PREFIX}{step:08d}.pt")
    snapshot.unlink(missing_ok=True)
    try:
        os.link(last, snapshot)  # last.pt is replaced by a rename, never rewritten: the link keeps this one
    except OSError:
        shutil.copyfile(last, snapshot)
    for older in sorted(last.parent.glob(f"{SNAPSHOT_PREFIX}*.pt"))[:-keep]:
        older.unlink()


def load(path: Path) -> dict[str, Any]:
    """A training checkpoint written by ``save``; anything else is refused with the reason."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- torch raises several types for foreign or broken files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} is not a readable ct-corpus training checkpoint ({first_line})") from None
    missing = [key for key in KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"{path} is not a ct-corpus training checkpoint: it lacks {', '.join(missing)}")
    return dict(state)


def rng_states() -> dict[str, Any]:
    """The process-wide generators (per-step randomness has its own seeded generators)."""
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": (name, np.asarray(keys).tolist(), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }


def restore_rng(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
