"""Location: the one way to a corpus root, on a local disk and behind an fsspec URL alike."""

from __future__ import annotations

import uuid

import pytest

from corpus.store.location import Location


@pytest.fixture(params=["local", "memory"])
def location(request: pytest.FixtureRequest, tmp_path) -> Location:
    url = str(tmp_path / "out") if request.param == "local" else f"memory://location-{uuid.uuid4().hex}/out"
    return Location(url)


def test_write_read_list_and_remove(location):
    assert not location.exists("a", "b.bin") and location.list_names("a") == []
    location.write_atomic(b"first", "a", "b.bin")
    location.write_atomic(b"second", "a", "b.bin")
    location.write_atomic(b"x", "a", "c.bin")
    assert location.read_bytes("a", "b.bin") == b"second"
    assert location.list_names("a") == ["b.bin", "c.bin"]  # no temporary files left behind
    location.remove("a", "c.bin")
    assert location.list_names("a") == ["b.bin"]
    location.remove_tree("a")
    assert not location.exists("a")


def test_exclusive_create_refuses_an_existing_file(location):
    location.create_exclusive(b"mine", "work", "lock")
    with pytest.raises(FileExistsError):
        location.create_exclusive(b"theirs", "work", "lock")
    assert location.read_bytes("work", "lock") == b"mine"


def test_makedirs_makes_an_empty_folder_that_lists_as_empty(location):
    location.makedirs("logs")
    assert location.list_names("logs") == []


def test_a_failed_write_leaves_no_temporary_file_on_an_object_store(monkeypatch):
    location = Location(f"memory://location-{uuid.uuid4().hex}/out")
    location.write_atomic(b"old", "manifest", "part-00000.parquet")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("the store went away")

    monkeypatch.setattr(location._fs, "mv", refuse)
    with pytest.raises(OSError, match="went away"):
        location.write_atomic(b"new", "manifest", "part-00000.parquet")
    assert location.list_names("manifest") == ["part-00000.parquet"]
    assert location.read_bytes("manifest", "part-00000.parquet") == b"old"


def test_discard_removes_what_is_there_and_tolerates_what_is_gone(location):
    location.write_atomic(b"x", "shards", "a", "0", "zarr.json")
    assert location.discard("shards", "a") and not location.exists("shards", "a")
    assert location.discard("shards", "never-there")
