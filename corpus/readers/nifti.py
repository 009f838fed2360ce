"""NIfTI-1/2 (.nii, .nii.gz) -> Volume, with nibabel's sform/qform rules."""

from __future__ import annotations

import zlib
from functools import partial
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from isal import igzip, isal_zlib

from corpus.errors import InputError, Reason, one_line
from corpus.readers.arrival import Arrival, decode_in_background
from corpus.readers.volume import HeaderGeometry, Volume, check_decoded_size, squeeze_to_3d, to_hu

_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # typed as an instance upstream
_DECODE_ERRORS = (OSError, EOFError, ValueError, zlib.error, _ISAL_ERROR)
_GZIP_MAGIC = b"\x1f\x8b"
_STEP_BYTES = 1 << 22  # decompressed per step: planes become available every 4 MiB


def read_nifti(path: str | Path, in_background: bool = False) -> Volume:
    """Read a NIfTI file; HU = stored * scl_slope + scl_inter (when set).

    The affine is nibabel's: the sform when sform_code > 0, else the qform
    when qform_code > 0, else the pixdim diagonal. ``in_background``: a
    gzipped file of unscaled integers returns at once and decodes z-plane by
    z-plane in a background thread (the volume's ``arrival``), so resampling
    overlaps the decoding; otherwise the voxels are all in on return.
    """
    path = Path(path)
    image = _load_header(path)
    shape = squeeze_to_3d(image.shape)
    check_decoded_size(image.shape, image.get_data_dtype().itemsize)
    proxy: Any = image.dataobj  # nibabel's ArrayProxy: lazy data plus the scaling
    affine = np.asarray(image.affine, dtype=np.float64)
    if in_background and _is_gzip(path) and _unscaled_integers(proxy):
        voxels = np.empty(proxy.shape, dtype=proxy.dtype, order=proxy.order)
        decode = partial(_inflate_in_background, path, proxy.offset, voxels)
        arrival = decode_in_background(shape[2], decode)
        return Volume(voxels.reshape(shape, order="A"), affine, "nifti", path.stat().st_size, arrival=arrival)
    try:
        raw = _inflate(path, proxy) if _is_gzip(path) else np.asanyarray(proxy.get_unscaled())
    except _DECODE_ERRORS as error:
        raise _truncated(error) from error
    # nibabel moves scl_slope/scl_inter from the loaded header into the proxy.
    slope, intercept = float(proxy.slope), float(proxy.inter)
    array = to_hu(raw.reshape(shape), slope, intercept)
    return Volume(array=array, affine=affine, input_format="nifti", input_bytes=path.stat().st_size)


def _is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(2) == _GZIP_MAGIC
    except OSError:
        return False  # the regular read reports it


def _unscaled_integers(proxy: Any) -> bool:
    return proxy.dtype.kind in "iu" and proxy.dtype.isnative and float(proxy.slope) == 1.0 and float(proxy.inter) == 0.0


def _inflate(path: Path, proxy: Any) -> np.ndarray:
    """The voxels of a gzipped NIfTI, decompressed by ISA-L (about 2x zlib) straight into their array."""
    voxels = np.empty(proxy.shape, dtype=proxy.dtype, order=proxy.order)
    _inflate_into(path, proxy.offset, voxels, None)
    return voxels


def _inflate_into(path: Path, offset: int, voxels: np.ndarray, arrival: Arrival | None) -> None:
    """Decompress into ``voxels`` (Fortran order: z-planes arrive in turn), reporting whole planes."""
    target = voxels.reshape(-1, order="A").view(np.uint8)
    plane = max(1, voxels.shape[0] * voxels.shape[1] * voxels.itemsize)
    with igzip.open(path, "rb") as stream:
        if len(stream.read(offset)) < offset:
            raise EOFError("the file ends inside its header")
        done = 0
        while done < len(target):
            count = stream.readinto(target[done : done + _STEP_BYTES])
            if not count:
                raise EOFError(f"voxel data ends after {done} of {len(target)} bytes")
            done += count
            if arrival is not None:
                arrival.arrived(done // plane)


def _inflate_in_background(path: Path, offset: int, voxels: np.ndarray, arrival: Arrival) -> None:
    try:
        _inflate_into(path, offset, voxels, arrival)
    except _DECODE_ERRORS as error:
        raise _truncated(error) from error


def _truncated(error: Exception) -> InputError:
    return InputError(f"NIfTI voxel data is truncated or corrupt: {error}", Reason.TRUNCATED)


def read_nifti_geometry(path: str | Path) -> HeaderGeometry:
    """Shape and spacing (mm) from the header alone (no voxel data read)."""
    header: Any = _load_header(Path(path)).header
    sx, sy, sz = (float(size) for size in header.get_zooms()[:3])
    return squeeze_to_3d(header.get_data_shape()), (sx, sy, sz)


def _load_header(path: Path) -> nib.Nifti1Image | nib.Nifti2Image:
    try:
        image = nib.load(path)
    except (*_DECODE_ERRORS, nib.filebasedimages.ImageFileError) as error:
        raise InputError(f"Not a readable NIfTI file: {one_line(error)}", Reason.UNREADABLE) from error
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"Expected NIfTI, nibabel read {type(image).__name__}", Reason.UNSUPPORTED_FORMAT)
    return image
