"""PCRLv2's options and recipes as plain data (no torch): the CLI shows them.

Two recipes. ``release`` (the default) follows the only released training
code (RL4M/PCRLv2: train_3d.py, run3d.sh, models/pcrlv2_model_3d.py): the
local-global comparisons averaged (divided by 2L), a scale drawn per
comparison, full-resolution restoration of the first global view plus a
deep-supervision restoration that fades out over the run, SGD at lr 1e-3 with
weight decay 1e-4. ``paper`` is the TPAMI paper's Eq. 10 taken literally (one
scale per step for every term, the 2L local-global comparisons summed) with
its section-4 optimisation (lr 1e-2, weight decay 1e-5). The README gives the
evidence for the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ctssl.methods.base import MethodOptions, Optimisation, Recipe

OBJECTIVES = ("release", "eq10")
SCALES = 5  # the nsUNet pyramid: 0 = bottleneck (1/16) .. 4 = full resolution


@dataclass(frozen=True)
class PCRLv2Options(MethodOptions):
    widths: tuple[int, int, int, int, int] = (32, 64, 128, 256, 512)  # nsUNet encoder widths
    local_views: int = 6  # local views per sample (L)
    objective: str = "release"  # release: the released training loop's loss; eq10: the paper's Eq. 10 sum
    scale: int | None = None  # every term at this pyramid scale; None: drawn at random


RELEASE = PCRLv2Options()
PAPER = replace(RELEASE, objective="eq10")
TINY = replace(PAPER, widths=(8, 16, 32, 64, 128), local_views=2)  # CPU-sized: the demo, smoke tests
RELEASE_TINY = replace(RELEASE, widths=TINY.widths, local_views=TINY.local_views)

OPTIMISATION = Optimisation(optimizer="sgd", lr=1e-2, weight_decay=1e-5, warmup_steps=0, batch_size=32, grad_clip=0.0)
RELEASE_OPTIMISATION = replace(OPTIMISATION, lr=1e-3, weight_decay=1e-4)  # main.py defaults and run3d.sh
RECIPES = (
    Recipe(
        "release",
        "the released 3D training code, whose loop is the only code behind the published weights",
        RELEASE,
        RELEASE_TINY,
        RELEASE_OPTIMISATION,
    ),
)
DEFAULT_RECIPE = "release"
