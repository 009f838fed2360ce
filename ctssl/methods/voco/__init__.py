"""VoCo (CVPR 2024; large-scale release): predict where random crops sit by their similarity to base crops."""

from __future__ import annotations

import click

from ctssl.methods.base import CliOption, IntTuple, Method, training_in
from ctssl.methods.voco.defaults import DEFAULT_RECIPE, LARGE, OPTIMISATION, PAPER, RECIPES, TINY, VoCoOptions
from ctssl.samplers.voco import VoCoSampler


def _sampler(options: VoCoOptions) -> VoCoSampler:
    return VoCoSampler(grid=options.grid, base=options.base_size, random_crops=options.random_crops)


def _min_batch_size(options: VoCoOptions) -> int:
    if options.teacher_momentum is not None:
        return 1  # one projector pass over every crop: batch norm sees n + k of them per volume
    # The paper's head normalises the B * n bases and the B * k random crops apart: each needs two.
    return -(-2 // min(options.grid[0] * options.grid[1], options.random_crops))


def _probability(name: str, default: float, what: str) -> CliOption:
    return click.option(name, type=click.FloatRange(0, 1), help=f"Chance of {what}, per crop. [{default:g}]")


METHOD = Method(
    name="voco",
    summary="VoCo: volume contrast, SwinUNETR encoder (CVPR 2024; large-scale release).",
    paper=PAPER,
    tiny=TINY,
    optimisation=OPTIMISATION,
    cli_options=(
        click.option(
            "--feature-size",
            type=click.IntRange(min=12),
            help=f"SwinUNETR feature size (48, 96, 192: VoCo-B, -L, -H). [{LARGE.feature_size}]",
        ),
        click.option(
            "--swin-v2/--swin-v1", "use_v2", default=None, help="SwinUNETR v2 or v1 blocks. [v2, as released]"
        ),
        click.option(
            "--teacher-momentum",
            type=click.FloatRange(0, 1),
            help=f"EMA momentum of the teacher projector. [{LARGE.teacher_momentum}; none: --recipe paper]",
        ),
        click.option("--grid", type=IntTuple("x", 2), help="Bases per region, e.g. 4x4. [{}x{}]".format(*LARGE.grid)),
        click.option("--random-crops", type=click.IntRange(min=1), help=f"Per region. [{LARGE.random_crops}]"),
        _probability("--flip-probability", LARGE.flip_probability, "a flip, each axis"),
        _probability("--turn-probability", LARGE.turn_probability, "a quarter turn in the x-y plane"),
        _probability("--shift-probability", LARGE.shift_probability, "an intensity shift"),
    ),
    sampler=_sampler,
    min_batch_size=_min_batch_size,
    training=training_in("ctssl.methods.voco.training"),
    recipes=RECIPES,
    default_recipe=DEFAULT_RECIPE,
)
