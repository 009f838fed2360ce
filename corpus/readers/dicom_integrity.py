"""Is a DICOM file whole, and is its pixel module usable? Checked from the headers, before any pixel is read.

pydicom reads a file cut short without complaint: it stops at the end and
keeps the partial last value. A cut header then looks like an object
without pixels, and would be skipped as not an image. Here every element's
declared length is held against the file size (large values are skipped
over, not read), and an image object (Rows, Columns, BitsAllocated... or an
image storage class) must carry a pixel module a decoder can use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import data_element_generator, read_preamble
from pydicom.tag import BaseTag
from pydicom.uid import UID

from corpus.errors import InputError, Reason, one_line

_UNDEFINED_LENGTH = 0xFFFFFFFF
_TRANSFER_SYNTAX = 0x00020010
_ELEMENT_HEADER_BYTES = 8  # tag and length (explicit VR: tag, VR and length), the least any element takes
_SKIP_OVER = 1024  # values longer than this are skipped with a seek, not read
_PIXEL_MODULE = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel")
_BITS_ALLOCATED = (1, 8, 16, 32, 64)


def check_whole(path: Path) -> None:
    """Raise ``truncated`` when a Part-10 file ends inside one of its elements (pixel data included)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as stream:
            if read_preamble(stream, True) is None:
                return  # no 'DICM' marker: no file meta to tell how the rest is encoded
            syntax = _file_meta_syntax(stream, size)
            if syntax is not None and not syntax.is_deflated:  # a deflated data set has no element lengths
                _check_data_set(stream, size, syntax)
    except (EOFError, struct.error) as error:
        message = f"DICOM file {path.name} ends inside an element ({error}): truncated"
        raise InputError(message, Reason.TRUNCATED) from None
    except ValueError as error:
        raise InputError(
            f"DICOM file {path.name} has unreadable elements: {one_line(error)}", Reason.UNREADABLE
        ) from None


def check_pixel_module(dataset: Dataset, name: str) -> None:
    """Raise ``unreadable`` for an image object whose pixel module is missing or cannot describe pixels.

    Objects without pixels by nature (reports, plans, key images) pass: they are skipped later.
    """
    present = [keyword for keyword in _PIXEL_MODULE if keyword in dataset]
    if not present:
        media_class = getattr(getattr(dataset, "file_meta", None), "MediaStorageSOPClassUID", "")
        sop_class = UID(str(dataset.get("SOPClassUID", "") or media_class or ""))
        if "Image Storage" in sop_class.name:
            message = f"DICOM file {name} is a {sop_class.name} object without a pixel module (Rows, Columns...)"
            raise InputError(message, Reason.UNREADABLE)
        return
    rows, columns = _positive(dataset.get("Rows")), _positive(dataset.get("Columns"))
    bits, samples = _positive(dataset.get("BitsAllocated")), _positive(dataset.get("SamplesPerPixel", 1))
    if rows is None or columns is None or bits not in _BITS_ALLOCATED or samples is None:
        found = ", ".join(f"{keyword} {dataset.get(keyword)!r}" for keyword in _PIXEL_MODULE)
        raise InputError(
            f"DICOM file {name} has a garbage pixel module ({found}); expected positive Rows, Columns and "
            f"SamplesPerPixel and BitsAllocated one of {_BITS_ALLOCATED}",
            Reason.UNREADABLE,
        )


def _file_meta_syntax(stream: BinaryIO, size: int) -> UID | None:
    """Check the file meta elements (always explicit VR little endian); return the transfer syntax they name."""
    elements = list(_checked(data_element_generator(stream, False, True, stop_when=_past_file_meta), size))
    if size - stream.tell() < _ELEMENT_HEADER_BYTES:  # pydicom stops quietly where the file ends in group 0002
        raise EOFError(f"the file ends at byte {size}, in its file meta information, before any data set element")
    if not elements:
        raise ValueError("no file meta information (group 0002) follows the 'DICM' marker")
    for element in elements:
        if element.tag == _TRANSFER_SYNTAX and isinstance(element.value, bytes):
            return UID(element.value.decode("ascii", "replace").strip("\0 "))
    return None


def _check_data_set(stream: BinaryIO, size: int, syntax: UID) -> None:
    elements = data_element_generator(stream, syntax.is_implicit_VR, syntax.is_little_endian, defer_size=_SKIP_OVER)
    end = stream.tell()
    for _ in _checked(elements, size):
        end = stream.tell()  # the element is read (or skipped over) when it is handed out
    if end < size:  # pydicom ends quietly on a cut element header
        raise EOFError(f"{size - end} bytes after the last whole element at byte {end}")


def _checked(elements: Iterator[Any], size: int) -> Iterator[Any]:
    for element in elements:  # sequences come parsed (DataElement): pydicom raises on a cut one itself
        if not isinstance(element, RawDataElement):
            continue
        if element.length != _UNDEFINED_LENGTH and element.value_tell + element.length > size:
            raise EOFError(f"{element.tag} needs {element.length} bytes from byte {element.value_tell} of {size}")
        yield element


def _past_file_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return bool(tag.group != 2)


def _positive(value: object) -> int | None:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
