"""Volume: what every reader returns, whatever the input format."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from corpus.errors import InputError, Reason
from corpus.readers.arrival import Arrival

# DICOM and MetaImage place voxels in LPS+ millimetres; the corpus uses RAS+.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# Decoded inputs above this size are refused before allocation (a 2048^3 int16
# volume is 16 GiB); real CT stays far below it. CORPUS_MAX_VOLUME_BYTES
# lowers it for workers with little memory.
MAX_DECODED_BYTES = 16 * 2**30
MAX_BYTES_ENV = "CORPUS_MAX_VOLUME_BYTES"

HeaderGeometry = tuple[tuple[int, int, int], tuple[float, float, float]]  # (shape, spacing in mm)


@dataclass(frozen=True)
class Volume:
    """A 3D scan in Hounsfield units and where its voxels sit in the world.

    ``array[i, j, k]`` is the voxel whose centre is at ``affine @ (i, j, k, 1)``
    in RAS+ millimetres, whatever the input's own convention was.
    """

    array: np.ndarray
    affine: np.ndarray
    input_format: str
    input_bytes: int = 0  # size of every file read, companions (.raw, .zraw) included
    modality: str = "CT"
    # Uneven stacks (DICOM): slice k sits at slice_positions[k] mm along the affine's
    # third column, a unit vector; None means slice k sits at k steps of that column.
    slice_positions: np.ndarray | None = None
    note: str = ""  # something the manifest should say about a stored volume
    # Set while a reader still decodes ``array`` in the background (see corpus.readers.arrival):
    # wait on it before reading voxels, or call complete().
    arrival: Arrival | None = None

    def __post_init__(self) -> None:
        check_geometry(self.array.shape, self.affine)

    def complete(self) -> None:
        """Wait until every voxel is decoded; raise the reader's error if decoding failed."""
        if self.arrival is not None:
            self.arrival.wait_all()

    @property
    def shape(self) -> tuple[int, int, int]:
        i, j, k = self.array.shape
        return int(i), int(j), int(k)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis (the median gap for uneven stacks)."""
        sx, sy, sz = np.linalg.norm(self.affine[:3, :3], axis=0)
        if self.slice_positions is not None:
            sz = np.median(np.diff(self.slice_positions))
        return float(sx), float(sy), float(sz)


def check_geometry(shape: tuple[int, ...], affine: np.ndarray) -> None:
    """Raise ``bad_geometry`` unless the affine maps a 3D grid invertibly to mm."""
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"Expected a 3D array with every size >= 1, got shape {shape}", Reason.NOT_3D)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise InputError(f"Expected a finite 4x4 affine, got {affine.tolist()}", Reason.BAD_GEOMETRY)
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError("Voxel axes are degenerate (zero spacing or parallel axes)", Reason.BAD_GEOMETRY)


def check_decoded_size(shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse absurd header sizes before any memory is allocated for them."""
    nbytes = int(np.prod(shape, dtype=np.float64)) * itemsize
    limit = int(os.environ.get(MAX_BYTES_ENV, MAX_DECODED_BYTES))
    if nbytes > limit:
        raise InputError(
            f"Header claims {tuple(shape)} voxels ({_size(nbytes)} decoded), above the {_size(limit)} limit "
            f"({MAX_BYTES_ENV})",
            Reason.TOO_LARGE,
        )


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def squeeze_to_3d(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Drop trailing singleton axes (x, y, z, 1); a 2D image is one slice (x, y, 1); anything else is refused."""
    dims = list(shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) == 2:
        dims.append(1)
    if len(dims) != 3:
        raise InputError(f"Expected a 3D volume, got {len(shape)}D shape {tuple(shape)}", Reason.NOT_3D)
    return dims[0], dims[1], dims[2]


def check_slices(shape: tuple[int, int, int], min_slices: int) -> None:
    """Skip (``too_few_slices``) a volume thinner than ``min_slices`` voxels along any axis, as a short DICOM stack."""
    if min(shape) < min_slices:
        raise InputError(
            f"{min(shape)} slice(s) along its thinnest axis (shape {shape}); a volume needs at least {min_slices}",
            Reason.TOO_FEW_SLICES,
        )


def to_hu(raw: np.ndarray, slope: float | None, intercept: float | None) -> np.ndarray:
    """Apply a rescale; integer data without one stays integer (half the memory)."""
    if slope in (None, 1.0) and intercept in (None, 0.0) and raw.dtype.kind in "iu":
        return raw
    array = raw.astype(np.float32)
    if slope not in (None, 1.0):
        array *= np.float32(slope)
    if intercept not in (None, 0.0):
        array += np.float32(intercept)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(f"{bad} voxels are NaN or infinite; a CT volume holds finite HU", Reason.NON_FINITE)
    return array
