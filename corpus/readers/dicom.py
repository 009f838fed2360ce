"""A DICOM stack -> Volume, with geometry from the slice positions themselves.

Slices are sorted along the normal of their plane. The stacking direction is
the line through the slice positions, so a gantry-tilted (sheared) stack gets
a sheared affine and comes out of resampling unskewed. Uneven gaps are kept
as explicit slice positions; a missing slice is bridged only when the gap is
no wider than ``max_gap_mm``; all-in-one-place and duplicate positions fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from corpus.errors import InputError, Reason, one_line
from corpus.readers.arrival import Arrival, decode_in_background
from corpus.readers.dicom_headers import SliceHeader, frame_rescale
from corpus.readers.volume import LPS_TO_RAS, Volume, check_decoded_size

AIR_HU = -1024.0
_SAME_POSITION_MM = 1e-3
_LINE_TOLERANCE_MM = 0.1
_UNEVEN_FRACTION = 0.01  # gaps that differ by more than 1% are kept as explicit positions
_INT16_TOP = 2**15 - 1
_MISSING_RATIO = 1.5  # a gap this much wider than both neighbours means missing slices


def read_dicom_series(slices: Sequence[SliceHeader], max_gap_mm: float, in_background: bool = False) -> Volume:
    """Decode a stack's pixels once, rescale to HU, place it in RAS+.

    ``in_background``: return at once while the slices decode in order in a
    background thread (the volume's ``arrival``), so resampling overlaps the
    decoding; otherwise every slice is in on return.
    """
    ordered, positions = _sorted_positions(slices)
    direction, offsets = _stacking_line(positions)
    gaps = np.diff(offsets)
    note = _check_gaps(gaps, max_gap_mm)
    row_step, column_step = _pixel_spacing(ordered[0])
    check_decoded_size((ordered[0].columns, ordered[0].rows, len(ordered)), 4)
    array, arrival = _read_pixels(ordered, in_background)
    affine = np.eye(4)
    affine[:3, 0] = np.asarray(ordered[0].orientation[:3]) * column_step  # type: ignore[index]
    affine[:3, 1] = np.asarray(ordered[0].orientation[3:]) * row_step  # type: ignore[index]
    affine[:3, 3] = positions[0]
    if len(gaps) and np.ptp(gaps) > _UNEVEN_FRACTION * np.median(gaps):
        affine[:3, 2] = direction  # k is placed by offsets[k] mm along the line
        slice_positions = offsets
    else:
        affine[:3, 2] = direction * (offsets[-1] / max(len(offsets) - 1, 1))
        slice_positions = None
    input_bytes = sum(path.stat().st_size for path in {h.path for h in ordered})
    return Volume(
        array,
        LPS_TO_RAS @ affine,
        "dicom",
        input_bytes=input_bytes,
        modality=ordered[0].modality,
        slice_positions=slice_positions,
        note=note,
        arrival=arrival,
    )


def _sorted_positions(slices: Sequence[SliceHeader]) -> tuple[list[SliceHeader], np.ndarray]:
    first = slices[0]
    if first.orientation is None or any(h.position is None for h in slices):
        raise InputError("Slices lack ImagePositionPatient/ImageOrientationPatient: no geometry", Reason.BAD_GEOMETRY)
    normal = np.cross(first.orientation[:3], first.orientation[3:])
    ordered = sorted(slices, key=lambda h: float(np.dot(h.position, normal)))  # type: ignore[arg-type]
    positions = np.array([h.position for h in ordered], dtype=np.float64)
    along = positions @ normal
    if np.ptp(along) < _SAME_POSITION_MM:
        raise InputError(f"All {len(ordered)} slices sit at one position: not a volume", Reason.NOT_A_VOLUME)
    repeats = int(np.sum(np.diff(along) < _SAME_POSITION_MM))
    if repeats:
        raise InputError(f"{repeats} slice position(s) occur twice with different images", Reason.DUPLICATE_SLICES)
    return ordered, positions


def _stacking_line(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit direction from first to last slice, and each slice's offset along it (mm)."""
    span = positions[-1] - positions[0]
    direction = span / np.linalg.norm(span)
    offsets = (positions - positions[0]) @ direction
    off_line = np.linalg.norm(positions - positions[0] - np.outer(offsets, direction), axis=1).max()
    if off_line > _LINE_TOLERANCE_MM:
        raise InputError(f"Slice positions leave the stacking line by {off_line:.2f} mm", Reason.BAD_GEOMETRY)
    return direction, offsets


def _check_gaps(gaps: np.ndarray, max_gap_mm: float) -> str:
    """Fail on a gap wider than both neighbours (missing slices) unless it is narrow enough to bridge."""
    if len(gaps) < 2:
        return ""
    neighbours = np.maximum(np.r_[gaps[1:2], gaps[:-1]], np.r_[gaps[1:], gaps[-2:-1]])
    missing = np.flatnonzero(gaps > _MISSING_RATIO * neighbours)
    if not len(missing):
        return ""
    widest = int(missing[np.argmax(gaps[missing])])
    detail = f"{gaps[widest]:.2f} mm gap after slice {widest} where neighbours are {neighbours[widest]:.2f} mm"
    if gaps[widest] > max_gap_mm:
        raise InputError(f"Missing slices: {detail}; wider than {max_gap_mm:g} mm, not bridged", Reason.MISSING_SLICES)
    return f"missing slices bridged by interpolation: {detail}"


def _pixel_spacing(header: SliceHeader) -> tuple[float, float]:
    if header.pixel_spacing is None or min(header.pixel_spacing) <= 0:
        raise InputError(f"PixelSpacing missing or not positive: {header.pixel_spacing}", Reason.BAD_GEOMETRY)
    return float(header.pixel_spacing[0]), float(header.pixel_spacing[1])


def _read_pixels(ordered: Sequence[SliceHeader], in_background: bool) -> tuple[np.ndarray, Arrival | None]:
    """HU (columns, rows, slices), and its Arrival when it decodes in the background.

    Slices fill a C-ordered (slices, rows, columns) buffer, one contiguous plane
    each, and the result is its transposed view. HU are int16 when every
    slice's rescale maps its stored values to whole HU within int16's top
    (slope 1, a whole intercept: nearly all CT), else float32.
    """
    first = ordered[0]
    volume = np.empty((len(ordered), first.rows, first.columns), dtype=np.int16 if _fits_int16(ordered) else np.float32)
    runs = _runs_by_file(ordered)  # slices of one file are adjacent: each file is decoded once
    if in_background:
        return volume.transpose(2, 1, 0), decode_in_background(len(ordered), partial(_fill, volume, runs))
    _fill(volume, runs, None)
    return volume.transpose(2, 1, 0), None


def _fill(volume: np.ndarray, runs: list[list[tuple[int, SliceHeader]]], arrival: Arrival | None) -> None:
    """Decode file after file in slice order, reporting the slices that are in."""
    for run in runs:
        _fill_from_file(volume, run)
        if arrival is not None:
            arrival.arrived(run[-1][0] + 1)


def _runs_by_file(ordered: Sequence[SliceHeader]) -> list[list[tuple[int, SliceHeader]]]:
    runs: list[list[tuple[int, SliceHeader]]] = []
    for index, header in enumerate(ordered):
        if runs and runs[-1][-1][1].path == header.path:
            runs[-1].append((index, header))
        else:
            runs.append([(index, header)])
    return runs


def _fill_from_file(volume: np.ndarray, run: list[tuple[int, SliceHeader]]) -> None:
    dataset, pixels = _decode(run[0][1].path)
    for index, header in run:
        frame = pixels[header.frame] if header.frame is not None else pixels
        if frame.shape != volume.shape[1:]:
            raise InputError(f"Slice {index} is {frame.shape}, expected {volume.shape[1:]}", Reason.NOT_3D)
        _to_hu(frame, dataset, header.frame, out=volume[index])


def _fits_int16(ordered: Sequence[SliceHeader]) -> bool:
    """Whole HU no higher than int16 holds: below its bottom any value is under every clip floor anyway."""
    return all(
        h.rescale[0] == 1.0 and float(h.rescale[1]).is_integer() and h.stored_range[1] + h.rescale[1] <= _INT16_TOP
        for h in ordered
    )


def _add_saturating(raw: np.ndarray, intercept: int, out: np.ndarray) -> None:
    """raw + intercept into int16; values below its bottom saturate there, under every clip floor (air).

    Values above its top exceed what the header's BitsStored allows: they saturate too.
    """
    if int(raw.min()) + intercept >= -_INT16_TOP - 1 and int(raw.max()) + intercept <= _INT16_TOP:
        np.add(raw, np.int32(intercept), out=out, casting="unsafe")
        return
    wide = raw.astype(np.int64) + intercept
    np.clip(wide, -_INT16_TOP - 1, _INT16_TOP, out=wide)
    out[...] = wide


def _decode(path: Path) -> tuple[Dataset, np.ndarray]:
    try:
        dataset = pydicom.dcmread(path, force=path.suffix.lower() == ".dcm")
    except Exception as error:
        raise InputError(f"Cannot read DICOM file {path.name}: {one_line(error)}", Reason.UNREADABLE) from error
    if "PixelData" not in dataset:
        raise InputError(f"DICOM file {path.name} has no pixel data", Reason.NO_PIXEL_DATA)
    try:
        return dataset, dataset.pixel_array
    except Exception as error:
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise InputError(f"Cannot decode pixels ({name}): {one_line(error)}", _decode_failure(syntax)) from error


def _decode_failure(syntax: UID | None) -> Reason:
    """No decoder for the transfer syntax: unsupported; a decoder that fails: the pixel data is broken."""
    if syntax is None:
        return Reason.UNREADABLE
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    return Reason.UNREADABLE if available else Reason.UNSUPPORTED_FORMAT


def _to_hu(raw: np.ndarray, dataset: Dataset, frame: int | None, out: np.ndarray) -> None:
    """Rescale one frame into ``out`` (int16 or float32), padding pixels to air."""
    slope, intercept = frame_rescale(dataset, frame)
    if out.dtype == np.int16:
        _add_saturating(raw, int(intercept), out)
    else:
        np.multiply(raw, np.float32(slope), out=out, casting="unsafe")
        out += np.float32(intercept)
    padding = dataset.get("PixelPaddingValue")
    if padding is not None:
        limit = dataset.get("PixelPaddingRangeLimit", padding)
        low, high = sorted((int(padding), int(limit)))
        out[(raw >= low) & (raw <= high)] = AIR_HU
