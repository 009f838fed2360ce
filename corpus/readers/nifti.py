"""NIfTI-1/2 (.nii, .nii.gz) -> Volume, with nibabel's sform/qform rules."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from isal import igzip, isal_zlib

from corpus.errors import InputError, Reason, one_line
from corpus.readers.volume import HeaderGeometry, Volume, check_decoded_size, squeeze_to_3d, to_hu

_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # typed as an instance upstream
_DECODE_ERRORS = (OSError, EOFError, ValueError, zlib.error, _ISAL_ERROR)
_GZIP_MAGIC = b"\x1f\x8b"


def read_nifti(path: str | Path) -> Volume:
    """Read a NIfTI file; HU = stored * scl_slope + scl_inter (when set).

    The affine is nibabel's: the sform when sform_code > 0, else the qform
    when qform_code > 0, else the pixdim diagonal.
    """
    path = Path(path)
    image = _load_header(path)
    shape = squeeze_to_3d(image.shape)
    check_decoded_size(image.shape, image.get_data_dtype().itemsize)
    proxy: Any = image.dataobj  # nibabel's ArrayProxy: lazy data plus the scaling
    try:
        raw = _inflate(path, proxy) if _is_gzip(path) else np.asanyarray(proxy.get_unscaled())
    except _DECODE_ERRORS as error:
        raise InputError(f"NIfTI voxel data is truncated or corrupt: {error}", Reason.TRUNCATED) from error
    # nibabel moves scl_slope/scl_inter from the loaded header into the proxy.
    slope, intercept = float(proxy.slope), float(proxy.inter)
    array = to_hu(raw.reshape(shape), slope, intercept)
    affine = np.asarray(image.affine, dtype=np.float64)
    return Volume(array=array, affine=affine, input_format="nifti", input_bytes=path.stat().st_size)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def _inflate(path: Path, proxy: Any) -> np.ndarray:
    """The voxels of a gzipped NIfTI, decompressed by ISA-L (about 2x zlib) straight into their array."""
    voxels = np.empty(proxy.shape, dtype=proxy.dtype, order=proxy.order)
    target = voxels.reshape(-1, order="A").view(np.uint8)
    with igzip.open(path, "rb") as stream:
        if len(stream.read(proxy.offset)) < proxy.offset:
            raise EOFError("the file ends inside its header")
        done = 0
        while done < len(target):
            count = stream.readinto(target[done:])
            if not count:
                raise EOFError(f"voxel data ends after {done} of {len(target)} bytes")
            done += count
    return voxels


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
