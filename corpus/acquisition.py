"""Acquisition metadata (scanner, kernel, kVp, thickness, contrast, body part, helical or axial) as controlled values.

Values come from DICOM headers, or from a JSON sidecar beside an image file
(dcm2niix, BIDS); where neither says, they stay null. No free text passes:
manufacturer, model and kernel are short device strings (letters, digits and
a few separators, at most 32 characters); the contrast fields become
yes / no / unknown; BodyPartExamined becomes a DICOM defined term or
``other``; the acquisition type is axial or helical. Reading is done through
a tag getter (DICOM keyword -> raw value), so DICOM and sidecars share it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa

from corpus.store.columns import Column

CONTRAST_YES, CONTRAST_NO, CONTRAST_UNKNOWN = "yes", "no", "unknown"
AXIAL, HELICAL = "axial", "helical"
OTHER_BODY_PART = "other"
DEVICE_STRING_LENGTH = 32
KVP_RANGE = (40.0, 200.0)
THICKNESS_RANGE_MM = (0.05, 100.0)

# The manifest columns these facts fill.
ACQUISITION_COLUMNS = (
    Column("manufacturer", pa.string(), "DICOM Manufacturer as a short device string"),
    Column("model", pa.string(), "ManufacturerModelName as a short device string"),
    Column("kvp", pa.float64(), "peak kilovoltage (KVP)"),
    Column("kernel", pa.string(), "ConvolutionKernel (several values joined by '\\') as a short device string"),
    Column("slice_thickness_mm", pa.float64(), "nominal SliceThickness, mm (the median over a stack's slices)"),
    Column("contrast", pa.string(), f"contrast agent: {CONTRAST_YES} | {CONTRAST_NO} | {CONTRAST_UNKNOWN}"),
    Column("body_part", pa.string(), f"BodyPartExamined as a DICOM defined term, '{OTHER_BODY_PART}' otherwise"),
    Column("acquisition_type", pa.string(), f"{AXIAL} | {HELICAL}, when the header says"),
)

# Enhanced CT keeps these in functional groups: keyword -> the macro's sequence.
ENHANCED_CT_SEQUENCES = {
    "SliceThickness": "PixelMeasuresSequence",
    "KVP": "CTXRayDetailsSequence",
    "ConvolutionKernel": "CTReconstructionSequence",
    "AcquisitionType": "CTAcquisitionTypeSequence",
    "ContrastBolusAgentAdministered": "ContrastBolusUsageSequence",
}

# DICOM PS3.16 Annex L defined terms for BodyPartExamined that CT uses.
BODY_PARTS = frozenset((
    "ABDOMEN", "ABDOMENPELVIS", "ADRENAL", "ANKLE", "AORTA", "ARM", "BLADDER", "BRAIN", "BREAST", "BRONCHUS",
    "CHEST", "CHESTABDOMEN", "CHESTABDPELVIS", "CLAVICLE", "COCCYX", "COLON", "CSPINE", "CTSPINE", "ELBOW",
    "EXTREMITY", "FACE", "FEMUR", "FOOT", "HAND", "HEAD", "HEADNECK", "HEART", "HIP", "HUMERUS", "JAW", "KIDNEY",
    "KNEE", "LEG", "LIVER", "LSPINE", "LSSPINE", "LUNG", "MEDIASTINUM", "NECK", "ORBIT", "PANCREAS", "PELVIS",
    "PROSTATE", "RIB", "SACRUM", "SHOULDER", "SINUS", "SKULL", "SPINE", "SSPINE", "TEMPORALBONE", "THYROID",
    "TLSPINE", "TSPINE", "WHOLEBODY", "WRIST",
))  # fmt: skip
_BODY_PART_SYNONYMS = {"THORAX": "CHEST", "ABDPELVIS": "ABDOMENPELVIS", "CHESTTOPELVIS": "CHESTABDPELVIS"}
_NEGATIONS = re.compile(r"^(NO|NONE|NOT|WITHOUT)\b.*$|^(NON|NIL|0+|-+)$")  # "NON-IONIC" is an agent, not a no
_UNKNOWNS = re.compile(r"^(N/?A|UNKNOWN|UNK|\?+)$")
_DEVICE_CHARACTERS = re.compile(r"[^A-Za-z0-9 ._+\-/()\\]")
_HELICAL_WORDS = frozenset({"HELICAL", "HELIX", "SPIRAL", "SPI"})
_AXIAL_WORDS = frozenset({"AXIAL", "SEQUENCED", "SEQUENCE", "SEQ", "STATIONARY", "CINE"})

Tags = Callable[[str], Any]  # DICOM keyword -> its raw value, or None


@dataclass(frozen=True)
class Acquisition:
    """One field per column of ACQUISITION_COLUMNS; every value already controlled."""

    manufacturer: str | None = None
    model: str | None = None
    kvp: float | None = None
    kernel: str | None = None
    slice_thickness_mm: float | None = None
    contrast: str = CONTRAST_UNKNOWN
    body_part: str | None = None
    acquisition_type: str | None = None

    def as_row(self) -> dict[str, object]:
        return {column.name: getattr(self, column.name) for column in ACQUISITION_COLUMNS}


UNKNOWN = Acquisition()
_INTERNED: dict[Acquisition, Acquisition] = {}


def read_acquisition(tag: Tags) -> Acquisition:
    """Controlled values from the raw tags; equal results are one shared object (a series has hundreds)."""
    found = Acquisition(
        manufacturer=device_string(tag("Manufacturer")),
        model=device_string(tag("ManufacturerModelName")),
        kvp=bounded_number(tag("KVP"), KVP_RANGE),
        kernel=device_string(tag("ConvolutionKernel")),
        slice_thickness_mm=bounded_number(tag("SliceThickness"), THICKNESS_RANGE_MM),
        contrast=contrast_of(tag),
        body_part=body_part_of(tag("BodyPartExamined")),
        acquisition_type=acquisition_type_of(tag),
    )
    return _INTERNED.setdefault(found, found)


def summarise(acquisitions: Sequence[Acquisition]) -> Acquisition:
    """One stack's values: the median thickness and kVp, the most common text (unknown contrast does not vote)."""
    if not acquisitions:
        return Acquisition()
    values: dict[str, Any] = {}
    for field in fields(Acquisition):
        column = [getattr(a, field.name) for a in acquisitions]
        if field.name == "contrast":
            values[field.name] = _most_common(v for v in column if v != CONTRAST_UNKNOWN) or CONTRAST_UNKNOWN
        elif field.name in ("kvp", "slice_thickness_mm"):
            known = [v for v in column if v is not None]
            values[field.name] = round(statistics.median(known), 3) if known else None
        else:
            values[field.name] = _most_common(column)
    return Acquisition(**values)


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)  # ties: the same answer whatever the slice order


