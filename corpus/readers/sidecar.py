"""JSON sidecars beside image files (dcm2niix, BIDS): acquisition metadata and series identity.

``scan.nii.gz`` (or ``scan.mha``...) may have ``scan.json`` next to it. Only the
keys listed here are read, and only through corpus.acquisition's controlled
values; the series UID and patient ID are read to be hashed, never stored. A
missing, unreadable or odd sidecar means no metadata, never a failed volume.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.acquisition import Acquisition, read_acquisition
from corpus.readers import image_suffix

SIDECAR_SUFFIX = ".json"
MAX_SIDECAR_BYTES = 1 << 20  # dcm2niix writes a few kB
# DICOM keyword -> the names sidecar writers use for it (dcm2niix writes ManufacturersModelName and BodyPart).
ALIASES = {
    "ManufacturerModelName": ("ManufacturerModelName", "ManufacturersModelName"),
    "BodyPartExamined": ("BodyPartExamined", "BodyPart"),
}

log = logging.getLogger("corpus.build")


@dataclass(frozen=True)
class Sidecar:
    acquisition: Acquisition
    series_uid: str  # hashed into series_key, never stored ("" when absent)
    patient_id: str  # hashed into subject_key, never stored ("" when absent)


def sidecar_path(image: Path) -> Path:
    """``case.nii.gz`` -> ``case.json`` in the same folder."""
    suffix = image_suffix(image.name) or image.suffix
    return image.with_name(image.name[: len(image.name) - len(suffix)] + SIDECAR_SUFFIX)


def read_sidecar(image: Path) -> Sidecar | None:
    """The sidecar of an image file, or None when there is none to use."""
    data = _load(sidecar_path(image))
    if data is None:
        return None

    def tag(keyword: str) -> Any:
        return next((data[name] for name in ALIASES.get(keyword, (keyword,)) if name in data), None)

    return Sidecar(read_acquisition(tag), _text(data.get("SeriesInstanceUID")), _text(data.get("PatientID")))


def _load(path: Path) -> dict[str, Any] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("%s: sidecar not read (%s)", path.name, type(error).__name__)
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
