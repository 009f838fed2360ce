"""PCRLv2's options and the paper's values, as plain data (no torch): the CLI shows them."""

from __future__ import annotations

from dataclasses import dataclass

from ctssl.methods.base import MethodOptions, Optimisation


@dataclass(frozen=True)
class PCRLv2Options(MethodOptions):
    widths: tuple[int, int, int, int, int] = (32, 64, 128, 256, 512)  # nsUNet encoder widths
    local_views: int = 6  # local views per sample


PAPER = PCRLv2Options()
TINY = PCRLv2Options(widths=(8, 16, 32, 64, 128), local_views=2)
OPTIMISATION = Optimisation(optimizer="sgd", lr=1e-2, weight_decay=1e-5, warmup_steps=0, batch_size=32, grad_clip=0.0)
