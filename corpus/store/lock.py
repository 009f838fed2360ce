"""One build at a time per corpus: a lock file with the holder's host, pid, start time and generation.

A lock whose holder no longer runs on this host (gone, a zombie, or its pid
now another process's, see corpus.store.liveness) is stale and is taken
over; a live one refuses the second build and says who holds it. Each
holder takes a new generation (corpus.store.fence): tasks carry it, and a
task whose generation is no longer the lock's is fenced (:func:`assert_live`).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType

from corpus.errors import CorpusFormatError, FencedError
from corpus.store.fence import read_fence, write_fence
from corpus.store.layout import LOCK, WORK
from corpus.store.liveness import is_running
from corpus.store.location import Location


@dataclass(frozen=True)
class Holder:
    """What a lock file says; all None (generation 0) when it cannot be read."""

    pid: int | None = None
    host: str | None = None
    started: str | None = None  # ISO time the lock was written
    generation: int = 0

    @classmethod
    def mine(cls, generation: int) -> Holder:
        return cls(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(), generation)

    @classmethod
    def parse(cls, data: bytes) -> Holder:
        try:
            fields = json.loads(data)
            return cls(int(fields["pid"]), str(fields["host"]), fields.get("started"), int(fields.get("generation", 0)))
        except (ValueError, TypeError, KeyError):
            return cls()  # written by a process killed mid-write, or by hand

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def is_stale(self) -> bool:
        """Its process is known to be gone. Another host's processes cannot be seen: never stale."""
        if self.pid is None:
            return True
        if self.host != socket.gethostname():
            return False
        return not is_running(self.pid, _epoch(self.started))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, generation {self.generation}, since {self.started}"


class BuildLock:
    """Held for a build (or a repair); ``generation`` is the one it took, ``taken_over`` the stale holder, if any."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.path = location.path(WORK, LOCK)
        self.generation = 0
        self.taken_over: Holder | None = None

    def __enter__(self) -> BuildLock:
        holder = read_holder(self.location)
        if holder is not None and not holder.is_stale():
            raise CorpusFormatError(
                f"Another build holds {self.path} ({holder.describe()}). "
                "Wait for it; if it is gone from another machine, delete that file."
            )
        fence = read_fence(self.location)
        self.generation = max(fence.generation, holder.generation if holder else 0) + 1
        if holder is not None:
            self._remove_stale(holder)
        self._create(Holder.mine(self.generation).to_bytes())
        write_fence(self.location, fence.taken_by(self.generation))
        self.taken_over = holder
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        holder = read_holder(self.location)
        if holder is not None and holder.generation == self.generation:
            self.location.remove(WORK, LOCK)

    def _remove_stale(self, holder: Holder) -> None:
        """Remove the lock judged stale, unless another build replaced it in the meantime."""
        if read_holder(self.location) != holder:
            raise CorpusFormatError(f"Another build took {self.path} a moment ago; try again later")
        self.location.remove(WORK, LOCK)

    def _create(self, data: bytes) -> None:
        try:  # of two builds starting together, exactly one gets here
            self.location.create_exclusive(data, WORK, LOCK)
        except FileExistsError:
            raise CorpusFormatError(f"Another build took {self.path} a moment ago; try again later") from None


def read_holder(location: Location) -> Holder | None:
    """The lock's holder; None when no build holds the lock."""
    try:
        return Holder.parse(location.read_bytes(WORK, LOCK))
    except FileNotFoundError:
        return None


def assert_live(location: Location, generation: int) -> None:
    """Raise FencedError unless ``generation`` still holds the lock: its tasks must write nothing more."""
    holder = read_holder(location)
    if holder is None or holder.generation != generation:
        now = "no build holds the lock" if holder is None else f"the lock is held by {holder.describe()}"
        raise FencedError(
            f"Build generation {generation} is no longer the live one ({now}): this task stops, and what it "
            "wrote is left for the next build (or `corpus verify --repair`) to remove."
        )


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None
