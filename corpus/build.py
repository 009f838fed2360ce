"""Build a corpus: plan the inputs, ingest them shard by shard (in parallel), commit.

Work unit = one input; commit unit = one shard. Every input ends as exactly
one manifest row (``ok``, ``skipped`` or ``failed`` with a reason). Each
shard is one task: it journals every finished input, and the build that
holds the lock commits the shard's manifest part when the task is done, so a
crash at any instant loses at most the inputs in flight, and the next build
first commits what the crashed one stored. Tasks run in this process
(``workers=1``), on local worker processes, or on any dask.distributed
cluster; workers write straight to OUT. Each build is a new generation
(corpus.store.fence): tasks of an interrupted build that still run stop at
their next lock check, and nothing they write is ever listed.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc
import zarr
from tqdm import tqdm

from corpus.errors import EXIT_OK, EXIT_SOME_FAILED, FencedError, Reason
from corpus.faults import crash_point
from corpus.ingest import file_size, ingest_input
from corpus.privacy import resolve_salt
from corpus.sources import InputItem
from corpus.sources.estimate import target_voxels
from corpus.spec import BuildSpec, DicomSelection
from corpus.store.arrays import open_shard
from corpus.store.fence import write_fence
from corpus.store.journal import Journal
from corpus.store.layout import LOGS, SHARDS, build_log, shard_folder, shard_name
from corpus.store.location import Location
from corpus.store.lock import BuildLock, assert_live
from corpus.store.manifest import STATUS_FAILED, read_manifest, stored
from corpus.store.meta import ensure_meta
from corpus.store.recovery import clean_up, take_over
from corpus.store.storage_layout import VOLUMES_PER_SHARD, StorageLayout
from corpus.threads import default_threads, use_codec_threads

log = logging.getLogger("corpus.build")


@dataclass
class BuildPlan:
    """What a build will do: inputs to ingest, and inputs an earlier build already holds."""

    todo: list[InputItem]
    done: list[InputItem]
    stored_ids: dict[str, str] = field(default_factory=dict)  # volume id -> input path of its stored row

    def per_source(self, spacing: tuple[float, float, float]) -> dict[str, dict[str, int]]:
        """Per source: inputs to build, already built, their input bytes and voxels at ``spacing``."""
        table: dict[str, dict[str, int]] = {}
        for label, items in (("to_build", self.todo), ("already_built", self.done)):
            for item in items:
                empty = {"to_build": 0, "already_built": 0, "input_bytes": 0, "target_voxels": 0}
                counts = table.setdefault(item.source, empty)
                counts[label] += 1
                if label == "to_build":
                    counts["input_bytes"] += file_size(item)
                    counts["target_voxels"] += target_voxels(item, spacing)
        return table


@dataclass
class BuildReport:
    """The rows this build committed, and how it went."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    already_built: int = 0
    recovered: int = 0  # rows a crashed build had stored, committed by this one
    leftovers_removed: int = 0  # arrays, journals and temporary files interrupted builds had left
    seconds: float = 0.0
    log_path: str | None = None

    def counts(self) -> Counter[str]:
        return Counter(row["status"] for row in self.rows)

    def failure_reasons(self) -> Counter[str]:
        return Counter(row["reason"] for row in self.rows if row["status"] == STATUS_FAILED)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.counts()[STATUS_FAILED] else EXIT_OK


@dataclass(frozen=True)
class ShardTask:
    """One shard's worth of inputs: what a worker needs, nothing it must share."""

    index: int
    items: tuple[InputItem, ...]
    out: str
    spec: BuildSpec
    layout: StorageLayout
    salt: str
    generation: int  # of the build that made it: the task writes only while it holds the lock
    min_slices: int = DicomSelection().min_slices  # thinner volumes are skipped (too_few_slices)
    log_path: str | None = None
    threads: int | None = None  # per input; None: the worker's cores divided among the tasks it runs at once


def plan_build(items: list[InputItem], out: str) -> BuildPlan:
    """Split inputs into new ones and ones an earlier build stored or skipped (failed ones are retried)."""
    manifest = read_manifest(Location(out))
    finished = manifest.filter(pc.not_equal(manifest.column("status"), STATUS_FAILED))
    known = set(zip(finished.column("source").to_pylist(), finished.column("input_path").to_pylist(), strict=True))
    kept = stored(manifest)
    ids = zip(kept.column("volume_id").to_pylist(), kept.column("input_path").to_pylist(), strict=True)
    return BuildPlan(
        todo=[item for item in items if (item.source, item.relpath) not in known],
        done=[item for item in items if (item.source, item.relpath) in known],
        stored_ids=dict(ids),
    )


