"""Learning-rate schedule: linear warmup, then cosine decay to zero at the last step."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base lr at ``step`` (0-based): (step + 1) / warmup during warmup, then cosine."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
