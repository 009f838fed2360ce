"""Pair each image with its label map: a labels folder mirroring the images' names.

``corpus build --labels ROOT`` (or a recipe's ``labels = "labelsTr"``) looks
for an image's label map under ROOT by, in order: its path relative to its
source root, its file name, its file name with a leading ``img`` read as
``label`` (BTCV: ``img0001.nii.gz`` -> ``label0001.nii.gz``), and its file name
without an nnU-Net channel suffix (``case_0000.nii.gz`` -> ``case.nii.gz``).
Label names come from a ``dataset.json`` (Medical Segmentation Decathlon or
nnU-Net v2) in ROOT or its parent, or from ``ROOT/labels.json`` (the same
``labels`` mapping). Images without a label map are built as usual.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path, PurePosixPath

from corpus.errors import SpecError
from corpus.sources.discover import InputItem

LABEL_NAME_FILES = ("labels.json", "dataset.json", "../dataset.json")
_CHANNEL_SUFFIX = re.compile(r"_\d{4}(?=\.)")


def pair_labels(items: list[InputItem], root: Path) -> list[InputItem]:
    """The items with their label maps (items that are label files themselves are dropped)."""
    if not root.is_dir():
        raise SpecError(f"--labels expects a folder of label maps, got {str(root)!r}")
    names = tuple(sorted(read_label_names(root).items()))
    inside = root.resolve()
    paired = []
    for item in items:
        if item.path.resolve().is_relative_to(inside):
            continue
        found = None if item.slices else find_label_file(root, item.relpath)
        paired.append(replace(item, labels=found, label_names=names) if found else item)
    return paired


def find_label_file(root: Path, relpath: str) -> Path | None:
    name = PurePosixPath(relpath).name
    candidates = [relpath, name, re.sub(r"^img", "label", name), _CHANNEL_SUFFIX.sub("", name, count=1)]
    for candidate in candidates:
        if (root / candidate).is_file():
            return root / candidate
    return None


def read_label_names(root: Path) -> dict[int, str]:
    """Label value -> name from the first label file found (empty when there is none)."""
    for name in LABEL_NAME_FILES:
        path = root / name
        if path.is_file():
            return parse_label_names(json.loads(path.read_text()).get("labels", {}), path)
    return {}


def parse_label_names(mapping: dict[str, object], path: Path) -> dict[int, str]:
    """``{"1": "liver"}`` (MSD) or ``{"liver": 1}`` (nnU-Net v2) -> {1: "liver"}."""
    names: dict[int, str] = {}
    for key, value in mapping.items():
        if key.isdigit():
            names[int(key)] = str(value)
        elif isinstance(value, int):
            names[value] = key
        else:
            raise SpecError(f"{path}: labels must map values to names, got {key!r}: {value!r}")
    return names
