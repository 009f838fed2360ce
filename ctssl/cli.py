"""`corpus pretrain METHOD`, `corpus export` and `corpus finetune`, added to the `corpus` command through the
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
from ctssl.finetune.config import MODELS, FinetuneConfig
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


def _triple(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3:
        raise click.BadParameter(f"expected one size or x,y,z, got {text!r}")
    return parts[0], parts[1], parts[2]


_FT = FinetuneConfig(corpus="", out=Path())


@click.command("finetune")
@click.argument("seg_corpus", required=False)
@click.option(
    "--weights", help="encoder.pt of an export (VoCo -> SwinUNETR, PCRLv2 -> BasicUNet), or 'none' (scratch)."
)
@click.option("--out", type=click.Path(path_type=Path), help="Run folder: metrics.json, train.jsonl, checkpoints.")
@click.option(
    "--compare", nargs=2, type=click.Path(exists=True, path_type=Path), help="Print runs A and B side by side."
)
@click.option("--model", default=_FT.model, show_default=True, type=click.Choice(MODELS), help="Scratch only.")
@click.option(
    "--architecture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scratch only: the architecture of this encoder.json (a fair baseline for an export).",
)
@click.option("--tiny", is_flag=True, help="Scratch only: the CPU-sized architecture of `pretrain --tiny`.")
@click.option("--classes", help="Label values to learn, comma-separated (default: every value in the train volumes).")
@click.option("--crop", default=",".join(map(str, _FT.crop)), show_default=True, help="Crop size, voxels (x,y,z).")
@click.option("--steps", default=_FT.steps, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--batch-size",
    default=_FT.batch_size,
    show_default=True,
    type=click.IntRange(min=1),
    help="Crops per step per process.",
)
@click.option("--pos", "positive", default=_FT.positive, show_default=True, type=click.FloatRange(min=0))
@click.option("--neg", "negative", default=_FT.negative, show_default=True, type=click.FloatRange(min=0))
@click.option("--lr", default=_FT.lr, show_default=True, type=float)
@click.option("--weight-decay", default=_FT.weight_decay, show_default=True, type=float)
@click.option("--warmup-steps", default=_FT.warmup_steps, show_default=True, type=click.IntRange(min=0))
@click.option("--grad-clip", default=_FT.grad_clip, show_default=True, type=click.FloatRange(min=0))
@click.option("--val-every", default=_FT.val_every, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--val-volume", "val_volumes", multiple=True, help="Hold out this volume (default: split val, else the last)."
)
@click.option("--overlap", default=_FT.overlap, show_default=True, type=click.FloatRange(0, 1, max_open=True))
@click.option("--sw-batch-size", default=_FT.sw_batch_size, show_default=True, type=click.IntRange(min=1))
@click.option("--checkpoint-every", default=_FT.checkpoint_every, show_default=True, type=click.IntRange(min=1))
@click.option("--log-every", default=_FT.log_every, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=_FT.seed, show_default=True, type=int)
@click.option("--device", default=_FT.device, show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--precision", default=_FT.precision, show_default=True, type=click.Choice(["auto", "bf16", "fp32"]))
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
def finetune(
    seg_corpus: str | None,
    weights: str | None,
    out: Path | None,
    compare: tuple[Path, Path] | None,
    classes: str | None,
    crop: str,
    **values: Any,
) -> None:
    """Fine-tune a segmentation model on the labelled volumes of SEG_CORPUS and report per-class Dice.

    Defaults follow the released SwinUNETR/VoCo BTCV recipe (see README). `--compare A B` prints two runs.
    """
    if compare:
        from ctssl.finetune.compare import format_comparison

        try:
            click.echo(format_comparison(*compare))
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        return
    if seg_corpus is None or weights is None or out is None:
        raise click.UsageError("give SEG_CORPUS, --weights (encoder.pt or none) and --out, or --compare A B")
    try:
        config = FinetuneConfig(
            corpus=seg_corpus,
            out=out,
            weights=None if weights == "none" else Path(weights),
            classes=tuple(int(v) for v in classes.split(",")) if classes else (),
            crop=_triple(crop),
            val_volumes=tuple(values.pop("val_volumes")),
            **values,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        from ctssl.finetune.loop import finetune as run_finetuning
    except ImportError as error:
        raise click.UsageError(f"fine-tuning needs torch and monai: {TRAIN_EXTRA} ({error})") from None
    try:
        result = run_finetuning(config)
    except (ValueError, OSError, FloatingPointError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)
    click.echo(f"metrics: {result.path}")
