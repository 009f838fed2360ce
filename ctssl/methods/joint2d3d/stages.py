"""Which objectives a step trains: the paper's three stages laid over --steps, or all of them every step.

Stage 1 trains f_intra by the 2D clustering (Eq. 5), stage 2 f_inter by
masked embedding prediction with f_intra frozen (Eq. 15), stage 3 both by the
3D clustering (Eq. 12). The paper runs each for 100 epochs; here each takes
its fraction of --steps, and the learning rate warms up and decays within
each stage, as when each stage was its own run. No torch here.
"""

from __future__ import annotations

from ctssl.methods.joint2d3d.defaults import JointOptions
from ctssl.schedule import warmup_cosine

JOINT, CLUSTER_2D, MASK, CLUSTER_3D = 0, 1, 2, 3  # JOINT: every objective, weighted


def stage_ends(steps: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """First step after stages 1, 2 and 3; every stage gets a step when there are three."""
    first = max(1, round(steps * fractions[0]))
    second = max(first + 1, round(steps * (fractions[0] + fractions[1])))
    return first, second, steps


def stage_span(step: int, steps: int, options: JointOptions) -> tuple[int, int, int]:
    """(stage, its first step, the step after its last) for 0-based ``step`` of a ``steps``-step run."""
    if options.mode == "2d":
        return CLUSTER_2D, 0, steps
    if options.schedule == "joint":
        return JOINT, 0, steps
    start = 0
    for stage, end in zip((CLUSTER_2D, MASK, CLUSTER_3D), stage_ends(steps, options.stage_fractions), strict=True):
        if step < end:
            return stage, start, end
        start = end
    return CLUSTER_3D, start, steps


def stage_lr_factor(options: JointOptions, step: int, steps: int, warmup_steps: int) -> float:
    """Warmup then cosine to zero within the step's stage (the whole run when there is one stage)."""
    _, start, end = stage_span(step, steps, options)
    return warmup_cosine(step - start, warmup_steps, end - start)