def _texts(value: Any) -> list[str]:
    """A raw value as a list of stripped texts (DICOM multi-values and JSON lists alike)."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    return [str(item).strip() for item in items if str(item).strip()]


def device_string(value: Any) -> str | None:
    """A short device name: letters, digits, space and ``. _ + - / ( ) \\``, at most 32 characters."""
    text = "\\".join(_texts(value))
    kept = " ".join(_DEVICE_CHARACTERS.sub("", text).split())[:DEVICE_STRING_LENGTH].strip()
    return kept or None


def bounded_number(value: Any, limits: tuple[float, float]) -> float | None:
    """A number inside ``limits`` (rounded to 3 decimals), else None: a DS holding text or nonsense says nothing."""
    texts = _texts(value)
    try:
        number = float(texts[0]) if texts else None
    except ValueError:
        return None
    if number is None or not limits[0] <= number <= limits[1]:
        return None
    return round(number, 3)


def contrast_of(tag: Tags) -> str:
    """yes / no / unknown from the Contrast/Bolus attributes; the agent's text is judged, never kept."""
    administered = " ".join(_texts(tag("ContrastBolusAgentAdministered"))).upper()
    if administered in ("YES", "NO"):
        return CONTRAST_YES if administered == "YES" else CONTRAST_NO
    for keyword in ("ContrastBolusAgent", "ContrastBolusIngredient", "ContrastBolusRoute"):
        text = " ".join(" ".join(_texts(tag(keyword))).upper().split())
        if not text or _UNKNOWNS.match(text):
            continue
        return CONTRAST_NO if _NEGATIONS.match(text) else CONTRAST_YES
    volume = bounded_number(tag("ContrastBolusVolume"), (0.0, 1e4))
    return CONTRAST_YES if volume else CONTRAST_UNKNOWN


def body_part_of(value: Any) -> str | None:
    """A DICOM defined term (spaces, '_' and '-' dropped, a few vendor synonyms), 'other' for any other text."""
    texts = _texts(value)
    if not texts:
        return None
    term = re.sub(r"[\s_\-]", "", texts[0].upper())
    term = _BODY_PART_SYNONYMS.get(term, term)
    return term if term in BODY_PARTS else OTHER_BODY_PART


def acquisition_type_of(tag: Tags) -> str | None:
    """axial or helical: AcquisitionType (Enhanced CT, Philips), then ScanOptions (GE, Philips),
    then the Siemens ImageType word (SPI / SEQ), then a SpiralPitchFactor; None when none says."""
    for keyword in ("AcquisitionType", "ScanOptions", "ImageType"):
        words = {word for text in _texts(tag(keyword)) for word in re.split(r"[\s_]+", text.upper())}
        if words & _HELICAL_WORDS:
            return HELICAL
        if words & _AXIAL_WORDS - ({"AXIAL"} if keyword == "ImageType" else set()):  # ImageType AXIAL: the plane
            return AXIAL
    return HELICAL if bounded_number(tag("SpiralPitchFactor"), (1e-3, 10.0)) else None
