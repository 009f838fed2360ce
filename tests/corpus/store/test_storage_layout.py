"""The storage layout: recorded per corpus and per shard, read (not asked again) when a corpus is extended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zarr

import corpus
from corpus.build import build_corpus
from corpus.errors import CorpusError, SpecError
from corpus.sources import discover
from corpus.spec import BuildSpec
from corpus.store.arrays import LAYOUT_ATTRIBUTE
from corpus.store.storage_layout import StorageLayout
from tests.conftest import save_nifti
from tests.corpus.conftest import small_phantom

SMALL = StorageLayout(chunks=(32, 32, 16), zstd_level=5)


def test_layout_round_trips_and_refuses_nonsense():
    assert StorageLayout.from_dict(SMALL.to_dict()) == SMALL
    assert StorageLayout().chunks_for((300, 100, 20)) == (128, 100, 20)
    with pytest.raises(SpecError, match="Chunks"):
        StorageLayout(chunks=(0, 1, 1))
    with pytest.raises(SpecError, match="zstd level"):
        StorageLayout(zstd_level=12)


def _scan(folder: Path, name: str, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return save_nifti(folder / f"{name}.nii.gz", *small_phantom(seed=seed))


def _chunks(out: Path, shard: str, volume_id: str) -> tuple[int, ...]:
    metadata = json.loads((out / "shards" / f"{shard}.zarr" / volume_id / "0" / "zarr.json").read_text())
    return tuple(metadata["codecs"][0]["configuration"]["chunk_shape"])


def _build(out: Path, *paths: Path, layout: StorageLayout | None = None) -> None:
    report = build_corpus(discover(list(paths), []), str(out), BuildSpec(), progress=False, layout=layout)
    assert report.exit_code == 0


def test_a_corpus_records_its_layout_and_later_builds_keep_it(tmp_path):
    out = tmp_path / "corpus"
    _build(out, _scan(tmp_path / "a", "first", 0), layout=SMALL)
    _build(out, _scan(tmp_path / "b", "second", 1))  # no layout asked: the recorded one, not the default
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["format_version"] == 2 and meta["layout"] == SMALL.to_dict() and "chunks" not in meta["spec"]
    assert corpus.open(str(out)).layout == SMALL
    for shard, volume_id in (("shard-00000", "a-first"), ("shard-00001", "b-second")):
        assert _chunks(out, shard, volume_id) == (32, 32, 16)
        group = zarr.open_group(zarr.storage.LocalStore(out / "shards" / f"{shard}.zarr"), mode="r")
        assert group.attrs[LAYOUT_ATTRIBUTE] == SMALL.to_dict()
    with pytest.raises(CorpusError, match="keep that layout"):
        _build(out, _scan(tmp_path / "c", "third", 2), layout=StorageLayout())


def test_a_format_1_corpus_opens_and_extends_with_its_chunks(tmp_path):
    out = tmp_path / "corpus"
    _build(out, _scan(tmp_path / "a", "first", 0), layout=SMALL)
    meta = json.loads((out / "corpus.json").read_text())
    old_spec = {**meta.pop("spec"), **meta.pop("layout"), "modalities": ["CT"], "min_slices": 3}
    (out / "corpus.json").write_text(json.dumps({**meta, "format_version": 1, "spec": old_spec}))
    opened = corpus.open(str(out))
    assert opened.spec == BuildSpec() and opened.layout == SMALL
    _build(out, _scan(tmp_path / "b", "second", 1))  # its voxel spec decides: the default spec extends it
    assert _chunks(out, "shard-00001", "b-second") == (32, 32, 16)
    assert corpus.open(str(out)).volume_ids == ["a-first", "b-second"]


def test_an_unknown_format_is_refused_with_what_this_tool_reads(tmp_path):
    out = tmp_path / "corpus"
    _build(out, _scan(tmp_path / "a", "first", 0))
    meta = json.loads((out / "corpus.json").read_text())
    (out / "corpus.json").write_text(json.dumps({**meta, "format_version": 9}))
    with pytest.raises(CorpusError, match="format 9, this tool reads formats 1 and 2"):
        corpus.open(str(out))
