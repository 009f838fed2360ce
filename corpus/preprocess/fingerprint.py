"""Content fingerprint of a stored volume: what near-duplicate matching compares, computed once at build time.

A fingerprint is a sequence of small axial descriptors, one per 3 mm of z
(from the volume's bottom up): each is a 4 x 4 grid of mean HU over boxes
placed in the body's own frame, centred on the body's centroid in that slice
and spanning two standard deviations of the body's extent on either side.
So a descriptor does not change when the voxels are resampled, mirrored back
from another orientation or stretched in-plane by a rewritten spacing header
(the body frame stretches with them), and the box edges move continuously
with the frame, so small resampling differences give small changes. Along z
the sequence is only resampled: a rewritten z spacing stretches it, a crop
cuts it, and matching (corpus.duplicates) looks for a stretched, shifted
subsequence instead of relying on physical size.

Stored as base64 text (rows travel through the JSON journal) of: a 4-byte
header (b"F", version, grid, step in 0.1 mm), then 16 bytes per slab, HU
quantised to 8 HU levels (1..255, -1016..+1016 HU); a slab without body is
all zero. About 2 kB of text for 300 mm of z.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pyarrow as pa

from corpus.store.columns import Column

VERSION = 1
GRID = 4
STEP_MM = 3.0
BODY_HU = -500
REACH = 2.0  # the boxes span +-2 standard deviations of the body's extent around its centroid
HU_PER_LEVEL = 8.0
AIR_HU = -1024.0
MIN_BODY_PIXELS = 16
PIXEL_MM = 3.0  # finer slices are binned to about this first: boxes span centimetres
_HEADER = bytes([ord("F"), VERSION, GRID, round(STEP_MM * 10)])
_CHUNK_SLICES = 32  # slices per integral-image batch: bounds the float64 working memory
SLAB_BYTES = GRID * GRID

FINGERPRINT_COLUMNS = (
    Column("fingerprint", pa.string(), "content fingerprint, base64: 4x4 body-frame HU grid per 3 mm of z"),
)


def content_fingerprint(stored: np.ndarray, spacing: tuple[float, ...]) -> dict[str, str]:
    """The manifest's fingerprint column for one stored int16 volume (x, y, z)."""
    return {"fingerprint": encode(slab_descriptors(stored, spacing))}


