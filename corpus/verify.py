"""`corpus verify`: every listed array is there, decodes, and has its checksum and shape.

Also: no array without a manifest row, no volume id listed twice, and no
shard left uncommitted by an interrupted build.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import zarr
from tqdm import tqdm

from corpus.store.arrays import checksum
from corpus.store.journal import pending
from corpus.store.layout import SHARDS, shard_index, shard_of_folder
from corpus.store.reader import Corpus


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_corpus(opened: Corpus, progress: bool = False) -> VerifyReport:
    report = VerifyReport()
    rows = opened.stored().to_pylist()
    for volume_id, count in Counter(row["volume_id"] for row in rows).items():
        if count > 1:
            report.problems.append(f"{volume_id}: listed {count} times")
    for row in tqdm(rows, desc="verify", unit="vol", disable=not progress or None):
        report.checked += 1
        problem = _check(opened, row)
        if problem:
            report.problems.append(f"{row['volume_id']}: {problem}")
    listed = {(row["shard"], row["volume_id"]) for row in rows}
    for shard, volume_id in _arrays_on_disk(opened):
        if (shard, volume_id) not in listed:
            report.problems.append(f"{shard}/{volume_id}: an array with no manifest row")
    for index in pending(opened.location):
        report.problems.append(f"shard {index}: uncommitted (an interrupted build); run the build again to recover it")
    return report


def _check(opened: Corpus, row: dict[str, object]) -> str | None:
    try:
        array = opened.array(str(row["volume_id"]))
        if list(array.shape) != row["shape"]:
            return f"shape {list(array.shape)}, manifest says {row['shape']}"
        values = np.asarray(array[...])
    except Exception as error:  # noqa: BLE001 - any failure to read is what verify reports
        return f"cannot be read: {type(error).__name__}: {error}"
    if checksum(values) != row["checksum"]:
        return "checksum differs from the manifest (the array changed after it was built)"
    return None


def _arrays_on_disk(opened: Corpus) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in opened.location.list_names(SHARDS):
        if shard_index(name) is None:
            continue
        group = zarr.open_group(opened.location.zarr_store(SHARDS, name, read_only=True), mode="r")
        found.extend((shard_of_folder(name), volume_id) for volume_id in group.group_keys())
    return found
