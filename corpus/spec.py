"""What a build is asked for: the BuildSpec (what the stored voxels mean, hashed) and the DICOM selection.

The storage layout (chunks, compression) is recorded per corpus instead
(corpus.store.storage_layout): it does not change a single voxel.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from corpus.errors import SpecError

INT16_MIN, INT16_MAX = -32768, 32767
INTERPOLATIONS = ("linear",)


def parse_spacing(text: str) -> tuple[float, float, float]:
    """``"1.5"`` -> (1.5, 1.5, 1.5); ``"1.25,1.25,5"`` -> per-axis spacing in mm."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SpecError(f"Spacing must be one number or three comma-separated numbers (mm), got {text!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise SpecError(f"Spacing needs 1 or 3 values, got {len(values)} in {text!r}")
    return values[0], values[1], values[2]


def format_spacing(spacing: tuple[float, ...]) -> str:
    """The text :func:`parse_spacing` reads back: ``1.5``, or ``1.25,1.25,5``."""
    shown = spacing[:1] if len(set(spacing)) == 1 else spacing
    return ",".join(f"{value:g}" for value in shown)


def parse_clip(text: str) -> tuple[int, int]:
    """``"-1024,3071"`` -> (-1024, 3071) HU."""
    parts = text.split(",")
    try:
        low, high = (int(float(part)) for part in parts)
    except ValueError:
        raise SpecError(f"Clip must be two comma-separated HU values like -1024,3071, got {text!r}") from None
    return low, high


def format_clip(clip: tuple[int, int]) -> str:
    return f"{clip[0]},{clip[1]}"


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` when every key is a field of the dataclass ``cls`` (a config read back from a file)."""
    known = {field.name for field in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"Unknown {cls.__name__} fields {sorted(unknown)}; expected some of {sorted(known)}")
    return data


@dataclass(frozen=True)
class BuildSpec:
    """What the stored voxels mean: grid, HU clip, interpolation, orientation, type.

    Two builds may write into the same corpus only with equal specs (equal
    :meth:`hash`): every array of a corpus shares one grid and clip.
    """

    spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)
    clip: tuple[int, int] = (-1024, 3071)
    interpolation: str = "linear"
    orientation: str = "RAS"
    dtype: str = "int16"

    def __post_init__(self) -> None:
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "clip", tuple(int(c) for c in self.clip))
        self._validate()

    def _validate(self) -> None:
        if len(self.spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in self.spacing):
            raise SpecError(f"Spacing must be three positive numbers (mm), got {self.spacing}")
        low, high = self.clip
        if not (INT16_MIN <= low < high <= INT16_MAX):
            raise SpecError(f"Clip must satisfy {INT16_MIN} <= low < high <= {INT16_MAX}, got {self.clip}")
        if self.interpolation not in INTERPOLATIONS:
            raise SpecError(f"Interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if (self.orientation, self.dtype) != ("RAS", "int16"):
            raise SpecError(f"Only RAS int16 corpora exist, got {self.orientation} {self.dtype}")

    @property
    def max_gap_mm(self) -> float:
        """Widest slice gap bridged by interpolation: twice the coarsest target spacing."""
        return 2.0 * max(self.spacing)

    @property
    def fill_value(self) -> int:
        """Out-of-field voxels hold the low clip value (air)."""
        return self.clip[0]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spacing": list(self.spacing), "clip": list(self.clip)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildSpec:
        return cls(**known_fields(cls, data))

    def hash(self) -> str:
        """Stable 16-hex digest of every field: equal specs, equal hash, on any machine."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DicomSelection:
    """Which DICOM stacks a build stores. It picks inputs and changes no voxel, so it is not in the hash."""

    modalities: tuple[str, ...] = ("CT",)  # stacks of other modalities are skipped
    min_slices: int = 3  # stacks with fewer slices are skipped (scouts have 1 or 2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", tuple(str(m).upper() for m in self.modalities))
        if not self.modalities or self.min_slices < 1:
            raise SpecError(f"Need at least one modality and min_slices >= 1, got {self.modalities}, {self.min_slices}")
