"""Crash points for the crash-safety tests: SIGKILL this process at a named moment, or slow it down there.

Set ``CORPUS_CRASH_AT=<point>`` (or ``<point>:<n>`` for its n-th hit) in the
environment of a build; unset, each call is a dictionary lookup. With
``CORPUS_CRASH_MARKER=<file>`` the crash happens once across processes: the
first process to get there creates the file and dies, later ones go on (a
restarted dask worker inherits the environment). ``CORPUS_DELAY_AT=<point>:<seconds>``
makes every pass through the point wait that long instead (tasks that are
still running when their build is killed).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

CRASH_ENV = "CORPUS_CRASH_AT"
MARKER_ENV = "CORPUS_CRASH_MARKER"
DELAY_ENV = "CORPUS_DELAY_AT"
_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    _delay(name)
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


def _delay(name: str) -> None:
    wanted = os.environ.get(DELAY_ENV)
    if wanted:
        point, _, seconds = wanted.partition(":")
        if point == name:
            time.sleep(float(seconds))
