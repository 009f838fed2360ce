"""PCRLv2 (TPAMI 2023; released 3D code): multi-scale pixel restoration and feature comparison on a non-skip U-Net."""

from __future__ import annotations

import click

from ctssl.methods.base import IntTuple, Method, training_in
from ctssl.methods.pcrlv2.defaults import (
    DEFAULT_RECIPE,
    OBJECTIVES,
    OPTIMISATION,
    PAPER,
    RECIPES,
    RELEASE,
    SCALES,
    TINY,
    PCRLv2Options,
)
from ctssl.samplers.subcrop import SubCropSampler


def _sampler(options: PCRLv2Options) -> SubCropSampler:
    return SubCropSampler(local_views=options.local_views)


def _min_batch_size(options: PCRLv2Options) -> int:
    # The comparison head's batch norm needs two samples; with one it would see just the two global views
    # (the paper's objective passes them together) and map them to exact opposites (+-1 per channel).
    return 2


METHOD = Method(
    name="pcrlv2",
    summary="PCRLv2: pixel restoration and feature comparison, non-skip U-Net (TPAMI 2023; released 3D code).",
    paper=PAPER,
    tiny=TINY,
    optimisation=OPTIMISATION,
    cli_options=(
        click.option(
            "--widths",
            type=IntTuple(",", len(RELEASE.widths)),
            help="nsUNet encoder widths. [{}]".format(",".join(map(str, RELEASE.widths))),
        ),
        click.option(
            "--objective",
            type=click.Choice(OBJECTIVES),
            help="release: the released loop's loss (local-global terms averaged, deep supervision); "
            f"eq10: the paper's Eq. 10 sum. [{RELEASE.objective}]",
        ),
        click.option(
            "--scale",
            type=click.IntRange(0, SCALES - 1),
            help="Every term at this pyramid scale (0: 1/16 .. 4: full resolution). [drawn at random]",
        ),
    ),
    sampler=_sampler,
    min_batch_size=_min_batch_size,
    training=training_in("ctssl.methods.pcrlv2.training"),
    recipes=RECIPES,
    default_recipe=DEFAULT_RECIPE,
)