def build_corpus(
    items: list[InputItem],
    out: str,
    spec: BuildSpec,
    volumes_per_shard: int = VOLUMES_PER_SHARD,
    progress: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
    layout: StorageLayout | None = None,
    min_slices: int = DicomSelection().min_slices,
    threads: int | None = None,
) -> BuildReport:
    """Ingest ``items`` into the corpus at ``out``.

    A new corpus is created with ``spec`` and ``layout`` (default: StorageLayout()); an
    existing one must have the same spec, and its new shards take the layout it records.
    Volumes thinner than ``min_slices`` along any axis are skipped, as DICOM stacks are.
    ``threads`` per worker (default: the cores available divided by ``workers``; on a
    cluster, each worker divides its own cores among the tasks it runs at once).
    """
    started = time.perf_counter()
    location = Location(out)
    meta = ensure_meta(location, spec, layout)
    salt, layout = resolve_salt(meta), StorageLayout.from_dict(meta["layout"])
    with BuildLock(location) as lock, _build_log(location) as log_path:
        started_from = take_over(location, lock.generation)
        report = BuildReport(
            recovered=len(started_from.recovered), leftovers_removed=started_from.removed, log_path=log_path
        )
        plan = plan_build(items, out)
        report.already_built = len(plan.done)
        todo = _mark_duplicates(plan)
        size = _shard_size(len(todo), volumes_per_shard, workers if scheduler is None else 4 * workers)
        fence = started_from.fence.reserved(math.ceil(len(todo) / size))
        write_fence(location, fence)  # before any task runs: no later build reuses these indices
        if threads is None and scheduler is None:
            threads = default_threads(workers)
        first = ShardTask(
            fence.first_shard, (), out, spec, layout, salt, lock.generation, min_slices, log_path, threads
        )
        tasks = _split(first, todo, size)
        with tqdm(total=len(todo), desc="build", unit="vol", disable=not progress or None) as bar:
            for index in _run(tasks, workers, scheduler, bar):
                report.rows.extend(Journal(location, index).commit(lock.generation))
        if lock.taken_over is not None:  # tasks of the interrupted build may have written since the take-over
            report.leftovers_removed += clean_up(location, fence)[0]
    report.seconds = time.perf_counter() - started
    return report


def run_shard(task: ShardTask, on_input: Callable[[], object] | None = None) -> int:
    """Ingest one shard's inputs, journaling each (runs on a worker); returns the shard index.

    Stops with FencedError as soon as its build no longer holds the lock.
    """
    threads = task.threads or default_threads(_tasks_at_once())
    use_codec_threads(threads)
    with _worker_log(task.log_path):
        try:
            _ingest_shard(task, threads, on_input)
        except FencedError as error:
            log.warning("%s stopped: %s", shard_name(task.index), error)
            raise
    return task.index


def _ingest_shard(task: ShardTask, threads: int, on_input: Callable[[], object] | None) -> None:
    location = Location(task.out)
    journal = Journal(location, task.index)
    assert_live(location, task.generation)
    recorded = {(e.row["source"], e.row["input_path"]) for e in journal.entries()}  # an earlier attempt
    opened: list[zarr.Group] = []

    def open_shard_once() -> tuple[str, zarr.Group]:
        if not opened:
            opened.append(open_shard(location.zarr_store(SHARDS, shard_folder(task.index)), task.layout))
        return shard_name(task.index), opened[0]

    for item in task.items:
        if (item.source, item.relpath) in recorded:
            continue
        assert_live(location, task.generation)  # a fenced task writes no further array
        done = ingest_input(item, task.spec, task.layout, task.salt, open_shard_once, task.min_slices, threads)
        crash_point("after_ingest")
        journal.record(task.generation, done.row, done.thumbnails)
        crash_point("after_journal")
        if on_input is not None:
            on_input()


def _tasks_at_once() -> int:
    """Tasks this process may run at the same time: a dask worker's thread count, else 1."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError):  # not on a dask worker
        return 1


def _run(tasks: list[ShardTask], workers: int, scheduler: str | None, bar: tqdm) -> Iterator[int]:
    """Run the shard tasks, yielding each shard's index when it is done.

    The bar advances per input in this process, per shard on workers.
    """
    if scheduler is None and workers <= 1:
        yield from (run_shard(task, lambda: bar.update(1)) for task in tasks)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            # retries: a task on a worker that dies runs again; its journal lets it skip finished inputs
            futures = {client.submit(run_shard, task, retries=2, pure=False): task for task in tasks}
            for future in as_completed(futures):
                yield future.result()
                bar.update(len(futures[future].items))
    finally:
        if cluster is not None:
            cluster.close()


def _split(first: ShardTask, todo: list[InputItem], size: int) -> list[ShardTask]:
    """``size`` inputs a task, shard indices from ``first.index`` on."""
    starts = range(0, len(todo), size)
    return [replace(first, index=first.index + n, items=tuple(todo[s : s + size])) for n, s in enumerate(starts)]


def _mark_duplicates(plan: BuildPlan) -> list[InputItem]:
    """An input whose volume id is taken (earlier in this build, or stored before) is skipped."""
    taken = dict(plan.stored_ids)
    marked = []
    for item in plan.todo:
        holder = taken.setdefault(item.volume_id, item.relpath)
        if holder != item.relpath:
            message = f"Volume id {item.volume_id} already belongs to {holder!r}; rename one of them"
            item = replace(item, skip=(Reason.DUPLICATE_INPUT, message))
        marked.append(item)
    return marked


def _shard_size(count: int, largest: int, parallel: int) -> int:
    """Full shards, but enough of them to keep every worker busy."""
    return max(1, min(largest, math.ceil(count / max(parallel, 1))))


@contextmanager
def _build_log(location: Location) -> Iterator[str | None]:
    """Full details (tracebacks included) go to OUT/logs/, never to the terminal."""
    if not location.is_local:
        yield None
        return
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    location.makedirs(LOGS)
    path = location.path(LOGS, build_log(stamp))
    with _worker_log(path):
        yield path


@contextmanager
def _worker_log(path: str | None) -> Iterator[None]:
    """Append this process's build messages to the build's log file (workers included)."""
    if path is None or any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        yield
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
