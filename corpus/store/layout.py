"""Names of the files and folders inside a corpus (see DESIGN.md, "The corpus on disk")."""

from __future__ import annotations

FORMAT_VERSION = 2  # 2: the storage layout is recorded apart from the spec (1 is read too)
CORPUS_JSON = "corpus.json"
SHARDS = "shards"
MANIFEST = "manifest"
THUMBNAILS = "thumbnails"
LOGS = "logs"
WORK = "_work"  # the build lock, the generation record and the journals of shards in progress
LOCK = "lock"
ARRAY_NAME = "0"  # the array inside each volume's group: shards/shard-NNNNN.zarr/<volume_id>/0
FENCE = "fence.json"  # under _work/: the last build generation and the shards it may still commit
LABELS = "labels"  # a volume's label map, same grid: shards/shard-NNNNN.zarr/<volume_id>/labels/0
_SHARD_FOLDER_SUFFIX = ".zarr"
_JOURNAL_ENTRY_SUFFIX = ".json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_folder(index: int) -> str:
    return folder_of_shard(shard_name(index))


def folder_of_shard(name: str) -> str:
    """``shard-00012`` (the manifest's ``shard``) -> ``shard-00012.zarr`` (its folder under shards/)."""
    return f"{name}{_SHARD_FOLDER_SUFFIX}"


def shard_of_folder(folder: str) -> str:
    return folder.removesuffix(_SHARD_FOLDER_SUFFIX)


def part_file(index: int) -> str:
    """The manifest part (and thumbnails part) of shard ``index``."""
    return f"part-{index:05d}.parquet"


def is_part_file(name: str) -> bool:
    return name.endswith(".parquet") and shard_index(name) is not None


def shard_index(name: str) -> int | None:
    """Index of ``shard-00012.zarr`` or ``part-00012.parquet``; None for other names."""
    stem = name.split(".", 1)[0]
    prefix, _, digits = stem.partition("-")
    if prefix in ("shard", "part") and digits.isdigit():
        return int(digits)
    return None


def journal_entry(number: int) -> str:
    """The ``number``-th input recorded in a shard's journal folder (_work/shard-NNNNN/)."""
    return f"{number:06d}{_JOURNAL_ENTRY_SUFFIX}"


def is_journal_entry(name: str) -> bool:
    return name.endswith(_JOURNAL_ENTRY_SUFFIX) and name[: -len(_JOURNAL_ENTRY_SUFFIX)].isdigit()


def build_log(stamp: str) -> str:
    """The log file (under logs/) of the build started at ``stamp``."""
    return f"build-{stamp}.log"
