"""VoCo's options and recipes as plain data (no torch): the CLI shows them.

Two recipes. ``large`` (the default) is the large-scale release that produced
the published VoCo-B/L/H pre-trained weights (Luffy03/Large-Scale-Medical,
Self-supervised/: voco_train.py, models/voco_head.py, utils/voco_trans.py):
the momentum-teacher head, 3 x 3 bases of 64^3 with 2 random crops, a
1024-wide projector, AdamW with AMSGrad at lr 1e-4 after 5000 warmup steps.
``paper`` is the CVPR 2024 paper's single-network head with its table's
values (4 x 4 bases, 4 random crops, lr 1e-3, 100 warmup steps, batch 4) and
the augmentation of the paper's own release (Luffy03/VoCo utils/data_utils.py).
The README gives the evidence for the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ctssl.methods.base import MethodOptions, Optimisation, Recipe


@dataclass(frozen=True)
class VoCoOptions(MethodOptions):
    feature_size: int = 48  # SwinUNETR feature size: 48, 96, 192 are VoCo-B, -L, -H
    use_v2: bool = True  # SwinUNETR v2 (a residual conv block in every stage), as both releases build it
    window_size: int = 7  # Swin attention window (SwinUNETR's default)
    projection_dim: int = 1024  # projector width, hidden and output
    regularization_weight: float = 1.0  # weight of the base regularization
    teacher_momentum: float | None = 0.9  # the released teacher head (EMA of the projector); None: the paper's head
    student_dropout: float = 0.2  # teacher head: each crop's embedding is zeroed for the student with this chance
    grid: tuple[int, int] = (3, 3)  # bases per region, x by y
    base_size: tuple[int, int, int] = (64, 64, 64)  # base and random crop size, voxels
    random_crops: int = 2  # k per region
    flip_probability: float = 0.2  # each crop, each axis on its own
    turn_probability: float = 0.2  # each crop: a quarter turn (1, 2 or 3) in the x-y plane
    shift_probability: float = 0.5  # each crop: intensity shift, uniform in +-shift_offset of the [0, 1] window
    shift_offset: float = 0.1
    max_degrees: float = 0.0  # each crop: a rotation about z, uniform in +-max_degrees (0 in both releases)


LARGE = VoCoOptions()
PAPER = replace(LARGE, projection_dim=2048, teacher_momentum=None, grid=(4, 4), random_crops=4, shift_probability=0.1)


def _cpu_sized(options: VoCoOptions) -> VoCoOptions:
    """For the demo and smoke tests, not for pre-training. SwinUNETR's bottleneck block normalises over
    the 1/32 grid, so a crop needs a side of 64."""
    return replace(options, feature_size=12, window_size=4, projection_dim=64, grid=(2, 2), base_size=(32, 32, 64))


TINY = replace(_cpu_sized(PAPER), random_crops=2)
LARGE_TINY = _cpu_sized(LARGE)

OPTIMISATION = Optimisation(  # the paper's table; the clipping is ours (the paper states none)
    optimizer="adamw", lr=1e-3, weight_decay=1e-2, warmup_steps=100, batch_size=4, grad_clip=1.0
)
LARGE_OPTIMISATION = Optimisation(  # AdamW(amsgrad=True) with torch's weight decay, 2 volumes per GPU, no clipping
    optimizer="amsgrad", lr=1e-4, weight_decay=1e-2, warmup_steps=5000, batch_size=2, grad_clip=0.0
)
RECIPES = (
    Recipe(
        "large",
        "the large-scale release that trained the published VoCo-B/L/H weights",
        LARGE,
        LARGE_TINY,
        LARGE_OPTIMISATION,
    ),
)
DEFAULT_RECIPE = "large"
