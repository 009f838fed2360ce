"""Raw input -> :class:`Volume`: one verb-named reader per format."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import InputError, Reason
from corpus.readers.metaimage import read_metaimage
from corpus.readers.nifti import read_nifti
from corpus.readers.volume import Volume

__all__ = ["Volume", "image_suffix", "input_format", "read_metaimage", "read_nifti", "read_volume"]

_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".mha": "metaimage", ".mhd": "metaimage"}


def image_suffix(path: str | Path) -> str | None:
    """The image suffix a file name ends with (``.nii.gz``, ``.mha``...), or None."""
    name = str(path).lower()
    return next((suffix for suffix in _SUFFIXES if name.endswith(suffix)), None)


def input_format(path: str | Path) -> str | None:
    """The format a file name announces (``nifti``, ``metaimage``) or None."""
    suffix = image_suffix(Path(path).name)
    return None if suffix is None else _SUFFIXES[suffix]


def read_volume(path: str | Path) -> Volume:
    """Read any supported file; empty and unknown files raise with a reason."""
    path = Path(path)
    fmt = input_format(path)
    if fmt is None:
        raise InputError(
            f"Unknown file type {path.name!r}; expected one of {sorted(_SUFFIXES)}", Reason.UNSUPPORTED_FORMAT
        )
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("File is empty (0 bytes)", Reason.EMPTY_FILE)
    return read_nifti(path) if fmt == "nifti" else read_metaimage(path)
