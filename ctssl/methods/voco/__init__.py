"""VoCo (CVPR 2024): predict where random crops sit by their similarity to base crops of the same region."""

from __future__ import annotations

import click

from ctssl.methods.base import IntTuple, Method, training_in
from ctssl.methods.voco.defaults import OPTIMISATION, PAPER, TINY, VoCoOptions
from ctssl.samplers.voco import VoCoSampler


def _sampler(options: VoCoOptions) -> VoCoSampler:
    return VoCoSampler(grid=options.grid, base=options.base_size, random_crops=options.random_crops)


def _min_batch_size(options: VoCoOptions) -> int:
    # The projector's batch norm sees the B * n bases and the B * k random crops apart: each needs two.
    return -(-2 // min(options.grid[0] * options.grid[1], options.random_crops))


METHOD = Method(
    name="voco",
    summary="VoCo: volume contrast, SwinUNETR encoder (CVPR 2024).",
    paper=PAPER,
    tiny=TINY,
    optimisation=OPTIMISATION,
    cli_options=(
        click.option(
            "--feature-size", type=click.IntRange(min=12), help=f"SwinUNETR feature size. [{PAPER.feature_size}]"
        ),
        click.option("--swin-v2", "use_v2", is_flag=True, default=None, help="SwinUNETR v2 blocks."),
        click.option(
            "--teacher-momentum", type=click.FloatRange(0, 1), help="The momentum-teacher variant (e.g. 0.9)."
        ),
        click.option("--grid", type=IntTuple("x", 2), help="Bases per region, e.g. 3x3. [{}x{}]".format(*PAPER.grid)),
    ),
    sampler=_sampler,
    min_batch_size=_min_batch_size,
    training=training_in("ctssl.methods.voco.training"),
)
