"""Pre-training options and the papers' defaults: plain values, no torch, so the CLI can show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelOptions:
    """Architecture and crop options; defaults are the papers'. Tests and the demo shrink them."""

    feature_size: int = 48  # VoCo: SwinUNETR feature size
    use_v2: bool = False  # VoCo: SwinUNETR v2 (residual conv blocks in every stage)
    window_size: int = 7  # VoCo: Swin attention window (SwinUNETR's default)
    projection_dim: int = 2048  # VoCo projector output
    regularization_weight: float = 1.0  # VoCo lambda (Eq. 7)
    teacher_momentum: float | None = None  # VoCo momentum-teacher variant when set (released code: 0.9)
    grid: tuple[int, int] = (4, 4)  # VoCo bases per region, x by y
    base_size: tuple[int, int, int] = (64, 64, 64)  # VoCo base and random crop size, voxels
    random_crops: int = 4  # VoCo k
    widths: tuple[int, int, int, int, int] = (32, 64, 128, 256, 512)  # PCRLv2 nsUNet encoder widths
    local_views: int = 6  # PCRLv2 local views per sample


@dataclass(frozen=True)
class Defaults:
    """Optimisation defaults from each paper's implementation details."""

    optimizer: str
    lr: float
    weight_decay: float
    warmup_steps: int
    batch_size: int
    grad_clip: float


DEFAULTS = {
    "voco": Defaults(optimizer="adamw", lr=1e-3, weight_decay=1e-2, warmup_steps=100, batch_size=4, grad_clip=1.0),
    "pcrlv2": Defaults(optimizer="sgd", lr=1e-2, weight_decay=1e-5, warmup_steps=0, batch_size=32, grad_clip=0.0),
}


# Small enough for a CPU: the demo's few steps and the tests. Not for real pre-training.
TINY = ModelOptions(
    feature_size=12,
    window_size=4,
    projection_dim=64,
    grid=(2, 2),
    base_size=(32, 32, 32),
    random_crops=2,
    widths=(8, 16, 32, 64, 128),
    local_views=2,
)


def per_method(name: str) -> str:
    """'[voco 4, pcrlv2 32]' for the Defaults field ``name``: CLI help text."""
    return "[" + ", ".join(f"{method} {getattr(values, name)}" for method, values in DEFAULTS.items()) + "]"
