"""The ``corpus`` command: thin wrappers that parse options and call the library.

Exit status: 0 every input stored or deliberately skipped; 3 the build
finished but some inputs failed; 1 a fatal error; 2 a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from corpus.errors import EXIT_FATAL, EXIT_OK, CorpusError, SpecError
from corpus.spec import BuildSpec, DicomSelection, format_clip, format_spacing
from corpus.store.storage_layout import VOLUMES_PER_SHARD
from ctssl.defaults import TINY, per_method
from ctssl.defaults import ModelOptions as _ModelOptions

if TYPE_CHECKING:
    from corpus.build import BuildPlan, BuildReport

DEFAULT_SPEC, DEFAULT_SELECTION = BuildSpec(), DicomSelection()
PAPER = _ModelOptions()  # the papers' model options, shown in --help


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ct-corpus")
def main() -> None:
    """Build, audit and read CT pre-training corpora."""


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", required=True, help="Corpus folder or fsspec URL (created if new).")
@click.option(
    "--source", "sources", multiple=True, metavar="NAME=ROOT", help="Ingest every image under ROOT as source NAME."
)
@click.option(
    "--spacing",
    default=format_spacing(DEFAULT_SPEC.spacing),
    show_default=True,
    help="Target spacing in mm: one value or x,y,z.",
)
@click.option("--clip", default=format_clip(DEFAULT_SPEC.clip), show_default=True, help="HU clip range low,high.")
@click.option(
    "--modalities",
    default=",".join(DEFAULT_SELECTION.modalities),
    show_default=True,
    help="DICOM modalities to store, comma-separated.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Local worker processes.")
@click.option("--scheduler", metavar="ADDRESS", help="A dask.distributed scheduler to run on (workers write to OUT).")
@click.option(
    "--volumes-per-shard",
    default=VOLUMES_PER_SHARD,
    show_default=True,
    type=click.IntRange(min=1),
    help="Volumes per shard at most.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be built, build nothing.")
def build(
    inputs: tuple[Path, ...],
    out: str,
    sources: tuple[str, ...],
    spacing: str,
    clip: str,
    modalities: str,
    workers: int,
    scheduler: str | None,
    volumes_per_shard: int,
    dry_run: bool,
) -> None:
    """Ingest NIfTI, MetaImage and DICOM files and folders INPUTS into the corpus at --out.

    --source NAME=ROOT uses the recipe called NAME when there is one (manifests/recipes).
    """
    from corpus.build import build_corpus, plan_build
    from corpus.sources import discover, parse_source
    from corpus.spec import parse_clip, parse_spacing

    try:
        spec = BuildSpec(spacing=parse_spacing(spacing), clip=parse_clip(clip))
        selection = DicomSelection(modalities=tuple(modalities.split(",")))
        named = [parse_source(text) for text in sources]
        items = discover(list(inputs), named, selection, progress=sys.stderr.isatty())
    except SpecError as error:
        raise click.UsageError(str(error)) from error
    if not items:
        raise click.UsageError("No inputs found: give files or folders of NIfTI, MetaImage or DICOM")
    with _fatal_errors():
        if dry_run:
            _print_plan(plan_build(items, out), spec)
            return
        report = build_corpus(
            items, out, spec, volumes_per_shard, sys.stderr.isatty(), workers=workers, scheduler=scheduler
        )
    _print_report(report, out)
    sys.exit(report.exit_code)


@main.command()
@click.argument("out")
def verify(out: str) -> None:
    """Check every stored array of OUT: present, decodable, checksum and shape as listed."""
    import corpus
    from corpus.verify import verify_corpus

    with _fatal_errors():
        report = verify_corpus(corpus.open(out), progress=sys.stderr.isatty())
    for problem in report.problems:
        click.echo(f"  {problem}")
    verdict = "all good" if report.ok else f"{len(report.problems)} problem(s)"
    click.echo(f"verified {report.checked} arrays: {verdict}")
    sys.exit(EXIT_OK if report.ok else EXIT_FATAL)


@main.command()
@click.argument("out")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON (stable keys, see README).")
@click.option("--html", "html_file", type=click.Path(path_type=Path), help="Also write a self-contained HTML report.")
def stats(out: str, as_json: bool, html_file: Path | None) -> None:
    """Audit the corpus at OUT: counts, reasons, distributions, quality flags."""
    import json

    import corpus
    from corpus.stats import audit, format_text

    with _fatal_errors():
        opened = corpus.open(out)
        report = audit(opened)
        if html_file is not None:
            from corpus.report_html import render_html

            html_file.write_text(render_html(report, opened), encoding="utf-8")
    click.echo(json.dumps(report, indent=2) if as_json else format_text(report))
    if html_file is not None and not as_json:
        click.echo(f"report: {html_file}")


@main.command()
@click.option(
    "--out",
    default="demo-output",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for inputs and corpus.",
)
def demo(out: Path) -> None:
    """Generate phantoms, build a corpus from them and audit it (terminal + audit.html)."""
    import corpus
    from corpus.demo import run_demo
    from corpus.report_html import render_html
    from corpus.stats import audit, format_text

    with _fatal_errors():
        report = run_demo(out, progress=sys.stderr.isatty())
        opened = corpus.open(str(out / "corpus"))
        summary = audit(opened)
        (out / "audit.html").write_text(render_html(summary, opened), encoding="utf-8")
    _print_report(report, str(out / "corpus"))
    click.echo("\n" + format_text(summary))
    click.echo(f"report: {out / 'audit.html'}")
    _demo_pretraining(out)
    sys.exit(report.exit_code)


def _demo_pretraining(out: Path) -> None:
    try:
        from ctssl.demo import demo_pretraining
    except ImportError as error:
        click.echo(f"\npre-training steps skipped: pip install 'ct-corpus[train]' ({error})")
        return
    results = demo_pretraining(str(out / "corpus"), out / "pretrain", stream=sys.stdout)
    for method, result in results.items():
        loss = result.records[-1]["loss"]
        click.echo(f"{method}: loss {loss:.4f} after {result.steps} steps; encoder weights: {result.export}")


@main.command()
@click.argument("method", type=click.Choice(["voco", "pcrlv2"]))
@click.option("--corpus", "corpus_url", required=True, help="Corpus folder or URL built by `corpus build`.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder: logs, checkpoints, export. [runs/METHOD]")
@click.option("--steps", default=100_000, show_default=True, type=click.IntRange(min=1), help="Optimizer steps.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), help=f"Samples per step per process. {per_method('batch_size')}"
)
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), help=per_method("optimizer"))
@click.option("--lr", type=float, help=f"Peak learning rate. {per_method('lr')}")
@click.option("--weight-decay", type=float, help=per_method("weight_decay"))
@click.option(
    "--warmup-steps",
    type=click.IntRange(min=0),
    help=f"Linear warmup before cosine decay. {per_method('warmup_steps')}",
)
@click.option(
    "--grad-clip", type=click.FloatRange(min=0), help=f"Max gradient norm, 0 = off. {per_method('grad_clip')}"
)
@click.option("--checkpoint-every", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--log-every", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=0), help="Loader processes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]), help="auto: CUDA if any."
)
@click.option(
    "--precision",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "bf16", "fp32"]),
    help="auto: bf16 autocast on CUDA, fp32 on the CPU.",
)
@click.option("--mixture", type=click.Path(exists=True, dir_okay=False), help="Sources/splits/repeats TOML.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--synthetic-data", is_flag=True, help="Benchmark: repeat the first batch from memory.")
@click.option("--tiny", is_flag=True, help="A CPU-sized model and crops (demo, smoke tests); not for real runs.")
@click.option(
    "--feature-size", type=click.IntRange(min=12), help=f"VoCo SwinUNETR feature size. [{PAPER.feature_size}]"
)
@click.option("--swin-v2", is_flag=True, default=None, help="VoCo: SwinUNETR v2 blocks.")
@click.option("--teacher-momentum", type=click.FloatRange(0, 1), help="VoCo: momentum-teacher variant (e.g. 0.9).")
@click.option("--grid", help="VoCo bases per region, e.g. 3x3. [{}x{}]".format(*PAPER.grid))
@click.option("--widths", help="PCRLv2 nsUNet encoder widths. [{}]".format(",".join(map(str, PAPER.widths))))
def pretrain(
    method: str,
    corpus_url: str,
    out: Path | None,
    tiny: bool,
    feature_size: int | None,
    swin_v2: bool | None,
    teacher_momentum: float | None,
    grid: str | None,
    widths: str | None,
    **options: Any,
) -> None:
    """Pre-train METHOD (voco or pcrlv2) on crops streamed from a corpus; run under torchrun for DDP.

    Defaults are the papers' (see README). Writes OUT/train.jsonl, OUT/checkpoints/last.pt
    and, at the end, OUT/export/encoder.pt for fine-tuning.
    """
    try:
        from ctssl.train import TrainConfig, pretrain
    except ImportError as error:
        raise click.UsageError(
            f"pre-training needs torch and monai: pip install 'ct-corpus[train]' ({error})"
        ) from None
    changes: dict[str, Any] = {"feature_size": feature_size, "use_v2": swin_v2, "teacher_momentum": teacher_momentum}
    try:
        changes["grid"] = _int_tuple(grid, "x", 2, "--grid") if grid else None
        changes["widths"] = _int_tuple(widths, ",", 5, "--widths") if widths else None
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    model = replace(TINY if tiny else PAPER, **{k: v for k, v in changes.items() if v is not None})
    synthetic = options.pop("synthetic_data")
    config = TrainConfig(method, corpus_url, out or Path("runs") / method, model=model, synthetic=synthetic, **options)
    try:
        pretrain(config)
    except (ValueError, OSError, FloatingPointError) as error:  # bad options, data or numbers: one line
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)


@main.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for encoder.pt and encoder.json.")
def export_weights(checkpoint: Path, out: Path) -> None:
    """Export the encoder of a pre-training CHECKPOINT for fine-tuning (SwinUNETR or BasicUNet keys)."""
    try:
        from ctssl.export import export_checkpoint
    except ImportError as error:
        raise click.UsageError(f"exporting needs torch and monai: pip install 'ct-corpus[train]' ({error})") from None
    try:
        click.echo(f"encoder weights: {export_checkpoint(checkpoint, out)}")
    except (ValueError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)


def _int_tuple(text: str, separator: str, count: int, option: str) -> tuple[int, ...]:
    parts = text.lower().split(separator)
    if len(parts) != count or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"{option}: expected {count} positive whole numbers separated by {separator!r}, got {text!r}")
    return tuple(int(part) for part in parts)


@contextmanager
def _fatal_errors() -> Iterator[None]:
    """Turn a CorpusError that stops the whole command into one line and exit 1."""
    try:
        yield
    except CorpusError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FATAL)


def _print_plan(plan: BuildPlan, spec: BuildSpec) -> None:
    from corpus.sources.estimate import STORED_FRACTION_OF_INT16

    click.echo(f"{'source':<24}{'to build':>10}{'built':>8}{'input GB':>10}{'int16 GB':>10}{'~stored GB':>12}")
    total = {"to_build": 0, "already_built": 0, "input_bytes": 0, "target_voxels": 0}
    for source, counts in sorted(plan.per_source(spec.spacing).items()):
        total = {key: total[key] + counts[key] for key in total}
        click.echo(_plan_line(source, counts, STORED_FRACTION_OF_INT16))
    click.echo(_plan_line("TOTAL", total, STORED_FRACTION_OF_INT16))
    click.echo(
        f"{len(plan.todo)} inputs to build, {len(plan.done)} already in the corpus (dry run: nothing written); "
        f"~stored assumes {STORED_FRACTION_OF_INT16:.2f} of int16, as measured on real CT"
    )


def _plan_line(name: str, counts: dict[str, int], fraction: float) -> str:
    int16 = counts["target_voxels"] * 2 / 1e9
    return (
        f"{name[:23]:<24}{counts['to_build']:>10}{counts['already_built']:>8}{counts['input_bytes'] / 1e9:>10.2f}"
        f"{int16:>10.2f}{int16 * fraction:>12.2f}"
    )


def _print_report(report: BuildReport, out: str) -> None:
    from corpus.store.manifest import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED

    counts = report.counts()
    stored_mb = sum(row.get("stored_bytes") or 0 for row in report.rows) / 1e6
    reasons = ", ".join(f"{reason} {n}" for reason, n in report.failure_reasons().most_common())
    if report.recovered:
        click.echo(f"recovered {report.recovered} inputs an interrupted build had stored")
    click.echo(
        f"{counts[STATUS_OK]} stored ({stored_mb:.1f} MB), {counts[STATUS_SKIPPED]} skipped, "
        f"{counts[STATUS_FAILED]} failed{f' ({reasons})' if reasons else ''}, "
        f"{report.already_built} already built, in {report.seconds:.1f} s -> {out}"
    )
    for row in report.rows:
        if row["status"] != STATUS_OK:
            click.echo(f"  {row['status']:<8}{row['input_path']}: {row['reason']}: {row['message']}")
    if report.log_path:
        click.echo(f"details: {report.log_path}")


if __name__ == "__main__":
    main()
