"""SIGTERM and SIGINT during training: finish the current step, checkpoint, and stop cleanly.

Schedulers preempt with SIGTERM (SLURM, Kubernetes, a container stop) and give
a grace period before SIGKILL; a person presses Ctrl-C. Either only sets a flag
here: the loop looks at it after each step, all ranks agree (one rank that got
the signal is enough), the checkpoint of that step is written and the run ends
with exit status 0 and the command that resumes it. A second signal of the
same kind acts as it would without this handler (Ctrl-C twice stops at once).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """While active, remembers the first SIGTERM/SIGINT instead of dying of it (main thread only)."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(number).name
        signal.signal(number, self._previous[signal.Signals(number)])  # the next one is not held back
