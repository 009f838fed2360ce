"""Command-line inputs -> the list of inputs to build, each with a stable volume id.

An input is one image file (NIfTI, MetaImage) or one DICOM stack (a series,
or part of one, possibly spread over folders). DICOM files are recognised by
content, whatever their names; only their headers are read here.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from corpus.errors import InputError, Reason, SpecError, one_line
from corpus.readers import image_suffix, input_format
from corpus.readers.dicom_headers import SliceHeader, looks_like_dicom, read_headers
from corpus.readers.dicom_series import DicomStack, group_stacks
from corpus.sources.recipes import Recipe, find_recipe
from corpus.spec import DicomSelection

DEFAULT_SPLIT = "train"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_MAX_SLUG = 80


@dataclass(frozen=True)
class InputItem:
    """One volume to ingest (a file, or a DICOM stack) and the names it carries in the corpus."""

    path: Path
    source: str
    relpath: str  # relative to the source root, "/"-separated; DICOM: folder[#series label]
    split: str = DEFAULT_SPLIT
    slices: tuple[SliceHeader, ...] = ()  # DICOM only
    skip: tuple[Reason, str] | None = None  # a verdict from the headers (skipped or failed by its reason): never read
    id_path: str | None = None  # what names the volume when a recipe says so (else relpath)
    stamp: tuple[int, int] | None = None  # (bytes, newest mtime in ns) of its files when discovered
    labels: Path | None = None  # its label map, on the image's own grid (corpus.sources.labels)
    label_names: tuple[tuple[int, str], ...] = ()  # (value, name) pairs

    def current_stamp(self) -> tuple[int, int] | None:
        """(bytes, newest mtime) of the input's files now; None when one is gone or unreadable."""
        try:
            stats = [path.stat() for path in self.files]
        except OSError:
            return None
        return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file this input reads (a DICOM stack's slices, once each)."""
        if self.slices:
            return tuple(dict.fromkeys(h.path for h in self.slices))
        return (self.path, self.labels) if self.labels else (self.path,)

    @property
    def volume_id(self) -> str:
        """``<source>-<path slug>``: readable, stable across rebuilds, safe as a zarr name."""
        stem = _strip_image_suffix(self.id_path or self.relpath).replace("#", "_")
        plain = stem.replace("/", "_")
        slug = _DOTS.sub("_", _UNSAFE.sub("_", plain)).strip("._") or "series"  # never "..": a node name only
        if slug != plain or len(slug) > _MAX_SLUG:
            digest = hashlib.sha256(f"{self.source}/{self.id_path or self.relpath}".encode()).hexdigest()[:8]
            slug = f"{slug[:_MAX_SLUG]}-{digest}"
        return f"{self.source}-{slug}"


def parse_source(text: str) -> tuple[str, Path]:
    """``NAME=ROOT`` -> (name, root)."""
    name, sep, root = text.partition("=")
    if not sep or not name or not root:
        raise SpecError(f"--source must look like NAME=ROOT, got {text!r}")
    if _UNSAFE.search(name):
        raise SpecError(f"Source name may hold only letters, digits, '.', '_' and '-', got {name!r}")
    return name, Path(root)


def discover(
    paths: list[Path],
    sources: list[tuple[str, Path]],
    selection: DicomSelection | None = None,
    progress: bool = False,
    labels: Path | None = None,
) -> list[InputItem]:
    """Files named directly, and every image file and DICOM stack under the folders given.

    A plain folder becomes a source named after the folder; a plain file
    belongs to a source named after its parent folder. Files named directly
    are always attempted (an unknown type becomes a failed row); inside
    folders, files that are neither images nor DICOM are ignored. Label maps
    are paired from ``labels`` (every input) or a recipe's ``labels`` folder.
    """
    selection = selection or DicomSelection()
    named = [(name, root) for name, root in sources]
    named += [(_source_name(p if p.is_dir() else p.parent), p) for p in paths]
    _check_source_names(named)
    recipes = {name: find_recipe(name) for name, _ in sources}
    items: dict[tuple[str, str], InputItem] = {}
    for name, root in named:
        if not root.exists() and not root.is_symlink():
            raise SpecError(f"Input {str(root)!r} does not exist; give files or folders of NIfTI, MetaImage or DICOM")
        found = _with_labels(_walk(name, root, selection, progress, recipes.get(name)), root, recipes.get(name), labels)
        items.update(((item.source, item.relpath), replace(item, stamp=item.current_stamp())) for item in found)
    return list(items.values())


def _with_labels(items: list[InputItem], root: Path, recipe: Recipe | None, labels: Path | None) -> list[InputItem]:
    from corpus.sources.labels import pair_labels  # it builds on InputItem

    if labels is not None:
        return pair_labels(items, labels)
    folders = [root / folder for folder in recipe.labels if (root / folder).is_dir()] if recipe else []
    return pair_labels(items, folders[0]) if folders else items


def _check_source_names(named: list[tuple[str, Path]]) -> None:
    """One source name, one folder: otherwise two inputs could claim one volume id."""
    folders: dict[str, Path] = {}
    for name, root in named:
        folder = (root if root.is_dir() else root.parent).resolve()
        if folders.setdefault(name, folder) != folder:
            raise SpecError(
                f"Source name {name!r} would stand for two folders ({folders[name]} and {folder}); "
                f"name them apart with --source NAME=ROOT"
            )


def _walk(
    source: str, root: Path, selection: DicomSelection, progress: bool, recipe: Recipe | None = None
) -> list[InputItem]:
    if not root.is_dir():
        if input_format(root) is None and looks_like_dicom(root):
            return _dicom_items(source, root.parent, [root], selection, progress)
        return [InputItem(root, source, printable(root.name))]
    if recipe is not None:
        return _apply_recipe(recipe, _walk_folder(source, root, selection, progress, recipe))
    return _walk_folder(source, root, selection, progress, None)


def _apply_recipe(recipe: Recipe, items: list[InputItem]) -> list[InputItem]:
    """Name each input and give it its split as the recipe says."""
    return [
        replace(item, id_path=recipe.key(item.relpath), split=recipe.split_of(item.relpath, item.split))
        for item in items
    ]


def _walk_folder(
    source: str, root: Path, selection: DicomSelection, progress: bool, recipe: Recipe | None
) -> list[InputItem]:
    images: list[Path] = []
    others: list[Path] = []
    for folder, dirs, files in os.walk(root):  # symlinked folders are not followed: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if recipe is not None and not recipe.accepts(path.relative_to(root).as_posix()):
                continue
            (images if input_format(name) is not None else others).append(path)
    if recipe is not None and recipe.format == "dicom":
        images = []
    items = [InputItem(path, source, printable(path.relative_to(root).as_posix())) for path in images]
    candidates = [path for path in others if looks_like_dicom(path)]
    return items + _dicom_items(source, root, candidates, selection, progress)


def _dicom_items(
    source: str, root: Path, files: list[Path], selection: DicomSelection, progress: bool
) -> list[InputItem]:
    headers, broken = [], []
    for path in tqdm(files, desc=f"scan {source}", unit="file", disable=not progress or None):
        try:
            headers.extend(read_headers(path))
        except InputError as error:  # a broken DICOM file: its own failed row, never silently left out
            relpath = printable(path.relative_to(root).as_posix())
            broken.append(InputItem(path, source, relpath, skip=(error.reason, one_line(error))))
    stacks = group_stacks(headers, selection)
    names = _stack_names(stacks, [_common_folder(stack, root) for stack in stacks])
    items = [
        InputItem(path=stack.slices[0].path.parent, source=source, relpath=name, slices=stack.slices, skip=stack.skip)
        for stack, name in zip(stacks, names, strict=True)
    ]
    return items + broken


def _stack_names(stacks: list[DicomStack], folders: list[str]) -> list[str]:
    """``folder`` for a folder's only stack, else ``folder#series<N>`` (``-2``, ``-3``...) in a stable order.

    Names depend only on the folder's own content, so adding series elsewhere never renames a volume.
    """
    per_folder: dict[str, list[int]] = defaultdict(list)
    for index, folder in enumerate(folders):
        per_folder[folder].append(index)
    names = list(folders)
    for folder, members in per_folder.items():
        if len(members) == 1:
            continue
        seen: dict[str, int] = defaultdict(int)
        for index in sorted(members, key=lambda i: (stacks[i].label, str(stacks[i].slices[0].path))):
            seen[stacks[index].label] += 1
            count = seen[stacks[index].label]
            names[index] = f"{folder}#{stacks[index].label}" + (f"-{count}" if count > 1 else "")
    return names


def printable(name: str) -> str:
    """A file name as valid UTF-8: bytes that are not (surrogate-escaped by Python) become \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _common_folder(stack: DicomStack, root: Path) -> str:
    folders = {h.path.parent.relative_to(root).as_posix() for h in stack.slices}
    common = os.path.commonpath(sorted(folders)) if len(folders) > 1 else folders.pop()
    return printable(PurePosixPath(common).as_posix()) or "."


def _source_name(folder: Path) -> str:
    return _UNSAFE.sub("_", folder.resolve().name).strip("._") or "inputs"


def _strip_image_suffix(relpath: str) -> str:
    suffix = image_suffix(relpath)
    return relpath[: -len(suffix)] if suffix else relpath
