"""Leftovers: what lies under OUT that no committed manifest part and no open journal vouches for.

Interrupted and fenced builds leave them: an array written just before a
kill, a shard whose task died before its first journal entry, the journal of
a shard that was committed meanwhile, the temporary file of a killed atomic
write. None of them is part of the corpus (the reader never sees them);
``corpus verify`` reports them, and a build (at its start, with the lock
held) or ``corpus verify --repair`` removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus.store.arrays import volume_names
from corpus.store.atomic import is_partial
from corpus.store.fence import Fence
from corpus.store.journal import Journal, committed_shards
from corpus.store.layout import MANIFEST, SHARDS, THUMBNAILS, WORK, folder_of_shard, shard_index, shard_of_folder
from corpus.store.location import Location
from corpus.store.manifest import read_manifest, stored

Parts = tuple[str, ...]  # a path under OUT, as Location takes it


@dataclass
class Leftovers:
    arrays: list[Parts] = field(default_factory=list)  # shards/<shard>.zarr/<volume id>: listed nowhere
    shards: list[Parts] = field(default_factory=list)  # shards/<shard>.zarr of a sealed shard never committed
    journals: list[Parts] = field(default_factory=list)  # _work/<shard>: no build will commit it any more
    temporaries: list[Parts] = field(default_factory=list)  # temporary files of killed atomic writes

    def paths(self) -> list[Parts]:
        return [*self.arrays, *self.shards, *self.journals, *self.temporaries]

    def __len__(self) -> int:
        return len(self.paths())

    def describe(self) -> list[str]:
        """One line per leftover: where it is, and what it is."""
        kinds = (
            (self.arrays, "an array with no manifest row"),
            (self.shards, "a shard an interrupted build never committed"),
            (self.journals, "the journal of a shard that is committed or sealed"),
            (self.temporaries, "the temporary file of an interrupted write"),
        )
        return [f"{_shown(parts)}: leftover, {what}" for paths, what in kinds for parts in paths]


def find_leftovers(location: Location, fence: Fence, build_running: bool = False) -> Leftovers:
    """Everything no committed part or open journal vouches for.

    While a build runs (``build_running``), its open shards, journals and
    temporary files are in use: only committed and sealed shards are examined.
    """
    found = Leftovers()
    committed = committed_shards(location)
    listed = _listed(location)
    for folder in location.list_names(SHARDS):
        index = shard_index(folder)
        if index is None or (build_running and index not in committed and fence.is_open(index)):
            continue
        if index not in committed and not fence.is_open(index):
            found.shards.append((SHARDS, folder))
            continue
        keep = listed if index in committed else {(folder, name) for name in Journal(location, index).vouched()}
        names = volume_names(location, folder)
        found.arrays.extend((SHARDS, folder, name) for name in names if (folder, name) not in keep)
    if build_running:
        return found
    for name in location.list_names(WORK):
        index = shard_index(name)
        if index is not None and (index in committed or not fence.is_open(index)):
            found.journals.append((WORK, name))
    found.temporaries.extend(_temporaries(location))
    return found


def remove_leftovers(location: Location, leftovers: Leftovers) -> Leftovers:
    """Remove them (the caller holds the lock); returns what could not be removed (still being written)."""
    kept = Leftovers()
    for kind in ("arrays", "shards", "journals", "temporaries"):
        getattr(kept, kind).extend(parts for parts in getattr(leftovers, kind) if not location.discard(*parts))
    return kept


def _listed(location: Location) -> set[tuple[str, str]]:
    """(shard folder, volume id) of every array the manifest lists."""
    rows = stored(read_manifest(location)).select(["shard", "volume_id"]).to_pylist()
    return {(folder_of_shard(row["shard"]), row["volume_id"]) for row in rows}


def _temporaries(location: Location) -> list[Parts]:
    journals = [(WORK, name) for name in location.list_names(WORK) if shard_index(name) is not None]
    folders: list[Parts] = [(), (MANIFEST,), (THUMBNAILS,), (WORK,), *journals]
    return [(*folder, name) for folder in folders for name in location.list_names(*folder) if is_partial(name)]


def _shown(parts: Parts) -> str:
    """shards/shard-00012.zarr/<id> is shown as shard-00012/<id>, as the manifest names it."""
    if parts[0] == SHARDS:
        return "/".join((shard_of_folder(parts[1]), *parts[2:]))
    return "/".join(parts)
