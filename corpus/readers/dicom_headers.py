"""DICOM headers only: what grouping and selection need, pixel data deferred.

Multi-frame (Enhanced CT) objects expand to one :class:`SliceHeader` per frame.
Patient identifiers are read only to be hashed (subject/series keys); they are
never stored, logged or returned in messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from corpus.acquisition import ENHANCED_CT_SEQUENCES, UNKNOWN, Acquisition, read_acquisition
from corpus.errors import InputError, Reason, one_line
from corpus.readers.dicom_integrity import check_pixel_module, check_whole

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_PREAMBLE_BYTES = 132
_PARSE_ERRORS = (
    InvalidDicomError,
    BytesLengthException,  # a value cut short (e.g. inside the file meta group length); not a ValueError
    OSError,
    ValueError,
    EOFError,
    struct.error,
    AttributeError,
    KeyError,
    TypeError,
)


@dataclass(frozen=True)
class SliceHeader:
    """One 2D image (a file, or a frame of a multi-frame file) and its geometry."""

    path: Path
    frame: int | None
    study_uid: str
    series_uid: str
    frame_of_reference: str
    series_number: int | None
    modality: str
    image_type: tuple[str, ...]
    sop_class: str
    sop_instance: str
    rows: int
    columns: int
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    patient_id: str  # hashed into subject_key, never stored
    acquisition: Acquisition = UNKNOWN  # controlled values only (corpus.acquisition)
    rescale: tuple[float, float] = (1.0, 0.0)  # (slope, intercept): HU = stored * slope + intercept
    stored_range: tuple[int, int] = (-(2**15), 2**15 - 1)  # what BitsStored and PixelRepresentation allow

    @property
    def is_image(self) -> bool:
        return self.rows > 0 and self.columns > 0


def looks_like_dicom(path: Path) -> bool:
    """True for Part-10 files ('DICM' at byte 128) and for *.dcm files without a preamble."""
    return has_dicm_marker(path) or path.suffix.lower() == ".dcm"


def has_dicm_marker(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(_PREAMBLE_BYTES)[128:132] == b"DICM"
    except OSError:
        return False


def read_headers(path: Path) -> list[SliceHeader]:
    """The image headers of one file; [] for non-DICOM files and DICOMDIR indexes.

    A file with the 'DICM' marker is DICOM for sure: when it cannot be read, is
    cut short, or its pixel module is garbage, it is a broken image, not
    clutter, and InputError (``unreadable`` or ``truncated``) says so.
    """
    marked = has_dicm_marker(path)
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=path.suffix.lower() == ".dcm")
    except _PARSE_ERRORS as error:
        if marked:
            check_whole(path)  # a cut file says so
            raise InputError(f"Not a readable DICOM file: {one_line(error)}", Reason.UNREADABLE) from None
        return []
    media_class = str(getattr(getattr(dataset, "file_meta", None), "MediaStorageSOPClassUID", ""))
    if media_class == DICOMDIR_CLASS or "DirectoryRecordSequence" in dataset:
        return []
    if marked:
        check_whole(path)
    check_pixel_module(dataset, path.name)
    frames = _int(dataset.get("NumberOfFrames")) or 1
    if frames > 1 or "PerFrameFunctionalGroupsSequence" in dataset:
        return [_header(path, dataset, index) for index in range(frames)]
    return [_header(path, dataset, None)]


def dataset_frame_geometry(dataset: Dataset, frame: int | None) -> dict[str, Any]:
    """Position, orientation, spacing and rescale of a frame (classic or Enhanced CT)."""
    groups = _frame_groups(dataset, frame)
    return {
        "position": _floats(_lookup(dataset, groups, "PlanePositionSequence", "ImagePositionPatient"), 3),
        "orientation": _floats(_lookup(dataset, groups, "PlaneOrientationSequence", "ImageOrientationPatient"), 6),
        "pixel_spacing": _floats(_lookup(dataset, groups, "PixelMeasuresSequence", "PixelSpacing"), 2),
        "rescale": _rescale(dataset, groups),
    }


def frame_rescale(dataset: Dataset, frame: int | None) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) of a frame, classic or Enhanced CT: HU = stored * slope + intercept."""
    return _rescale(dataset, _frame_groups(dataset, frame))


def _rescale(dataset: Dataset, groups: list[Dataset]) -> tuple[float, float]:
    slope = _float(_lookup(dataset, groups, "PixelValueTransformationSequence", "RescaleSlope"), 1.0)
    intercept = _float(_lookup(dataset, groups, "PixelValueTransformationSequence", "RescaleIntercept"), 0.0)
    return slope, intercept


def _header(path: Path, dataset: Dataset, frame: int | None) -> SliceHeader:
    geometry = dataset_frame_geometry(dataset, frame)
    return SliceHeader(
        path=path,
        frame=frame,
        study_uid=str(dataset.get("StudyInstanceUID", "") or ""),
        series_uid=str(dataset.get("SeriesInstanceUID", "") or ""),
        frame_of_reference=str(dataset.get("FrameOfReferenceUID", "") or ""),
        series_number=_int(dataset.get("SeriesNumber")),
        modality=str(dataset.get("Modality", "") or "").upper(),
        image_type=tuple(str(v).upper() for v in _as_list(dataset.get("ImageType"))),
        sop_class=str(dataset.get("SOPClassUID", "") or ""),
        sop_instance=str(dataset.get("SOPInstanceUID", "") or ""),
        rows=_int(dataset.get("Rows")) or 0,
        columns=_int(dataset.get("Columns")) or 0,
        position=geometry["position"],
        orientation=geometry["orientation"],
        pixel_spacing=geometry["pixel_spacing"],
        patient_id=str(dataset.get("PatientID", "") or ""),
        acquisition=_acquisition(dataset, frame),
        rescale=geometry["rescale"],
        stored_range=_stored_range(dataset),
    )


def _acquisition(dataset: Dataset, frame: int | None) -> Acquisition:
    groups = _frame_groups(dataset, frame)
    return read_acquisition(lambda keyword: _lookup(dataset, groups, ENHANCED_CT_SEQUENCES.get(keyword, ""), keyword))


def _stored_range(dataset: Dataset) -> tuple[int, int]:
    bits = _int(dataset.get("BitsStored")) or _int(dataset.get("BitsAllocated")) or 16
    if _int(dataset.get("PixelRepresentation")) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _frame_groups(dataset: Dataset, frame: int | None) -> list[Dataset]:
    """Per-frame then shared functional groups (Enhanced CT); [] for classic images."""
    groups = []
    if frame is not None and "PerFrameFunctionalGroupsSequence" in dataset:
        per_frame = dataset.PerFrameFunctionalGroupsSequence
        if frame < len(per_frame):
            groups.append(per_frame[frame])
    if "SharedFunctionalGroupsSequence" in dataset and len(dataset.SharedFunctionalGroupsSequence):
        groups.append(dataset.SharedFunctionalGroupsSequence[0])
    return groups


def _lookup(dataset: Dataset, groups: list[Dataset], sequence: str, keyword: str) -> Any:
    for group in groups:
        if sequence in group and len(group[sequence].value) and keyword in group[sequence].value[0]:
            return group[sequence].value[0][keyword].value
    return dataset.get(keyword)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in _as_list(value))
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