def slab_descriptors(stored: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """(slabs, 16) mean HU per box; a row of NaN where a slab holds no body."""
    factors = tuple(max(1, int(PIXEL_MM / s + 1e-6)) for s in spacing[:2])
    chunks = (stored[:, :, z : z + _CHUNK_SLICES] for z in range(0, stored.shape[2], _CHUNK_SLICES))
    per_slice = np.concatenate([_slice_descriptors(_binned(chunk, factors)) for chunk in chunks])
    return _to_slabs(per_slice, float(spacing[2]))


def _binned(chunk: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """(z, x, y) float32 means over factor x factor pixels (padded with air): the boxes are far larger."""
    fx, fy = factors
    x, y, z = chunk.shape
    padded = np.full((z, -(-x // fx) * fx, -(-y // fy) * fy), AIR_HU, dtype=np.float32)
    padded[:, :x, :y] = chunk.transpose(2, 0, 1)
    binned = sum(padded[:, i::fx, j::fy] for i in range(fx) for j in range(fy))  # strided adds beat a 5-D mean
    return np.asarray(binned) / np.float32(fx * fy)


def _slice_descriptors(slices: np.ndarray) -> np.ndarray:
    """(slices, 16) box means in each slice's body frame; NaN rows for slices without body."""
    body = slices > BODY_HU
    per_x, per_y = body.sum(axis=2, dtype=np.float64), body.sum(axis=1, dtype=np.float64)  # (Z, X), (Z, Y)
    weight = per_x.sum(axis=1)
    edges_x, edges_y = _frame_edges(per_x, weight), _frame_edges(per_y, weight)
    integral = np.zeros((slices.shape[0], slices.shape[1] + 1, slices.shape[2] + 1))
    integral[:, 1:, 1:] = (slices - AIR_HU).cumsum(axis=2, dtype=np.float64).cumsum(axis=1)  # outside = air
    corners = _bilinear(integral, np.clip(edges_x, 0, slices.shape[1]), np.clip(edges_y, 0, slices.shape[2]))
    sums = corners[:, 1:, 1:] - corners[:, :-1, 1:] - corners[:, 1:, :-1] + corners[:, :-1, :-1]
    areas = np.diff(edges_x, axis=1)[:, :, None] * np.diff(edges_y, axis=1)[:, None, :]
    descriptors = (sums / np.maximum(areas, 1e-9) + AIR_HU).reshape(len(slices), GRID * GRID)
    descriptors[weight < MIN_BODY_PIXELS] = np.nan
    return descriptors


def _frame_edges(profile: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(slices, GRID + 1) box edges along one axis, in integral-image coordinates (pixel edges)."""
    position = np.arange(profile.shape[1], dtype=np.float64)
    weight = np.maximum(weight, 1.0)[:, None]
    centre = (profile * position).sum(axis=1, keepdims=True) / weight
    spread = np.sqrt((profile * (position - centre) ** 2).sum(axis=1, keepdims=True) / weight)
    return centre + 0.5 + np.linspace(-REACH, REACH, GRID + 1) * np.maximum(spread, 0.5)


def _bilinear(integral: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The integral image of each slice at fractional (x, y): (slices, len(xs), len(ys))."""
    x0 = np.clip(np.floor(xs).astype(np.intp), 0, integral.shape[1] - 2)
    y0 = np.clip(np.floor(ys).astype(np.intp), 0, integral.shape[2] - 2)
    fx, fy = (xs - x0)[:, :, None], (ys - y0)[:, None, :]
    z = np.arange(integral.shape[0])[:, None, None]
    xa, ya = x0[:, :, None], y0[:, None, :]
    low = integral[z, xa, ya] * (1 - fy) + integral[z, xa, ya + 1] * fy
    high = integral[z, xa + 1, ya] * (1 - fy) + integral[z, xa + 1, ya + 1] * fy
    return low * (1 - fx) + high * fx


def _to_slabs(per_slice: np.ndarray, slice_mm: float) -> np.ndarray:
    """Average slice descriptors over STEP_MM slabs, weighted by how much of each slice lies in the slab.

    A slab is empty (NaN) when less than half of it is covered by slices with body.
    """
    count = max(1, int(np.floor(len(per_slice) * slice_mm / STEP_MM)))
    slab_low = np.arange(count)[:, None] * STEP_MM
    slice_low = np.arange(len(per_slice))[None, :] * slice_mm
    overlap = np.clip(np.minimum(slab_low + STEP_MM, slice_low + slice_mm) - np.maximum(slab_low, slice_low), 0, None)
    known = ~np.isnan(per_slice[:, 0])
    weights = overlap * known[None, :]
    covered = weights.sum(axis=1)
    slabs = (weights @ np.nan_to_num(per_slice)) / np.maximum(covered, 1e-9)[:, None]
    slabs[covered < 0.5 * STEP_MM] = np.nan
    return slabs.astype(np.float32)


def encode(descriptors: np.ndarray) -> str:
    """Header + one byte per box (8 HU levels, 1..255; empty slabs all zero), as base64 text."""
    levels = np.clip(np.rint((np.nan_to_num(descriptors, nan=AIR_HU) - AIR_HU) / HU_PER_LEVEL), 1, 255)
    levels[np.isnan(descriptors[:, 0])] = 0
    return base64.b64encode(_HEADER + levels.astype(np.uint8).tobytes()).decode("ascii")


def decode(text: str | None) -> np.ndarray | None:
    """(slabs, 16) HU with NaN rows for empty slabs; None for a missing or other-version fingerprint."""
    levels = decode_levels(text)
    if levels is None:
        return None
    hu = levels.astype(np.float32) * HU_PER_LEVEL + AIR_HU
    hu[levels.max(axis=1) == 0] = np.nan
    return hu


def decode_levels(text: str | None) -> np.ndarray | None:
    """(slabs, 16) stored levels (0 = no body), without converting to HU; None as for :func:`decode`."""
    try:
        blob = base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    if not blob or blob[: len(_HEADER)] != _HEADER or (len(blob) - len(_HEADER)) % SLAB_BYTES:
        return None
    return np.frombuffer(blob, dtype=np.uint8, offset=len(_HEADER)).reshape(-1, SLAB_BYTES)
