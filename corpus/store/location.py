"""Where a corpus lives: a local folder or any fsspec URL, and atomic writes there."""

from __future__ import annotations

import posixpath
import uuid

import fsspec
import zarr
from fsspec.implementations.local import LocalFileSystem
from zarr.abc.store import Store


class Location:
    """A corpus root; every path below it is given as parts relative to the root."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def list_names(self, *parts: str) -> list[str]:
        """Names directly inside a folder, sorted; empty when it does not exist."""
        if not self.exists(*parts):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path(*parts), detail=False))

    def read_bytes(self, *parts: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(*parts)))

    def write_atomic(self, data: bytes, *parts: str) -> None:
        """Write a file so readers see the old state or the whole new one, never a part."""
        final = self.path(*parts)
        self.fs.makedirs(posixpath.dirname(final), exist_ok=True)
        temporary = f"{final}.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(temporary, data)
        self.fs.mv(temporary, final)

    def zarr_store(self, *parts: str, read_only: bool = False) -> Store:
        if self.is_local:
            return zarr.storage.LocalStore(self.path(*parts), read_only=read_only)
        url = "/".join([self.url, *parts])
        return zarr.storage.FsspecStore.from_url(url, read_only=read_only)
