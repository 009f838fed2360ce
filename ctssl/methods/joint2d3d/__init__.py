"""Joint 2D/3D (AAAI 2023): a 2D CNN on slices and a deformable slice transformer, by intra/inter clustering."""

from __future__ import annotations

import click

from ctssl.methods.base import CliOption, Method, training_in
from ctssl.methods.joint2d3d.defaults import (
    CLUSTERINGS,
    MODES,
    OPTIMISATION,
    PAPER,
    SCHEDULES,
    SLICE_AXES,
    TINY,
    JointOptions,
)
from ctssl.samplers.slices import SliceStackSampler, slice_sampler


def _sampler(options: JointOptions) -> SliceStackSampler:
    if options.mode == "2d":
        return slice_sampler(options.slice_axis, options.region_size, options.view_size, options.crop_scale)
    return SliceStackSampler(
        axis=options.slice_axis,
        slices=options.slices,
        stride=options.slice_stride,
        region=options.region_size,
        view=options.view_size,
        crop_scale=options.crop_scale,
    )


def _min_batch_size(options: JointOptions) -> int:
    # With one volume the 3D codes spread two embeddings over all prototypes: nearly uniform, no signal.
    return 2


def _choice(flag: str, destination: str, choices: tuple[str, ...], default: str, text: str) -> CliOption:
    return click.option(flag, destination, type=click.Choice(choices), help=f"{text} [{default}]")


METHOD = Method(
    name="joint2d3d",
    summary="Joint 2D/3D: ResNet-50 on slices + deformable slice transformer, intra/inter clustering (AAAI 2023).",
    paper=PAPER,
    tiny=TINY,
    optimisation=OPTIMISATION,
    cli_options=(
        _choice("--mode", "mode", MODES, PAPER.mode, "3d: slice stacks, every loss; 2d: single slices, 2D clustering."),
        _choice("--slice-axis", "slice_axis", SLICE_AXES, PAPER.slice_axis, "Plane of the slices."),
        click.option("--slices", type=click.IntRange(min=1), help=f"Slices per stack. [{PAPER.slices}]"),
        _choice("--clustering", "clustering", CLUSTERINGS, PAPER.clustering, "2D and 3D clustering objective."),
        _choice(
            "--schedule", "schedule", SCHEDULES, PAPER.schedule, "staged: the paper's 3 stages; joint: all at once."
        ),
        click.option(
            "--dc-recluster-every",
            type=click.IntRange(min=1),
            help=f"DeepCluster: steps between k-means runs. [{PAPER.dc_recluster_every}]",
        ),
    ),
    sampler=_sampler,
    min_batch_size=_min_batch_size,
    training=training_in("ctssl.methods.joint2d3d.training"),
)
