"""Group DICOM slice headers into stacks, and decide which stacks are CT volumes.

A series (SeriesInstanceUID; folder and SeriesNumber when the UID is empty)
is split further into stacks of one frame of reference, orientation and
image size. Localizers, secondary captures, non-CT and non-image objects,
too-short and non-axial stacks are skipped with a reason, not failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from corpus.errors import Reason
from corpus.readers.dicom_headers import SliceHeader
from corpus.spec import DicomSelection

SECONDARY_CAPTURE_CLASSES = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame .1 .. .4 siblings
_AXIAL_MIN_COSINE = np.cos(np.deg2rad(45.0))  # slice normal within 45 degrees of the z axis


@dataclass(frozen=True)
class DicomStack:
    """One candidate volume: slices of one series that share geometry, plus a verdict."""

    slices: tuple[SliceHeader, ...]
    label: str
    skip: tuple[Reason, str] | None = None


def group_stacks(headers: Iterable[SliceHeader], selection: DicomSelection) -> list[DicomStack]:
    """Every stack among ``headers``, labelled ``series<N>`` (its SeriesNumber), with its verdict.

    A series that is not a CT acquisition at all stays whole: one skipped row.
    """
    found: list[tuple[list[SliceHeader], tuple[Reason, str] | None]] = []
    for series in _by_key(_unique(headers), _series_key).values():
        verdict = _series_verdict(series[0], selection.modalities)
        if verdict is not None:
            found.append((series, verdict))
            continue
        stacks = _by_key(series, _stack_key).values()
        found.extend((stack, _stack_verdict(stack, selection.min_slices)) for stack in stacks)
    found.sort(key=lambda pair: (pair[0][0].series_number or 0, str(pair[0][0].path), pair[0][0].frame or 0))
    return [DicomStack(tuple(stack), _label(stack), verdict) for stack, verdict in found]


def _unique(headers: Iterable[SliceHeader]) -> list[SliceHeader]:
    """Drop copies of one instance (same SOPInstanceUID and frame), keeping the first path."""
    seen: dict[tuple[str, int | None], SliceHeader] = {}
    kept = []
    for header in sorted(headers, key=lambda h: (str(h.path), h.frame or 0)):
        key = (header.sop_instance, header.frame)
        if header.sop_instance and key in seen:
            continue
        seen[key] = header
        kept.append(header)
    return kept


def _series_key(header: SliceHeader) -> tuple[object, ...]:
    if header.series_uid:
        return ("uid", header.study_uid, header.series_uid)
    # Empty UIDs (some anonymizers): fall back to the folder and the series number.
    return ("folder", str(header.path.parent), header.series_number, header.frame_of_reference)


def _stack_key(header: SliceHeader) -> tuple[object, ...]:
    orientation = tuple(round(v, 3) for v in header.orientation) if header.orientation else None
    return (header.frame_of_reference, orientation, header.rows, header.columns, header.is_image)


def _by_key(
    headers: Iterable[SliceHeader], key: Callable[[SliceHeader], tuple[object, ...]]
) -> dict[tuple[object, ...], list[SliceHeader]]:
    groups: dict[tuple[object, ...], list[SliceHeader]] = defaultdict(list)
    for header in headers:
        groups[key(header)].append(header)
    return groups


def _label(stack: list[SliceHeader]) -> str:
    number = stack[0].series_number
    return f"series{number}" if number is not None else "series"


def _series_verdict(first: SliceHeader, modalities: tuple[str, ...]) -> tuple[Reason, str] | None:
    if not first.is_image:
        return Reason.NOT_AN_IMAGE, f"{first.modality or 'DICOM'} object without pixel rows/columns (report or index)"
    if first.sop_class.startswith(SECONDARY_CAPTURE_CLASSES):
        return Reason.SECONDARY_CAPTURE, "secondary capture images (screenshots or summaries), not a CT acquisition"
    if "LOCALIZER" in first.image_type:
        return Reason.LOCALIZER, "localizer/scout images, not a volume"
    if first.modality not in modalities:
        return Reason.NOT_CT, f"modality {first.modality or 'missing'}; this build takes {', '.join(modalities)}"
    return None


def _stack_verdict(stack: list[SliceHeader], min_slices: int) -> tuple[Reason, str] | None:
    first = stack[0]
    if len(stack) < min_slices:
        return Reason.TOO_FEW_SLICES, f"{len(stack)} slice(s); a volume needs at least {min_slices}"
    if first.orientation is None or first.position is None or first.pixel_spacing is None:
        return None  # the reader fails it with a precise geometry message
    normal = np.cross(first.orientation[:3], first.orientation[3:])
    if abs(normal[2]) < _AXIAL_MIN_COSINE * np.linalg.norm(normal):
        return Reason.NOT_AXIAL, "sagittal or coronal stack (slice normal more than 45 degrees from z)"
    return None
