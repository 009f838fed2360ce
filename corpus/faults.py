"""Crash points for the crash-safety tests: SIGKILL this process at a named moment.

Set ``CORPUS_CRASH_AT=<point>`` (or ``<point>:<n>`` for its n-th hit) in the
environment of a build; unset, each call is a dictionary lookup. With
``CORPUS_CRASH_MARKER=<file>`` the crash happens once across processes: the
first process to get there creates the file and dies, later ones go on (a
restarted dask worker inherits the environment).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_ENV = "CORPUS_CRASH_AT"
MARKER_ENV = "CORPUS_CRASH_MARKER"
_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] < int(count or 1):
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
