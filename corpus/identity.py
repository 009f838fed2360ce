"""Who and what an input is, whatever its format: salted subject and series keys, and its acquisition metadata.

Series identity (``series_key``), the first that applies:

1. a DICOM stack: its SeriesInstanceUID;
2. an image file: the SeriesInstanceUID in its JSON sidecar (corpus.readers.sidecar);
3. an image file whose name (without its image suffix) is a DICOM UID, digits and dots
   as LUNA16 names each ``<SeriesInstanceUID>.mhd``: that UID;
4. otherwise the input itself: its source and path (a DICOM stack whose UIDs an
   anonymizer emptied adds its frame of reference).

So the same series stored as DICOM in one collection and as a UID-named MetaImage
or NIfTI in another gets one key, in one corpus or in several built with the same
``CORPUS_SALT``. Subject identity (``subject_key``): the PatientID of a DICOM stack
or of a sidecar; none otherwise. Keys are salted hashes (corpus.privacy); the
identifiers themselves are never stored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from corpus.acquisition import Acquisition, summarise
from corpus.privacy import salted_key
from corpus.readers import image_suffix
from corpus.readers.sidecar import read_sidecar
from corpus.sources import InputItem

MAX_UID_LENGTH = 64
# DICOM UID grammar (PS3.5 9.1): numeric components without leading zeros; at least four, so "1.5" is no UID.
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){3,}")


def describe_input(item: InputItem, salt: str) -> dict[str, Any]:
    """The manifest's subject_key, series_key and acquisition columns for one input."""
    if item.slices:
        first = item.slices[0]
        series = (first.series_uid,) if first.series_uid else (item.source, item.relpath, first.frame_of_reference)
        acquisition = summarise([header.acquisition for header in item.slices])
        return {**_keys(salt, first.patient_id, series), **acquisition.as_row()}
    sidecar = read_sidecar(item.path)
    series_uid = (sidecar.series_uid if sidecar else "") or uid_in_name(item.path)
    keys = _keys(salt, sidecar.patient_id if sidecar else "", (series_uid,) if series_uid else None)
    if not series_uid:
        keys["series_key"] = salted_key(salt, "file", item.source, item.relpath)
    return {**keys, **(sidecar.acquisition if sidecar else Acquisition()).as_row()}


def uid_in_name(path: Path) -> str:
    """The DICOM UID a file is named by (``<uid>.mhd``, ``<uid>.nii.gz``), or ''."""
    suffix = image_suffix(path.name) or ""
    stem = path.name[: len(path.name) - len(suffix)]
    return stem if len(stem) <= MAX_UID_LENGTH and _UID.fullmatch(stem) else ""


def _keys(salt: str, patient_id: str, series: tuple[str, ...] | None) -> dict[str, str | None]:
    return {
        "subject_key": salted_key(salt, "patient", patient_id) if patient_id else None,
        "series_key": salted_key(salt, "series", *series) if series else None,
    }
