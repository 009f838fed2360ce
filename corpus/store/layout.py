"""Names of the files and folders inside a corpus (see DESIGN.md, "The corpus on disk")."""

from __future__ import annotations

FORMAT_VERSION = 1
CORPUS_JSON = "corpus.json"
SHARDS = "shards"
MANIFEST = "manifest"
LOGS = "logs"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_folder(index: int) -> str:
    return f"{shard_name(index)}.zarr"


def part_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


def shard_index(name: str) -> int | None:
    """Index of ``shard-00012.zarr`` or ``part-00012.parquet``; None for other names."""
    stem = name.split(".", 1)[0]
    prefix, _, digits = stem.partition("-")
    if prefix in ("shard", "part") and digits.isdigit():
        return int(digits)
    return None
