"""Command-line inputs -> the list of inputs to build, each with a stable volume id."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import SpecError
from corpus.readers import image_suffix, input_format

DEFAULT_SPLIT = "train"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SLUG = 80


@dataclass(frozen=True)
class InputItem:
    """One file to ingest and the names it will carry in the corpus."""

    path: Path
    source: str
    relpath: str  # relative to the source root, "/"-separated
    split: str = DEFAULT_SPLIT

    @property
    def volume_id(self) -> str:
        """``<source>-<path slug>``: readable, stable across rebuilds, safe as a zarr name."""
        stem = _strip_image_suffix(self.relpath)
        slug = _UNSAFE.sub("_", stem.replace("/", "_")).strip("._") or "volume"
        if slug != stem.replace("/", "_") or len(slug) > _MAX_SLUG:
            digest = hashlib.sha256(f"{self.source}/{self.relpath}".encode()).hexdigest()[:8]
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


def discover(paths: list[Path], sources: list[tuple[str, Path]]) -> list[InputItem]:
    """Files named directly, and every image file under the folders given.

    A plain folder becomes a source named after the folder; a plain file
    belongs to a source named after its parent folder. Files named directly
    are always attempted (an unknown type becomes a failed row); inside
    folders only image files are picked up (.raw/.zraw companions are data).
    """
    named = [(name, root) for name, root in sources]
    named += [(_source_name(p if p.is_dir() else p.parent), p) for p in paths]
    _check_source_names(named)
    items: dict[tuple[str, str], InputItem] = {}
    for name, root in named:
        if not root.exists() and not root.is_symlink():
            raise SpecError(f"Input {str(root)!r} does not exist; give files or folders of NIfTI/MetaImage")
        items.update(((item.source, item.relpath), item) for item in _walk(name, root))
    return list(items.values())


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


def _walk(source: str, root: Path) -> list[InputItem]:
    if not root.is_dir():
        return [InputItem(root, source, root.name)]
    found = []
    for folder, dirs, files in os.walk(root):  # symlinked folders are not followed: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and input_format(name) is not None:
                path = Path(folder) / name
                found.append(InputItem(path, source, path.relative_to(root).as_posix()))
    return found


def _source_name(folder: Path) -> str:
    return _UNSAFE.sub("_", folder.resolve().name).strip("._") or "inputs"


def _strip_image_suffix(relpath: str) -> str:
    suffix = image_suffix(relpath)
    return relpath[: -len(suffix)] if suffix else relpath
