"""Raw input -> :class:`Volume`: one verb-named reader per format, and the table that finds them.

A file is read by the format its name announces (``FORMATS``). Each format
also reads its shape and spacing from the header alone, for the dry run's
size estimate. DICOM is recognised by content and read as stacks instead
(corpus.readers.dicom_headers, corpus.readers.dicom).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from corpus.errors import InputError, Reason
from corpus.readers.metaimage import read_metaimage, read_metaimage_geometry
from corpus.readers.nifti import read_nifti, read_nifti_geometry
from corpus.readers.volume import HeaderGeometry, Volume

__all__ = [
    "FORMATS",
    "FileFormat",
    "Volume",
    "file_format",
    "image_suffix",
    "input_format",
    "read_metaimage",
    "read_nifti",
    "read_volume",
]


@dataclass(frozen=True)
class FileFormat:
    name: str  # the manifest's input_format
    suffixes: tuple[str, ...]  # lower case, dot included
    read: Callable[[Path], Volume]
    read_geometry: Callable[[Path], HeaderGeometry]  # (shape, spacing mm) from the header; no voxel is read
    read_in_background: Callable[[Path], Volume] | None = None  # returns while the voxels still decode


FORMATS = (
    FileFormat("nifti", (".nii", ".nii.gz"), read_nifti, read_nifti_geometry, partial(read_nifti, in_background=True)),
    FileFormat("metaimage", (".mha", ".mhd"), read_metaimage, read_metaimage_geometry),
)
_BY_SUFFIX = {suffix: found for found in FORMATS for suffix in found.suffixes}
_LONGEST_FIRST = sorted(_BY_SUFFIX, key=len, reverse=True)  # ".nii.gz" before ".gz"-like endings


def image_suffix(path: str | Path) -> str | None:
    """The image suffix a file name ends with (``.nii.gz``, ``.mha``...), or None."""
    name = str(path).lower()
    return next((suffix for suffix in _LONGEST_FIRST if name.endswith(suffix)), None)


def file_format(path: str | Path) -> FileFormat | None:
    """The format a file name announces, or None."""
    suffix = image_suffix(Path(path).name)
    return None if suffix is None else _BY_SUFFIX[suffix]


def input_format(path: str | Path) -> str | None:
    """The name of the format a file name announces (``nifti``, ``metaimage``), or None."""
    found = file_format(path)
    return None if found is None else found.name


def read_volume(path: str | Path, in_background: bool = False) -> Volume:
    """Read any supported file; empty and unknown files raise with a reason.

    ``in_background``: a format that can decode in the background (gzipped NIfTI)
    returns at once with the volume's ``arrival`` set (see corpus.readers.arrival).
    """
    path = Path(path)
    found = file_format(path)
    if found is None:
        raise InputError(
            f"Unknown file type {path.name!r}; expected one of {sorted(_BY_SUFFIX)}", Reason.UNSUPPORTED_FORMAT
        )
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("File is empty (0 bytes)", Reason.EMPTY_FILE)
    if in_background and found.read_in_background is not None:
        return found.read_in_background(path)
    return found.read(path)
