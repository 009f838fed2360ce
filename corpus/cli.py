"""The ``corpus`` command: thin wrappers that parse options and call the library.

Exit status (corpus.errors): 0 every input stored or deliberately skipped; 3
the build finished but some inputs failed; 1 a fatal error; 2 a usage error;
`corpus verify`: 0 clean, 1 corruption, 4 leftovers of interrupted builds.
Other packages add commands (ctssl: pretrain, export) through the
``corpus.commands`` entry point group and steps of `corpus demo` through
``corpus.demo``; corpus never imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corpus.errors import EXIT_FATAL, EXIT_LEAKS, EXIT_OK, CorpusError, SpecError
from corpus.spec import BuildSpec, DicomSelection, format_clip, format_spacing
from corpus.store.storage_layout import VOLUMES_PER_SHARD

if TYPE_CHECKING:
    from corpus.build import BuildPlan, BuildReport
    from corpus.leakage import Leak

DEFAULT_SPEC, DEFAULT_SELECTION = BuildSpec(), DicomSelection()
COMMANDS_ENTRY_POINTS = "corpus.commands"  # name = a click command added to `corpus`
DEMO_ENTRY_POINTS = "corpus.demo"  # name = step(corpus_url, folder, stream), run by `corpus demo` into OUT/name


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
    "--threads",
    type=click.IntRange(min=1),
    help="Threads per worker for one input: background decoding, resampling, compression. "
    "Default: the cores available divided by --workers (on a cluster, each worker's cores divided by its threads).",
)
@click.option(
    "--volumes-per-shard",
    default=VOLUMES_PER_SHARD,
    show_default=True,
    type=click.IntRange(min=1),
    help="Volumes per shard at most.",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of label maps to store beside their images (same names; BTCV label0001 for img0001; "
    "names from dataset.json or labels.json).",
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
    threads: int | None,
    volumes_per_shard: int,
    labels: Path | None,
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
        items = discover(list(inputs), named, selection, progress=sys.stderr.isatty(), labels=labels)
    except SpecError as error:
        raise click.UsageError(str(error)) from error
    if not items:
        raise click.UsageError("No inputs found: give files or folders of NIfTI, MetaImage or DICOM")
    with _fatal_errors():
        if dry_run:
            _print_plan(plan_build(items, out), spec)
            return
        report = build_corpus(
            items,
            out,
            spec,
            volumes_per_shard,
            sys.stderr.isatty(),
            workers=workers,
            scheduler=scheduler,
            min_slices=selection.min_slices,
            threads=threads,
        )
    _print_report(report, out)
    sys.exit(report.exit_code)


@main.command()
@click.argument("out")
@click.option(
    "--repair", is_flag=True, help="First commit what interrupted builds journaled and remove their leftovers."
)
def verify(out: str, repair: bool) -> None:
    """Check every stored array of OUT: present, decodable, checksum and shape as listed.

    Exit 0: all as listed, nothing left over; 1: a listed array is missing,
    unreadable or changed; 4: all as listed, but interrupted builds left
    leftovers or uncommitted shards (--repair, or the next build, clears them).
    """
    import corpus
    from corpus.store.location import Location
    from corpus.verify import repair_corpus, verify_corpus

    with _fatal_errors():
        if repair:
            repaired = repair_corpus(Location(out))
            click.echo(
                f"repaired: committed {len(repaired.recovered)} inputs an interrupted build had stored, "
                f"removed {repaired.removed} leftovers"
            )
        report = verify_corpus(corpus.open(out), progress=sys.stderr.isatty())
    for line in report.problems + report.leftovers:
        click.echo(f"  {line}")
    if report.running:
        click.echo(f"a build is running ({report.running}): its shards in progress were not examined")
    click.echo(f"verified {report.checked} arrays: {_verdict(report.problems, report.leftovers)}")
    sys.exit(report.exit_code)


def _verdict(problems: list[str], leftovers: list[str]) -> str:
    if not problems and not leftovers:
        return "all good"
    found = [f"{len(problems)} problem(s)"] if problems else ["all as listed"]
    if leftovers:
        found.append(f"{len(leftovers)} leftover(s): not part of the corpus; `corpus verify --repair` removes them")
    return ", ".join(found)


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
@click.argument("out")
@click.option(
    "--against",
    "targets",
    multiple=True,
    required=True,
    metavar="PATH_OR_CORPUS",
    help="A downstream set: another corpus, a list file (.txt) of volume ids or paths, or a folder or image files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the leaks as JSON.")
def leakage(out: str, targets: tuple[str, ...], as_json: bool) -> None:
    """List every volume of the corpus at OUT that duplicates, or shares a subject with, a downstream volume.

    Exit status 3 when any volume leaks, 0 when none.
    """
    import json

    import corpus
    from corpus.leakage import find_leaks

    leaks: list[Leak] = []
    with _fatal_errors():
        opened = corpus.open(out)
        for target in targets:
            try:
                found, notes = find_leaks(opened, target)
            except SpecError as error:
                raise click.UsageError(str(error)) from error
            leaks += found
            for note in notes:
                click.echo(f"note: {note}", err=True)
    click.echo(json.dumps([leak.as_dict() for leak in leaks], indent=2) if as_json else _leak_table(leaks, targets))
    sys.exit(EXIT_LEAKS if leaks else EXIT_OK)


def _leak_table(leaks: list[Leak], targets: tuple[str, ...]) -> str:
    """Per downstream set: each leaking volume, the rule, the downstream volume it matches, and the evidence."""
    lines = []
    for target in targets:
        found = sorted((leak for leak in leaks if leak.against == target), key=lambda k: (k.volume_id, k.match))
        count = len({leak.volume_id for leak in found})
        lines.append(f"{target}: {count} volume(s) leak" if count else f"{target}: no volume leaks")
        if found:
            lines.append(f"  {'volume_id':<40}{'split':<8}{'rule':<13}{'matches':<40}evidence")
        for leak in found:
            evidence = " ".join(f"{k}={v}" for k, v in leak.evidence.items())
            lines.append(f"  {leak.volume_id:<40}{leak.split:<8}{leak.rule:<13}{leak.match:<40}{evidence}")
    return "\n".join(lines)


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
    _demo_steps(out)
    sys.exit(report.exit_code)


def _demo_steps(out: Path) -> None:
    """The steps other packages add to the demo (ctssl: a few pre-training steps of each method)."""
    steps = entry_points(group=DEMO_ENTRY_POINTS)
    if not steps:
        click.echo("\nno further demo steps installed (pre-training comes with the ctssl package)")
    for step in steps:
        step.load()(str(out / "corpus"), out / step.name, sys.stdout)


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
    if report.leftovers_removed:
        click.echo(f"removed {report.leftovers_removed} leftovers of interrupted builds (not part of the corpus)")
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


for _command in entry_points(group=COMMANDS_ENTRY_POINTS):
    main.add_command(_command.load(), _command.name)

if __name__ == "__main__":
    main()
