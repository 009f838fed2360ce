"""Threads one build worker gives one input: the cores this process may run on, shared among the workers.

They decode a .nii.gz or a DICOM series in the background, run the resampling pass and the Blosc codec.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and schedulers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """The available cores divided among ``workers`` worker processes or tasks, at least 1."""
    return max(1, available_cores() // max(workers, 1))


def use_codec_threads(threads: int) -> None:
    """Blosc's thread count is one setting per process: set it for the inputs this process ingests."""
    from numcodecs import blosc

    blosc.set_nthreads(threads)
