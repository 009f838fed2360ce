"""List files of volumes (a downstream test set, a split list): which manifest rows they name.

One entry per line; blank lines and lines starting with ``#`` are ignored. A
line names a row when it is the row's ``volume_id``; or a path whose last
components are the row's ``input_path``, or the last components of it
(``imagesTs/img0061.nii.gz`` names input ``img0061.nii.gz`` of a source
rooted at imagesTs, and ``img0061.nii.gz`` names ``imagesTs/img0061.nii.gz``);
or a file named by a DICOM UID, which names every row of that UID whatever its
folder and format (``subset_0/<uid>.nii.gz`` names ``subset3/<uid>.mhd``).

A JSON data list (MONAI's decathlon form, as the VoCo and Swin-UNETR code
ship their splits) is a list file too: ``lists/btcv.json#validation`` holds
the ``validation`` entries, ``lists/btcv.json`` the entries of every list in
it; an entry is a path, or an object whose ``image`` is one (or a list of them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from corpus.errors import SpecError
from corpus.identity import uid_in_name

LIST_SUFFIXES = (".txt", ".lst", ".list", ".json")
SECTION = "#"  # lists/btcv.json#validation: one list of a JSON data list


def list_file(target: str | Path) -> tuple[Path, str]:
    """The file a list target names, and the JSON section after ``#`` ("" for all)."""
    path, _, section = str(target).partition(SECTION)
    return (Path(path), section) if path.lower().endswith(".json") else (Path(str(target)), "")


def is_list_file(target: str | Path) -> bool:
    path, _ = list_file(target)
    return path.is_file() and path.suffix.lower() in LIST_SUFFIXES


def read_list(target: str | Path) -> list[str]:
    """The entries of a list file (one per line) or of a JSON data list (``file.json`` or ``file.json#section``)."""
    path, section = list_file(target)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"Cannot read the list file {path}: {error}; expected one volume id or path per line") from None
    if path.suffix.lower() == ".json":
        return _json_entries(path, text, section)
    lines = text.splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _json_entries(path: Path, text: str, section: str) -> list[str]:
    """Paths of a decathlon-style data list: {"training": ["a.nii.gz" or {"image": ...}, ...], ...}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(f'{path} is not JSON ({error}); expected a data list: {{"validation": [...]}}') from None
    lists = {key: value for key, value in data.items() if isinstance(value, list)} if isinstance(data, dict) else {}
    if section and section not in lists:
        raise SpecError(f"{path} has no list {section!r}; it has {sorted(lists)}: name one after '#'")
    chosen = [lists[section]] if section else list(lists.values())
    if not chosen:
        raise SpecError(f'{path} holds no list of paths; expected {{"training": [...], "validation": [...]}}')
    return [path for entries in chosen for entry in entries for path in _paths_of(entry)]


def _paths_of(entry: object) -> list[str]:
    image = entry.get("image") if isinstance(entry, dict) else entry
    images = image if isinstance(image, list) else [image]
    return [str(item) for item in images if isinstance(item, str) and item]


def listed(table: pa.Table, entries: Iterable[str]) -> np.ndarray:
    """A mask over ``table``'s rows: True where some entry names the row."""
    index = _RowIndex(table)
    mask = np.zeros(table.num_rows, dtype=bool)
    for entry in entries:
        mask[list(index.rows_named(entry))] = True
    return mask


class _RowIndex:
    """Rows by volume id, by their whole input path, by every tail of it, and by the UID their file is named by."""

    def __init__(self, table: pa.Table) -> None:
        self.by_name: dict[str, set[int]] = defaultdict(set)
        self.by_path: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.by_tail: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.by_uid: dict[str, set[int]] = defaultdict(set)
        paths = table.column("input_path").to_pylist()
        for row, (volume_id, path) in enumerate(zip(table.column("volume_id").to_pylist(), paths, strict=True)):
            self.by_name[volume_id].add(row)
            parts = _parts(path or "")
            self.by_path[parts].add(row)
            for start in range(len(parts)):
                self.by_tail[parts[start:]].add(row)
            if parts and uid_in_name(Path(parts[-1])):
                self.by_uid[uid_in_name(Path(parts[-1]))].add(row)

    def rows_named(self, entry: str) -> set[int]:
        parts = _parts(entry)
        found = self.by_name.get(entry, set()) | self.by_tail.get(parts, set())
        for start in range(1, len(parts)):  # the entry may name folders above the source root
            found |= self.by_path.get(parts[start:], set())
        uid = uid_in_name(Path(parts[-1])) if parts else ""
        return found | self.by_uid.get(uid, set()) if uid else found


def _parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in PurePosixPath(path.replace("\\", "/")).parts if part not in ("/", "."))
