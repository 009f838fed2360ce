"""Mid-slice thumbnails (axial, coronal, sagittal) stored per shard at build time.

``thumbnails/part-NNNNN.parquet`` holds PNG bytes per volume, written before
the shard's manifest part, so an audit shows every volume without reading one.
Images are in radiological display: axial with anterior up and the patient's
right on the left; coronal and sagittal with superior up.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from corpus.store.layout import THUMBNAILS, is_part_file, part_file
from corpus.store.location import Location
from corpus.store.manifest import read_part

VIEWS = ("axial", "coronal", "sagittal")
_WINDOW = (-1000.0, 1000.0)
_LONGEST = 128
SCHEMA = pa.schema([("volume_id", pa.string()), *[(view, pa.binary()) for view in VIEWS]])


def thumbnails(stored: np.ndarray, spacing: Sequence[float]) -> dict[str, bytes]:
    """PNG bytes of the three mid-slices, scaled to physical aspect, longest side 128 px."""
    x, y, z = (n // 2 for n in stored.shape)
    sx, sy, sz = spacing
    slices = {
        # rows run anterior -> posterior or superior -> inferior; columns patient right -> left
        "axial": (stored[:, :, z].T[::-1], (sx, sy)),
        "coronal": (stored[:, y, :].T[::-1], (sx, sz)),
        "sagittal": (stored[x, ::-1, :].T[::-1], (sy, sz)),  # columns anterior -> posterior
    }
    return {view: _png(image, aspect) for view, (image, aspect) in slices.items()}


def _png(image: np.ndarray, spacing: tuple[float, float]) -> bytes:
    low, high = _WINDOW
    pixels = (np.clip((image.astype(np.float32) - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    width_mm, height_mm = pixels.shape[1] * spacing[0], pixels.shape[0] * spacing[1]
    scale = _LONGEST / max(width_mm, height_mm)
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR).save(buffer, format="PNG")
    return buffer.getvalue()


def write_thumbnails(location: Location, index: int, rows: list[dict[str, object]]) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), sink)
    location.write_atomic(sink.getvalue(), THUMBNAILS, part_file(index))


def read_thumbnails(location: Location, volume_ids: Sequence[str]) -> dict[str, dict[str, bytes]]:
    """Thumbnails of the given volumes, read part by part (only the parts that hold them)."""
    wanted = set(volume_ids)
    found: dict[str, dict[str, bytes]] = {}
    for name in location.list_names(THUMBNAILS):
        if not is_part_file(name) or not wanted - set(found):
            continue
        table = read_part(location.read_bytes(THUMBNAILS, name))
        for row in table.to_pylist():
            if row["volume_id"] in wanted:
                found[row["volume_id"]] = {view: row[view] for view in VIEWS}
    return found
