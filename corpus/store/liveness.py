"""Is the process that wrote a lock still running? Answerable only on the host it ran on.

A pid alone misleads twice: a killed process stays a zombie until its parent
reaps it (it runs nothing and holds nothing, yet the pid exists), and once it
is reaped the system may give its pid to an unrelated process. So a holder
counts as running only when its pid exists, is not a zombie, and that
process started before the lock was written.
"""

from __future__ import annotations

import psutil

# Process start times are known to about a second (Linux derives them from a boot time in
# whole seconds); a pid reused within this margin of the lock's time is taken for the holder.
START_MARGIN_S = 2.0


def is_running(pid: int, written_at: float | None) -> bool:
    """True while ``pid`` is a live process that started no later than ``written_at`` (epoch seconds)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = process.create_time()
    except psutil.NoSuchProcess:  # zombies too, where the platform reports them so
        return False
    except psutil.AccessDenied:  # it exists and belongs to someone else: assume it runs
        return True
    return written_at is None or started <= written_at + START_MARGIN_S
