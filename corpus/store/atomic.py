"""Atomic file writes: readers see the old file or the whole new one, never a part.

The data goes to a temporary file beside the target (:func:`partial_name`), is
flushed and fsynced, then renamed over the target, and the folder is fsynced
so that the rename survives a power cut. A write that fails removes its
temporary file; a write killed outright (SIGKILL, power cut) cannot, so the
owner of a folder removes what such writes left with :func:`remove_partials`
(the corpus build, a training run on resume) before writing there again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_PARTIAL_SUFFIX = ".partial"


def partial_name(name: str) -> str:
    """The temporary name a write of the file ``name`` uses until its rename: hidden, unique, recognisable."""
    return f".{name}.{uuid.uuid4().hex[:12]}{_PARTIAL_SUFFIX}"


def is_partial(name: str) -> bool:
    """True for the temporary file of an atomic write that never reached its rename."""
    return name.startswith(".") and name.endswith(_PARTIAL_SUFFIX)


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write`` puts into the binary file it is handed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(partial_name(target.name))
    try:
        with partial.open("xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    write_file_atomic(path, lambda handle: handle.write(data))


def create_bytes_exclusive(path: str | os.PathLike[str], data: bytes) -> None:
    """Create ``path`` holding ``data`` unless it exists (FileExistsError): of two callers exactly one wins.

    The file appears whole (a hard link to a finished temporary file), so a
    reader never takes a file still being written for a broken one.
    """
    target = Path(path)
    partial = target.with_name(partial_name(target.name))
    try:
        with partial.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_folder(target.parent)


def remove_partials(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writes left directly in ``folder``; return them.

    Call it only where no other process is writing at the same time (the
    folder's owner, before it writes): a live write's temporary file looks the same.
    """
    found = [entry for entry in Path(folder).glob(".*") if entry.is_file() and is_partial(entry.name)]
    for entry in found:
        entry.unlink(missing_ok=True)
    return found


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
