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
from scipy import ndimage

BODY_HU, BONE_HU = -500, 250
TORSO_MIN_WIDTH_MM = 250.0
_STRIDE = 2


@dataclass(frozen=True)
class QualityFacts:
    body_bbox: list[int] | None  # (x0, y0, z0, x1, y1, z1) voxels, stop exclusive
    body_fraction: float
    suspect_non_ct: bool
    suspect_orientation: bool

    def as_row(self) -> dict[str, object]:
        return {
            "body_bbox": self.body_bbox,
            "body_fraction": self.body_fraction,
            "suspect_non_ct": self.suspect_non_ct,
            "suspect_orientation": self.suspect_orientation,
        }


def assess(stored: np.ndarray, spacing: tuple[float, ...], percentiles: tuple[float, ...]) -> QualityFacts:
    """Body box and fraction, and the two suspicion flags, for one stored int16 volume."""
    sample = stored[::_STRIDE, ::_STRIDE, ::_STRIDE]
    body = _largest_component(sample > BODY_HU)
    p01, _, p99 = percentiles
    non_ct = bool(p01 > BODY_HU or p99 - p01 < 200)
    if not body.any():
        return QualityFacts(None, 0.0, non_ct, False)
    low = np.argwhere(body).min(axis=0) * _STRIDE
    high = np.minimum((np.argwhere(body).max(axis=0) + 1) * _STRIDE, stored.shape)
    bbox = [int(v) for v in (*low, *high)]
    torso = bool((high[0] - low[0]) * spacing[0] >= TORSO_MIN_WIDTH_MM)
    return QualityFacts(bbox, float(body.mean()), non_ct, torso and _bone_anterior(sample, body))


def _largest_component(mask: np.ndarray) -> np.ndarray:
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
