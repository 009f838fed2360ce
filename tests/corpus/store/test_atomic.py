"""The atomic local writer: the old file or the whole new one, and nothing left over when a write fails."""

from __future__ import annotations

import pytest

from corpus.store.atomic import (
    create_bytes_exclusive,
    is_partial,
    partial_name,
    remove_partials,
    write_bytes_atomic,
    write_file_atomic,
)


def test_a_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "folder" / "part.bin"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["part.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path):
    target = tmp_path / "part.bin"
    write_bytes_atomic(target, b"old")

    def half_then_fail(handle: object) -> None:
        handle.write(b"half of the new")  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_file_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["part.bin"]


def test_temporary_files_of_killed_writes_are_recognised_and_removed(tmp_path):
    target = tmp_path / "part.bin"
    write_bytes_atomic(target, b"whole")
    killed = tmp_path / partial_name("part.bin")  # what a write killed before its rename leaves
    killed.write_bytes(b"half")
    (tmp_path / ".hidden-but-not-ours").write_bytes(b"keep")
    assert is_partial(killed.name) and not is_partial("part.bin")
    assert remove_partials(tmp_path) == [killed]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden-but-not-ours", "part.bin"]


def test_an_exclusive_create_appears_whole_and_only_once(tmp_path):
    target = tmp_path / "lock"
    create_bytes_exclusive(target, b"first")
    with pytest.raises(FileExistsError):
        create_bytes_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["lock"]  # no temporary file left either way
