"""`corpus verify`: tampered and missing arrays are problems (exit 1); unlisted arrays are leftovers."""

from __future__ import annotations

import os

import zarr

import corpus
from tests.corpus.conftest import run_build, verify


def test_verify_catches_tampering_missing_and_unlisted_arrays(scans, tmp_path):
    out = tmp_path / "corpus"
    run_build(scans, out)
    opened = corpus.open(str(out))
    first, second = opened.volume_ids[:2]
    first_shard = next(r["shard"] for r in opened.manifest.to_pylist() if r["volume_id"] == first)
    writable = zarr.open_array(zarr.storage.LocalStore(out / "shards" / f"{first_shard}.zarr"), path=f"{first}/0")
    writable[0, 0, 0] = writable[0, 0, 0] + 1
    shard = next(r["shard"] for r in opened.manifest.to_pylist() if r["volume_id"] == second)
    array_folder = out / "shards" / f"{shard}.zarr" / second
    os.rename(array_folder, array_folder.with_name("stray"))
    code, output = verify(out)
    assert code == 1
    assert f"{first}: checksum differs" in output
    assert f"{second}: cannot be read" in output
    assert f"{shard}/stray: leftover, an array with no manifest row" in output
