"""Fencing: a task of an older build generation can never make its writes part of the corpus."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

import corpus
import corpus.build
import corpus.store.journal
from corpus.build import ShardTask, build_corpus, run_shard
from corpus.errors import FencedError
from corpus.privacy import resolve_salt
from corpus.sources import discover
from corpus.spec import BuildSpec
from corpus.store.fence import Fence, read_fence
from corpus.store.journal import Journal
from corpus.store.location import Location
from corpus.store.meta import read_meta
from corpus.store.storage_layout import StorageLayout
from tests.corpus.conftest import content, run, run_build, verify


def stale_task(scans: Path, out: Path, index: int, generation: int) -> ShardTask:
    """The task an interrupted build of ``generation`` ran for shard ``index`` (three inputs a shard)."""
    items = sorted(discover([scans], []), key=lambda item: item.relpath)[3 * index : 3 * index + 3]
    meta = read_meta(Location(str(out)))
    layout = StorageLayout.from_dict(meta["layout"])
    return ShardTask(index, tuple(items), str(out), BuildSpec(), layout, resolve_salt(meta), generation)


def test_each_build_takes_a_new_generation_and_records_it_with_the_lock(scans, tmp_path):
    out = tmp_path / "corpus"
    run_build(scans, out)
    run_build(scans, out)
    fence = read_fence(Location(str(out)))
    assert fence.generation == fence.owner == 2
    assert (fence.first_shard, fence.next_shard) == (3, 4)  # the first build took shards 0-2, the second 3 (a retry)
    assert not (out / "_work" / "lock").exists()


def test_a_task_of_an_older_generation_stops_before_writing(scans, reference, tmp_path):
    out = tmp_path / "corpus"
    assert run_build(scans, out, "after_journal:1") < 0  # generation 1 dies inside shard 0
    assert run_build(scans, out) == 3  # generation 2 takes over
    with pytest.raises(FencedError, match="generation 1 is no longer the live one"):
        run_shard(stale_task(scans, out, 0, generation=1))
    with pytest.raises(FencedError):
        Journal(Location(str(out)), 0).commit(1)
    assert content(out) == reference
    assert verify(out)[0] == 0


def test_writes_of_a_task_that_passed_its_last_check_before_the_take_over_are_never_listed(
    scans, reference, tmp_path, monkeypatch
):
    """The race: a stale task checked the lock, then a new build took over, then the task wrote and journaled."""
    out = tmp_path / "corpus"
    assert run_build(scans, out, "after_journal:1") < 0
    assert run_build(scans, out) == 3
    monkeypatch.setattr(corpus.build, "assert_live", lambda location, generation: None)
    monkeypatch.setattr(corpus.store.journal, "assert_live", lambda location, generation: None)
    for index in (0, 1):  # its own shard (committed by the take-over) and one it had not started
        run_shard(stale_task(scans, out, index, generation=1))
    assert content(out) == reference  # nothing it wrote is listed
    code, output = verify(out)
    assert code == 4 and "leftover" in output and "problem" not in output
    monkeypatch.undo()
    assert run_build(scans, out) == 3  # the next build removes the garbage
    assert content(out) == reference
    assert verify(out) == (0, "verified 7 arrays: all good\n")


def test_shards_are_never_shared_between_generations(scans, tmp_path):
    """A killed build reserved shards 0-2; the next one writes from shard 3 on, even where 0-2 hold nothing yet."""
    out = tmp_path / "corpus"
    assert run_build(scans, out, "after_ingest:2") < 0  # in shard 0: one input journaled, one array not
    assert read_fence(Location(str(out))) == Fence(generation=1, owner=1, first_shard=0, next_shard=3)
    assert run_build(scans, out) == 3
    assert {row["shard"] for row in corpus.open(str(out)).stored().to_pylist()} == {
        "shard-00003",
        "shard-00004",
        "shard-00005",
    }
    assert verify(out)[0] == 0


def test_verify_reports_leftovers_and_repair_commits_and_removes_them(scans, reference, tmp_path):
    out = tmp_path / "corpus"
    assert run_build(scans, out, "after_ingest:5") < 0  # shard 0 committed; shard 1 journaled one input, wrote another
    (out / "manifest" / ".part-00009.parquet.0123456789ab.partial").write_bytes(b"half")
    code, output = verify(out)
    assert code == 4, output
    assert "shard-00001/scans-case3: leftover, an array with no manifest row" in output
    assert "shard-00001: uncommitted" in output
    assert "manifest/.part-00009.parquet.0123456789ab.partial: leftover, the temporary file" in output
    code, output = run("verify", str(out), "--repair")
    assert code == 0, output
    assert "repaired: committed 1 inputs an interrupted build had stored, removed 2 leftovers" in output
    assert run_build(scans, out) == 3
    assert content(out) == reference


def test_repair_is_refused_while_a_build_holds_the_lock(scans, tmp_path):
    out = tmp_path / "corpus"
    run_build(scans, out)
    holder = {"pid": 1, "host": "another-machine", "started": "2026-01-01T00:00:00+00:00", "generation": 9}
    (out / "_work" / "lock").write_text(json.dumps(holder))
    code, output = run("verify", str(out), "--repair")
    assert code == 1 and "Another build holds" in output
    code, output = verify(out)
    assert code == 0 and "a build is running (pid 1 on another-machine, generation 9" in output


def test_a_remote_corpus_is_fenced_too(scans):
    url = f"memory://fence-{uuid.uuid4().hex}/out"
    build_corpus(discover([scans], []), url, BuildSpec(), volumes_per_shard=3, progress=False)
    build_corpus(discover([scans], []), url, BuildSpec(), volumes_per_shard=3, progress=False)
    assert read_fence(Location(url)).generation == 2
    with pytest.raises(FencedError):
        run_shard(ShardTask(0, (), url, BuildSpec(), StorageLayout(), "salt", 1))
