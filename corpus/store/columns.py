"""What a manifest column is: a name, an Arrow type and a short doc (the columns are in corpus.store.manifest)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    flag: bool = False  # a quality flag: `corpus stats` lists the stored volumes that raise it


def vector(kind: pa.DataType, size: int) -> pa.DataType:
    """A fixed-size list: (x, y, z) values, or a box."""
    return pa.list_(kind, size)
