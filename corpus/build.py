"""Build a corpus: plan the inputs, ingest them shard by shard (in parallel), commit.

Work unit = one input; commit unit = one shard. Every input ends as exactly
one manifest row (``ok``, ``skipped`` or ``failed`` with a reason). Each
shard is one task: it journals every finished input and commits its
manifest part at the end, so a crash at any instant loses at most the inputs
in flight, and the next build first commits what the crashed one stored.
Tasks run in this process (``workers=1``), on local worker processes, or on
any dask.distributed cluster; workers write straight to OUT.
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

from corpus.errors import EXIT_OK, EXIT_SOME_FAILED, Reason
from corpus.faults import crash_point
from corpus.ingest import file_size, ingest_input
from corpus.privacy import resolve_salt
from corpus.sources import InputItem
from corpus.sources.estimate import target_voxels
from corpus.spec import BuildSpec
from corpus.store.arrays import open_shard
from corpus.store.journal import Journal, recover
from corpus.store.layout import LOGS, MANIFEST, SHARDS, build_log, shard_folder, shard_index, shard_name
from corpus.store.location import Location
from corpus.store.lock import BuildLock
from corpus.store.manifest import STATUS_FAILED, read_manifest, stored
from corpus.store.meta import ensure_meta
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
    threads: int | None = None,
) -> BuildReport:
    """Ingest ``items`` into the corpus at ``out``.

    A new corpus is created with ``spec`` and ``layout`` (default: StorageLayout()); an
    existing one must have the same spec, and its new shards take the layout it records.
    ``threads`` per worker (default: the cores available divided by ``workers``; on a
    cluster, each worker divides its own cores among the tasks it runs at once).
    """
    started = time.perf_counter()
    location = Location(out)
    meta = ensure_meta(location, spec, layout)
    salt, layout = resolve_salt(meta), StorageLayout.from_dict(meta["layout"])
    with BuildLock(location), _build_log(location) as log_path:
        report = BuildReport(recovered=len(recover(location)), log_path=log_path)
        plan = plan_build(items, out)
        report.already_built = len(plan.done)
        todo = _mark_duplicates(plan)
        size = _shard_size(len(todo), volumes_per_shard, workers if scheduler is None else 4 * workers)
        first = _next_shard_index(location)
        if threads is None and scheduler is None:
            threads = default_threads(workers)
        tasks = [
            ShardTask(first + n, tuple(todo[start : start + size]), out, spec, layout, salt, log_path, threads)
            for n, start in enumerate(range(0, len(todo), size))
        ]
        with tqdm(total=len(todo), desc="build", unit="vol", disable=not progress or None) as bar:
            for rows in _run(tasks, workers, scheduler, bar):
                report.rows.extend(rows)
    report.seconds = time.perf_counter() - started
    return report


def run_shard(task: ShardTask, on_input: Callable[[], object] | None = None) -> list[dict[str, Any]]:
    """Ingest one shard's inputs, journaling each, and commit the shard (runs on a worker)."""
    threads = task.threads or default_threads(_tasks_at_once())
    use_codec_threads(threads)
    with _worker_log(task.log_path):
        location = Location(task.out)
        journal = Journal(location, task.index)
        recorded = {(row["source"], row["input_path"]) for row, _ in journal.entries()}  # an earlier attempt
        opened: list[zarr.Group] = []

        def open_shard_once() -> tuple[str, zarr.Group]:
            if not opened:
                opened.append(open_shard(location.zarr_store(SHARDS, shard_folder(task.index)), task.layout))
            return shard_name(task.index), opened[0]

        for item in task.items:
            if (item.source, item.relpath) in recorded:
                continue
            done = ingest_input(item, task.spec, task.layout, task.salt, open_shard_once, threads)
            crash_point("after_ingest")
            journal.record(done.row, done.thumbnails)
            crash_point("after_journal")
            if on_input is not None:
                on_input()
        return journal.commit()


def _tasks_at_once() -> int:
    """Tasks this process may run at the same time: a dask worker's thread count, else 1."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError):  # not on a dask worker
        return 1


def _run(tasks: list[ShardTask], workers: int, scheduler: str | None, bar: tqdm) -> Iterator[list[dict[str, Any]]]:
    """Run the shard tasks; the bar advances per input here, per shard on workers."""
    if scheduler is None and workers <= 1:
        yield from (run_shard(task, lambda: bar.update(1)) for task in tasks)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            # retries: a task on a worker that dies runs again; its journal lets it skip finished inputs
            futures = [client.submit(run_shard, task, retries=2, pure=False) for task in tasks]
            for future in as_completed(futures):
                rows = future.result()
                bar.update(len(rows))
                yield rows
    finally:
        if cluster is not None:
            cluster.close()


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


def _next_shard_index(location: Location) -> int:
    names = location.list_names(SHARDS) + location.list_names(MANIFEST)
    indices = [i for i in (shard_index(name) for name in names) if i is not None]
    return max(indices, default=-1) + 1


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
