"""Where a corpus lives: a local folder or any fsspec URL, and the only way the package touches it.

Every path below the root is given as parts relative to it, with the names
from :mod:`corpus.store.layout`.
"""

from __future__ import annotations

import posixpath

import fsspec
import zarr
from fsspec.implementations.local import LocalFileSystem
from zarr.abc.store import Store

from corpus.store.atomic import create_bytes_exclusive, partial_name, write_bytes_atomic


class Location:
    """A corpus root: exists, list, read, atomic write, exclusive create, remove, zarr stores."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = isinstance(self._fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def exists(self, *parts: str) -> bool:
        return bool(self._fs.exists(self.path(*parts)))

    def list_names(self, *parts: str) -> list[str]:
        """Names directly inside a folder, sorted; empty when it does not exist."""
        if not self.exists(*parts):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self._fs.ls(self.path(*parts), detail=False))

    def read_bytes(self, *parts: str) -> bytes:
        return bytes(self._fs.cat_file(self.path(*parts)))

    def makedirs(self, *parts: str) -> None:
        self._fs.makedirs(self.path(*parts), exist_ok=True)

    def write_atomic(self, data: bytes, *parts: str) -> None:
        """Write a file so readers see the old state or the whole new one, never a part."""
        if self.is_local:
            write_bytes_atomic(self.path(*parts), data)
            return
        final = self.path(*parts)
        self._fs.makedirs(posixpath.dirname(final), exist_ok=True)
        temporary = posixpath.join(posixpath.dirname(final), partial_name(posixpath.basename(final)))
        try:
            self._fs.pipe_file(temporary, data)
            self._fs.mv(temporary, final)
        except BaseException:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)
            raise

    def create_exclusive(self, data: bytes, *parts: str) -> None:
        """Create a file that must not exist yet, else FileExistsError.

        Atomic on a local disk (a hard link: of two callers exactly one succeeds). On
        object stores it is fsspec's exclusive write: a conditional PUT where the
        filesystem has one (s3fs: If-None-Match on AWS S3; gcsfs: ifGenerationMatch=0),
        elsewhere a check for the file before the write, which two callers can both pass.
        """
        path = self.path(*parts)
        self._fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if not self.is_local:
            self._fs.pipe_file(path, data, mode="create")
            return
        create_bytes_exclusive(path, data)

    def remove(self, *parts: str) -> None:
        """Remove one file."""
        self._fs.rm(self.path(*parts))

    def remove_tree(self, *parts: str) -> None:
        """Remove a folder and everything in it."""
        self._fs.rm(self.path(*parts), recursive=True)

    def discard(self, *parts: str) -> bool:
        """Remove a file or folder that may be gone already or still be written to; True when it is gone.

        For garbage only: a process that still writes there (a fenced task) may
        recreate part of it, which the next clean-up removes.
        """
        try:
            if self.exists(*parts):
                self._fs.rm(self.path(*parts), recursive=True)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return not self.exists(*parts)

    def zarr_store(self, *parts: str, read_only: bool = False) -> Store:
        if self.is_local:
            return zarr.storage.LocalStore(self.path(*parts), read_only=read_only)
        url = "/".join([self.url, *parts])
        return zarr.storage.FsspecStore.from_url(url, read_only=read_only)
