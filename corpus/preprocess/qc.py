"""Quality facts computed once at build time, so an audit never reads a volume.

- body: voxels above -500 HU, largest connected component (the table and
  stray air bubbles fall away), measured on a 2x-strided grid;
- suspect_non_ct: no air anywhere (1st percentile above -500 HU) or almost no
  contrast (99th - 1st percentile under 200 HU): MR, a mask, a derived map;
- suspect_orientation: in a torso (body at least 250 mm wide), bone (> 250 HU)
  in the middle third of the body sits anterior of the body centre, where the
  spine never is: an A/P flip. Heads and limbs are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpus.store.columns import Column, vector

BODY_HU, BONE_HU = -500, 250
TORSO_MIN_WIDTH_MM = 250.0
_STRIDE = 2

# The manifest columns these facts fill (flags show up in `corpus stats` by themselves).
QC_COLUMNS = (
    Column("body_bbox", vector(pa.int32(), 6), "the body's box: (x0, y0, z0, x1, y1, z1) voxels, stop exclusive"),
    Column("body_fraction", pa.float64(), "share of the stored voxels inside the body"),
    Column("z_coverage_mm", pa.float64(), "stored extent along z, mm"),
    Column("suspect_non_ct", pa.bool_(), "no air anywhere or almost no contrast", flag=True),
    Column("suspect_orientation", pa.bool_(), "bone anterior of the body centre in a torso", flag=True),
)


@dataclass(frozen=True)
class QualityFacts:
    """One field per column of QC_COLUMNS."""

    body_bbox: list[int] | None  # (x0, y0, z0, x1, y1, z1) voxels, stop exclusive
    body_fraction: float
    z_coverage_mm: float
    suspect_non_ct: bool
    suspect_orientation: bool

    def as_row(self) -> dict[str, object]:
        return {column.name: getattr(self, column.name) for column in QC_COLUMNS}


def assess(stored: np.ndarray, spacing: tuple[float, ...], percentiles: tuple[float, ...]) -> QualityFacts:
    """Body box and fraction, z coverage and the two suspicion flags, for one stored int16 volume."""
    sample = stored[::_STRIDE, ::_STRIDE, ::_STRIDE]
    body = _largest_component(sample > BODY_HU)
    p01, _, p99 = percentiles
    non_ct = bool(p01 > BODY_HU or p99 - p01 < 200)
    z_coverage = stored.shape[2] * spacing[2]
    if not body.any():
        return QualityFacts(None, 0.0, z_coverage, non_ct, False)
    low = np.argwhere(body).min(axis=0) * _STRIDE
    high = np.minimum((np.argwhere(body).max(axis=0) + 1) * _STRIDE, stored.shape)
    bbox = [int(v) for v in (*low, *high)]
    torso = bool((high[0] - low[0]) * spacing[0] >= TORSO_MIN_WIDTH_MM)
    return QualityFacts(bbox, float(body.mean()), z_coverage, non_ct, torso and _bone_anterior(sample, body))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage  # here: reading a manifest imports this module and needs no scipy

    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _bone_anterior(sample: np.ndarray, body: np.ndarray) -> bool:
    """True when bone in the middle third of the body lies anterior (+y) of the body centre."""
    z = np.flatnonzero(body.any(axis=(0, 1)))
    middle = slice(z[0] + len(z) // 3, z[0] + 2 * len(z) // 3 + 1)
    body_mid, values = body[:, :, middle], sample[:, :, middle]
    bone = body_mid & (values > BONE_HU)
    if bone.sum() < 0.002 * body_mid.sum() or not body_mid.any():
        return False  # too little bone to tell
    y_body = np.argwhere(body_mid)[:, 1]
    y_bone = np.argwhere(bone)[:, 1]
    extent = max(int(np.ptp(y_body)), 1)
    return bool(y_bone.mean() - y_body.mean() > 0.1 * extent)
