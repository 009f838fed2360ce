"""VoCo's options and the paper's values, as plain data (no torch): the CLI shows them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ctssl.methods.base import MethodOptions, Optimisation


@dataclass(frozen=True)
class VoCoOptions(MethodOptions):
    feature_size: int = 48  # SwinUNETR feature size
    use_v2: bool = False  # SwinUNETR v2 (residual conv blocks in every stage)
    window_size: int = 7  # Swin attention window (SwinUNETR's default)
    projection_dim: int = 2048  # projector output
    regularization_weight: float = 1.0  # lambda (Eq. 7)
    teacher_momentum: float | None = None  # the momentum-teacher variant of the released code when set (0.9 there)
    grid: tuple[int, int] = (4, 4)  # bases per region, x by y
    base_size: tuple[int, int, int] = (64, 64, 64)  # base and random crop size, voxels
    random_crops: int = 4  # k


PAPER = VoCoOptions()
LARGE = replace(PAPER, grid=(3, 3))  # the released large-scale code: 3 x 3 bases in a 192 x 192 x 64 region
TINY = VoCoOptions(
    feature_size=12, window_size=4, projection_dim=64, grid=(2, 2), base_size=(32, 32, 32), random_crops=2
)
OPTIMISATION = Optimisation(
    optimizer="adamw", lr=1e-3, weight_decay=1e-2, warmup_steps=100, batch_size=4, grad_clip=1.0
)
