"""One build at a time per corpus: a lock file with the holder's host and pid.

A lock whose process is gone (same host, pid not running) is stale and is
taken over; a live one refuses the second build with who holds it.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from types import TracebackType

from corpus.errors import CorpusFormatError
from corpus.store.layout import LOCK, WORK
from corpus.store.location import Location


class BuildLock:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.path = location.path(WORK, LOCK)

    def __enter__(self) -> BuildLock:
        holder = self._holder()
        if holder is not None and not _stale(holder):
            raise CorpusFormatError(
                f"Another build holds {self.path} (pid {holder.get('pid')} on {holder.get('host')}, since "
                f"{holder.get('started')}). Wait for it; if it is gone from another machine, delete that file."
            )
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat()}
        if holder is not None:
            self.location.remove(WORK, LOCK)  # stale: its process is gone
        self._create(json.dumps(mine).encode())
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.location.exists(WORK, LOCK):
            self.location.remove(WORK, LOCK)

    def _holder(self) -> dict[str, object] | None:
        if not self.location.exists(WORK, LOCK):
            return None
        try:
            holder: dict[str, object] = json.loads(self.location.read_bytes(WORK, LOCK))
        except (ValueError, OSError):
            return {}  # unreadable: written by a process killed mid-write
        return holder

    def _create(self, data: bytes) -> None:
        try:  # of two builds starting together, exactly one gets here
            self.location.create_exclusive(data, WORK, LOCK)
        except FileExistsError:
            raise CorpusFormatError(f"Another build took {self.path} a moment ago; try again later") from None


def _stale(holder: dict[str, object]) -> bool:
    if not holder:
        return True
    if holder.get("host") != socket.gethostname():
        return False  # cannot see another machine's processes
    try:
        os.kill(int(str(holder.get("pid"))), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False
