"""How a corpus stores its arrays: chunk shape and compression.

Not part of the spec hash: two layouts hold the same voxels. A corpus records
its layout in corpus.json and each shard in its group's attributes; a build
that extends a corpus reads the recorded layout, whatever the current
default, so changing the default never locks an existing corpus out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from corpus.errors import SpecError
from corpus.spec import known_fields

VOLUMES_PER_SHARD = 32  # volumes per shard at most (a build option: it never changes how a volume is stored)


@dataclass(frozen=True)
class StorageLayout:
    """Each array is cut into ``chunks`` (held in one zarr shard object), Blosc bit-shuffle + zstd at ``zstd_level``."""

    # 128 x 128 x 32 chunks decode a VoCo 192 x 192 x 64 region 2.4x faster than 64^3
    # (fewer bytes decoded per unaligned region; benchmarks/loader.py, BENCHMARKS.md).
    chunks: tuple[int, int, int] = (128, 128, 32)
    zstd_level: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", tuple(int(c) for c in self.chunks))
        if len(self.chunks) != 3 or min(self.chunks) < 1:
            raise SpecError(f"Chunks must be three positive sizes, got {self.chunks}")
        if not 1 <= self.zstd_level <= 9:
            raise SpecError(f"zstd level must be 1..9 (Blosc levels), got {self.zstd_level}")

    def chunks_for(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The chunk shape of an array of ``shape``: no chunk larger than the array."""
        return tuple(min(c, n) for c, n in zip(self.chunks, shape, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "chunks": list(self.chunks)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StorageLayout:
        return cls(**known_fields(cls, data))
