"""PCRLv2 (TPAMI 2023): multi-scale pixel restoration and feature comparison on a non-skip U-Net."""

from __future__ import annotations

import click

from ctssl.methods.base import IntTuple, Method, training_in
from ctssl.methods.pcrlv2.defaults import OPTIMISATION, PAPER, TINY, PCRLv2Options
from ctssl.samplers.subcrop import SubCropSampler


def _sampler(options: PCRLv2Options) -> SubCropSampler:
    return SubCropSampler(local_views=options.local_views)


def _min_batch_size(options: PCRLv2Options) -> int:
    # With one sample the comparison head's batch norm sees only the two global views and
    # maps them to exact opposites (+-1 per channel), which makes every comparison meaningless.
    return 2


METHOD = Method(
    name="pcrlv2",
    summary="PCRLv2: pixel restoration and feature comparison, non-skip U-Net (TPAMI 2023).",
    paper=PAPER,
    tiny=TINY,
    optimisation=OPTIMISATION,
    cli_options=(
        click.option(
            "--widths",
            type=IntTuple(",", len(PAPER.widths)),
            help="nsUNet encoder widths. [{}]".format(",".join(map(str, PAPER.widths))),
        ),
    ),
    sampler=_sampler,
    min_batch_size=_min_batch_size,
    training=training_in("ctssl.methods.pcrlv2.training"),
)
