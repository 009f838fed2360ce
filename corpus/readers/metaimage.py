"""MetaImage (.mha, .mhd + .raw/.zraw; the LUNA16 format) -> Volume.

MetaImage geometry is ITK's: LPS+ world, ``TransformMatrix`` lists the
direction cosines of each axis in turn, data stored x fastest.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from corpus.errors import InputError, Reason
from corpus.readers.volume import LPS_TO_RAS, HeaderGeometry, Volume, check_decoded_size, squeeze_to_3d, to_hu

_MAX_HEADER_BYTES = 64 * 1024
_ELEMENT_TYPES = {
    "MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2",
    "MET_INT": "i4", "MET_UINT": "u4", "MET_LONG": "i4", "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}  # fmt: skip
_SYNONYMS = {"offset": "origin", "position": "origin", "rotation": "transformmatrix", "orientation": "transformmatrix"}


def read_metaimage(path: str | Path) -> Volume:
    """Read a MetaImage header and its voxel data (local, raw or zlib-compressed)."""
    path = Path(path)
    header, data_offset = _read_header(path)
    shape_in = tuple(_ints(header, "dimsize"))
    shape = squeeze_to_3d(shape_in)
    dtype = _element_dtype(header)
    check_decoded_size(shape, dtype.itemsize)
    payload, data_bytes = _read_payload(path, header, data_offset)
    raw = _decode(payload, header, shape, dtype)
    # Stored x fastest: C order (z, y, x), viewed back as (x, y, z).
    array = raw.reshape(shape[::-1]).transpose(2, 1, 0)
    affine = _affine(header, len(shape_in))
    return Volume(to_hu(array, None, None), affine, "metaimage", input_bytes=data_offset + data_bytes)


def _read_header(path: Path) -> tuple[dict[str, str], int]:
    try:
        with path.open("rb") as stream:
            head = stream.read(_MAX_HEADER_BYTES)
    except OSError as error:
        raise InputError(f"Cannot open MetaImage file: {error.strerror}", Reason.UNREADABLE) from error
    header: dict[str, str] = {}
    offset = 0
    for line in head.splitlines(keepends=True):
        offset += len(line)
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            raise InputError(f"Not a MetaImage header: line {line[:40]!r} has no 'key = value'", Reason.UNREADABLE)
        name = key.strip().lower()
        header[_SYNONYMS.get(name, name)] = value.strip()
        if name == "elementdatafile":
            return header, offset
    raise InputError("MetaImage header has no ElementDataFile line within 64 KiB", Reason.UNREADABLE)


def _ints(header: dict[str, str], key: str) -> list[int]:
    return [int(float(v)) for v in _field(header, key).split()]


def _floats(header: dict[str, str], key: str, default: str) -> list[float]:
    return [float(v) for v in header.get(key, default).split()]


def _field(header: dict[str, str], key: str) -> str:
    if key not in header:
        raise InputError(f"MetaImage header lacks the required field {key!r}", Reason.UNREADABLE)
    return header[key]


def _element_dtype(header: dict[str, str]) -> np.dtype:
    if int(header.get("elementnumberofchannels", "1")) != 1:
        raise InputError("MetaImage has several channels per voxel; expected one (HU)", Reason.NOT_3D)
    name = _field(header, "elementtype").upper()
    if name not in _ELEMENT_TYPES:
        raise InputError(f"Unsupported MetaImage ElementType {name}", Reason.UNSUPPORTED_FORMAT)
    big_endian = header.get("elementbyteordermsb", header.get("binarydatabyteordermsb", "False"))
    return np.dtype(_ELEMENT_TYPES[name]).newbyteorder(">" if big_endian.lower() == "true" else "<")


def _read_payload(path: Path, header: dict[str, str], data_offset: int) -> tuple[bytes, int]:
    """The voxel bytes, and the size of the files they came from (beyond the header)."""
    name = _field(header, "elementdatafile")
    if name.upper() == "LOCAL":
        payload = _read_bytes(path, data_offset)
        return payload, len(payload)
    if name.upper().startswith("LIST") or "%" in name or " " in name:
        raise InputError(
            f"MetaImage slice lists ({name!r}) are not supported; convert to one file", Reason.UNSUPPORTED_FORMAT
        )
    data_path = path.parent / name
    if not data_path.resolve().is_relative_to(path.parent.resolve()):
        raise InputError(f"ElementDataFile {name!r} points outside the header's folder", Reason.UNREADABLE)
    payload = _read_bytes(data_path, max(int(header.get("headersize", "0")), 0))
    return payload, data_path.stat().st_size


def _read_bytes(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            return stream.read()
    except OSError as error:
        raise InputError(f"Cannot read MetaImage data file {path.name}: {error.strerror}", Reason.UNREADABLE) from error


def _decode(payload: bytes, header: dict[str, str], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    expected = int(np.prod(shape)) * dtype.itemsize
    if header.get("compresseddata", "False").lower() == "true":
        payload = _inflate(payload, expected)
    elif int(header.get("headersize", "0")) == -1:
        payload = payload[-expected:]  # HeaderSize = -1: the data is the file's tail
    if len(payload) < expected:
        raise InputError(f"MetaImage data is truncated: {len(payload)} of {expected} bytes", Reason.TRUNCATED)
    return np.frombuffer(payload[:expected], dtype=dtype)


def _inflate(payload: bytes, expected: int) -> bytes:
    # wbits 47 accepts zlib and gzip streams; max_length stops a decompression bomb.
    try:
        return zlib.decompressobj(wbits=47).decompress(payload, expected)
    except zlib.error as error:
        raise InputError(f"MetaImage compressed data is corrupt: {error}", Reason.TRUNCATED) from error


def _affine(header: dict[str, str], ndims: int) -> np.ndarray:
    """LPS -> RAS affine; a 2D image becomes one slice (unit spacing across it)."""
    identity = " ".join(str(v) for v in np.eye(ndims).ravel())
    kept = min(ndims, 3)
    spacing = _floats(header, "elementspacing", header.get("elementsize", "1 " * ndims))[:3]
    origin = _floats(header, "origin", "0 " * ndims)[:3]
    columns = np.array(_floats(header, "transformmatrix", identity))
    if len(spacing) != kept or len(origin) != kept or columns.size != ndims * ndims:
        raise InputError(
            f"MetaImage spacing, origin or TransformMatrix does not fit NDims {ndims}", Reason.BAD_GEOMETRY
        )
    direction = np.eye(3)
    direction[:kept, :kept] = columns.reshape(ndims, ndims).T[:kept, :kept]  # column j = cosines of axis j
    lps = np.eye(4)
    lps[:3, :3] = direction * np.r_[spacing, np.ones(3 - kept)]
    lps[:3, 3] = np.r_[origin, np.zeros(3 - kept)]
    return LPS_TO_RAS @ lps


def write_metaimage(path: str | Path, array: np.ndarray, affine: np.ndarray, compress: bool = True) -> None:
    """Write (x, y, z) voxels with a RAS affine as .mha (one file) or .mhd + .raw/.zraw."""
    path = Path(path)
    lps = np.linalg.inv(LPS_TO_RAS) @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    columns = (lps[:3, :3] / spacing).T.ravel()
    data = np.ascontiguousarray(array.transpose(2, 1, 0)).astype(array.dtype.newbyteorder("<")).tobytes()
    payload = zlib.compress(data, 6) if compress else data
    element = next(name for name, code in _ELEMENT_TYPES.items() if np.dtype(code) == array.dtype.newbyteorder("="))
    local = path.suffix.lower() == ".mha"
    data_name = "LOCAL" if local else path.with_suffix(".zraw" if compress else ".raw").name
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {compress}",
        f"TransformMatrix = {' '.join(repr(float(v)) for v in columns)}",
        f"Offset = {' '.join(repr(float(v)) for v in lps[:3, 3])}",
        f"ElementSpacing = {' '.join(repr(float(v)) for v in spacing)}",
        f"DimSize = {' '.join(str(n) for n in array.shape)}",
        f"ElementType = {element}",
        f"ElementDataFile = {data_name}",
    ]
    header = ("\n".join(lines) + "\n").encode()
    if local:
        path.write_bytes(header + payload)
    else:
        path.write_bytes(header)
        (path.parent / data_name).write_bytes(payload)


def read_metaimage_geometry(path: str | Path) -> HeaderGeometry:
    """Shape and spacing (mm) from the header alone (no voxel data read)."""
    header, _ = _read_header(Path(path))
    shape_in = tuple(_ints(header, "dimsize"))
    spacing = _floats(header, "elementspacing", header.get("elementsize", "1 " * len(shape_in)))[:3]
    sx, sy, sz = [*spacing, 1.0, 1.0][:3]  # a 2D image: one slice
    return squeeze_to_3d(shape_in), (sx, sy, sz)
