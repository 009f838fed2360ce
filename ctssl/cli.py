"""`corpus pretrain METHOD` and `corpus export`, added to the `corpus` command through the
``corpus.commands`` entry point (corpus itself never imports ctssl). No torch until a command runs.

Each method (ctssl.methods.METHODS) is a subcommand of `pretrain`: the options
every run has, then the method's own flags; defaults are the method's.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import click

from corpus.errors import EXIT_FATAL
from ctssl.config import MAX_WORKERS, OPTIMIZERS, TrainConfig, default_workers
from ctssl.methods import METHODS, Method

TRAIN_EXTRA = "pip install 'ct-corpus[train]'"


@click.group()
def pretrain() -> None:
    """Pre-train METHOD on crops streamed from a corpus; run under torchrun for DDP.

    Defaults are each method's default recipe (see README, --recipe). Writes OUT/train.jsonl,
    OUT/checkpoints/last.pt and, at the end, OUT/export/encoder.pt for fine-tuning.
    """


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for encoder.pt and encoder.json.")
def export_weights(checkpoint: Path, out: Path) -> None:
    """Export the encoder of a pre-training CHECKPOINT for fine-tuning (SwinUNETR, BasicUNet or ResNet-50 keys;
    joint2d3d also writes hybrid.pt, its 2D + slice-transformer encoder)."""
    try:
        from ctssl.export import export_checkpoint
    except ImportError as error:
        raise click.UsageError(f"exporting needs torch and monai: {TRAIN_EXTRA} ({error})") from None
    try:
        click.echo(f"encoder weights: {export_checkpoint(checkpoint, out)}")
    except (ValueError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)


def _run_options(method: Method[Any]) -> list[Callable[[Any], Any]]:
    """The options of every run; optimisation defaults are the default recipe's (shown in brackets)."""
    defaults = method.recipe().optimisation
    return [
        *_recipe_option(method),
        click.option("--corpus", required=True, help="Corpus folder or URL built by `corpus build`."),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            help=f"Run folder: logs, checkpoints, export. [runs/{method.name}]",
        ),
        click.option(
            "--steps", default=TrainConfig.steps, show_default=True, type=click.IntRange(min=1), help="Optimizer steps."
        ),
        click.option(
            "--batch-size", type=click.IntRange(min=1), help=f"Samples per step per process. [{defaults.batch_size}]"
        ),
        click.option(
            "--optimizer", type=click.Choice(OPTIMIZERS), help=f"amsgrad: AdamW with AMSGrad. [{defaults.optimizer}]"
        ),
        click.option("--lr", type=float, help=f"Peak learning rate. [{defaults.lr:g}]"),
        click.option("--weight-decay", type=float, help=f"[{defaults.weight_decay:g}]"),
        click.option(
            "--warmup-steps",
            type=click.IntRange(min=0),
            help=f"Linear warmup before cosine decay. [{defaults.warmup_steps}]",
        ),
        click.option(
            "--grad-clip", type=click.FloatRange(min=0), help=f"Max gradient norm, 0 = off. [{defaults.grad_clip:g}]"
        ),
        click.option(
            "--checkpoint-every", default=TrainConfig.checkpoint_every, show_default=True, type=click.IntRange(min=1)
        ),
        click.option(
            "--keep-checkpoints",
            default=TrainConfig.keep_checkpoints,
            show_default=True,
            type=click.IntRange(min=0),
            metavar="N",
            help="Also keep the N newest periodic checkpoints as checkpoints/step-NNNNNNNN.pt.",
        ),
        click.option("--log-every", default=TrainConfig.log_every, show_default=True, type=click.IntRange(min=1)),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            help=f"Loader processes per training process. [at most {MAX_WORKERS} and the usable cores: "
            f"{default_workers()} here]",
        ),
        click.option("--seed", default=TrainConfig.seed, show_default=True, type=int),
        click.option(
            "--device",
            default=TrainConfig.device,
            show_default=True,
            type=click.Choice(["auto", "cpu", "cuda"]),
            help="auto: CUDA if any.",
        ),
        click.option(
            "--precision",
            default=TrainConfig.precision,
            show_default=True,
            type=click.Choice(["auto", "bf16", "fp32"]),
            help="auto: bf16 autocast on CUDA, fp32 on the CPU.",
        ),
        click.option("--mixture", type=click.Path(exists=True, dir_okay=False), help="Sources/splits/repeats TOML."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint."),
        click.option(
            "--synthetic-data", "synthetic", is_flag=True, help="Benchmark: repeat the first batch from memory."
        ),
        click.option(
            "--tiny", is_flag=True, help="A CPU-sized model and crops (demo, smoke tests); not for real runs."
        ),
        click.option(
            "--no-memory-check",
            "memory_check",
            flag_value=False,
            default=True,
            help="Start even when a step is estimated not to fit in the device's memory.",
        ),
    ]


def _recipe_option(method: Method[Any]) -> list[Callable[[Any], Any]]:
    """``--recipe`` when the method has more than the paper's."""
    if len(method.recipe_names) < 2:
        return []
    listed = "; ".join(f"{name}: {method.recipe(name).follows}" for name in method.recipe_names)
    return [
        click.option(
            "--recipe",
            type=click.Choice(method.recipe_names),
            help=f"Options and optimisation defaults ({listed}). [{method.default_recipe}]",
        )
    ]


def _method_command(method: Method[Any]) -> click.Command:
    option_names = {field.name for field in fields(method.paper)}

    def run(tiny: bool, out: Path | None, recipe: str | None = None, **values: Any) -> None:
        chosen_recipe = method.recipe(recipe)
        chosen = {name: values.pop(name) for name in option_names if name in values}
        base = chosen_recipe.tiny if tiny else chosen_recipe.options
        try:
            model = replace(base, **{k: v for k, v in chosen.items() if v is not None})
        except ValueError as error:  # options that do not fit together (the options class says why)
            raise click.UsageError(str(error)) from None
        out = out or Path("runs") / method.name
        _train(TrainConfig(method.name, out=out, recipe=chosen_recipe.name, model=model, **values))

    for option in reversed([*_run_options(method), *method.cli_options]):
        run = option(run)
    return click.command(method.name, help=method.summary, short_help=method.summary)(run)


def _train(config: TrainConfig) -> None:
    try:
        from ctssl.train import pretrain as run_pretraining
    except ImportError as error:
        raise click.UsageError(f"pre-training needs torch and monai: {TRAIN_EXTRA} ({error})") from None
    try:
        result = run_pretraining(config)
    except (ValueError, OSError, FloatingPointError) as error:  # bad options, data or numbers: one line
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)
    if result.stopped_by:
        click.echo(
            f"{result.stopped_by}: stopped after step {result.steps} of {config.steps}, checkpoint "
            f"{result.checkpoint}. Resume with:\n  {resume_command(sys.argv)}"
        )


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run (under torchrun, put it after the same torchrun options)."""
    arguments = [argument for argument in argv[1:] if argument != "--resume"]
    return shlex.join(["corpus", *arguments, "--resume"])


for _method in METHODS.values():
    pretrain.add_command(_method_command(_method))
