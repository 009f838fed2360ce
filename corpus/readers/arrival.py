"""Voxels still arriving: a reader decodes in the background while resampling consumes what is in.

The decoder fills the array plane by plane along its last axis (the slowest
in storage order, the order a gzip stream delivers them) and reports how many
planes are in; a consumer waits for the planes it needs. A decoding error is
raised to whoever waits next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Arrival:
    """How many of ``total`` planes a background decoder has written so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._planes = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def arrived(self, planes: int) -> None:
        with self._changed:
            self._planes = max(self._planes, min(planes, self.total))
            self._changed.notify_all()

    def failed(self, error: BaseException) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    def wait(self, planes: int) -> None:
        """Block until the first ``planes`` planes are in; raise the decoder's error if it failed."""
        wanted = min(planes, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self._error is not None or self._planes >= wanted)
            if self._error is not None:
                raise self._error

    def wait_all(self) -> None:
        self.wait(self.total)


def decode_in_background(total: int, decode: Callable[[Arrival], None]) -> Arrival:
    """Run ``decode`` in a daemon thread; it reports progress (and failure) through the returned Arrival."""
    arrival = Arrival(total)

    def run() -> None:
        try:
            decode(arrival)
            arrival.arrived(total)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, who raises it
            arrival.failed(error)

    threading.Thread(target=run, name="corpus-decode", daemon=True).start()
    return arrival
