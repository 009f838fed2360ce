"""Source recipes: how to find a collection's volumes under its root, name them, split them.

A recipe is a TOML file (manifests/recipes/NAME.toml); a user adds a
collection by writing one, no code. ``corpus build --source NAME=ROOT`` uses
the recipe called NAME when one exists. Recipes are looked up in the folders
of $CORPUS_RECIPES, then ./manifests/recipes, then the project's own.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from corpus.errors import SpecError
from corpus.readers import image_suffix

RECIPES_ENV = "CORPUS_RECIPES"
ID_RULES = ("path", "stem", "parent")
UNLISTED_SPLIT = "other"  # in a collection with split lists, volumes on none of them
_FIELDS = {"name", "description", "include", "exclude", "id", "format", "modality", "splits", "labels"}


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str = ""
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    id: str = "path"
    format: str | None = None  # "dicom": only DICOM stacks; None: images and DICOM
    modality: str = "CT"
    splits: dict[str, str] = field(default_factory=dict)  # key (per `id`) -> split
    labels: tuple[str, ...] = ()  # folders of label maps relative to the root, the first present used

    def accepts(self, relpath: str) -> bool:
        """Whether a file (path relative to the root, '/'-separated) belongs to the collection."""
        included = any(fnmatch.fnmatchcase(relpath, pattern) for pattern in self.include)
        return included and not any(fnmatch.fnmatchcase(relpath, pattern) for pattern in self.exclude)

    def key(self, relpath: str) -> str:
        """The part of an input's path that names its volume (and finds its split)."""
        path = PurePosixPath(relpath.split("#", 1)[0])
        if self.id == "parent":
            return path.parent.name or path.name
        if self.id == "stem":
            suffix = image_suffix(path.name)
            return path.name[: -len(suffix)] if suffix else path.name
        return relpath

    def split_of(self, relpath: str, default: str) -> str:
        if not self.splits:
            return default
        return self.splits.get(self.key(relpath), UNLISTED_SPLIT)


def find_recipe(name: str) -> Recipe | None:
    """The recipe called ``name``, or None when no recipe folder has one."""
    for folder in recipe_folders():
        path = folder / f"{name}.toml"
        if path.is_file():
            return load_recipe(path)
    return None


def recipe_folders() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(RECIPES_ENV, "").split(os.pathsep) if p]
    return [*extra, Path.cwd() / "manifests" / "recipes", Path(__file__).resolve().parents[2] / "manifests" / "recipes"]


def load_recipe(path: Path) -> Recipe:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    unknown = set(data) - _FIELDS
    if unknown:
        raise SpecError(f"Recipe {path}: unknown keys {sorted(unknown)}; expected some of {sorted(_FIELDS)}")
    if data.get("id", "path") not in ID_RULES:
        raise SpecError(f"Recipe {path}: id must be one of {ID_RULES}, got {data['id']!r}")
    splits = load_splits(path.parent.parent / "splits" / data["splits"]) if "splits" in data else {}
    return Recipe(
        name=data.get("name", path.stem),
        description=data.get("description", ""),
        include=tuple(data.get("include", ["*"])),
        exclude=tuple(data.get("exclude", [])),
        id=data.get("id", "path"),
        format=data.get("format"),
        modality=data.get("modality", "CT"),
        splits=splits,
        labels=_as_tuple(data.get("labels", [])),
    )


def load_splits(path: Path) -> dict[str, str]:
    """A split file (``train = [...]``, ``val = [...]``) as key -> split name."""
    data = tomllib.loads(path.read_text())
    mapping: dict[str, str] = {}
    for split, keys in data.items():
        if isinstance(keys, list):
            for key in keys:
                if mapping.setdefault(str(key), split) != split:
                    raise SpecError(f"Split file {path}: {key!r} is in both {mapping[str(key)]!r} and {split!r}")
    return mapping


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
