"""corpus.json: the BuildSpec, the storage layout, format and tool versions, written once per corpus.

Format 1 kept the chunks and zstd level (and the DICOM selection) inside the
spec and hashed them; such a corpus is read, and extended, as the format-2
record it converts to: its voxel spec decides compatibility, its chunks and
level become its layout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from corpus._version import __version__
from corpus.errors import CorpusFormatError
from corpus.privacy import salt_record
from corpus.spec import BuildSpec
from corpus.store.layout import CORPUS_JSON, FORMAT_VERSION
from corpus.store.location import Location
from corpus.store.storage_layout import StorageLayout

_FORMAT_1 = 1
_FORMAT_1_LAYOUT_FIELDS = ("chunks", "zstd_level")
_FORMAT_1_SELECTION_FIELDS = ("modalities", "min_slices")


def read_meta(location: Location) -> dict[str, Any]:
    """corpus.json in the current format (a format-1 record converted), with ``spec`` and ``layout``."""
    if not location.exists(CORPUS_JSON):
        raise CorpusFormatError(f"{location.url} is not a corpus: no {CORPUS_JSON}. Build one with `corpus build`.")
    meta: dict[str, Any] = json.loads(location.read_bytes(CORPUS_JSON))
    version = meta.get("format_version")
    if version == _FORMAT_1:
        return _from_format_1(meta)
    if version != FORMAT_VERSION:
        raise CorpusFormatError(
            f"{location.url} has corpus format {version}, this tool reads formats {_FORMAT_1} and {FORMAT_VERSION}: "
            "open it with the ct-corpus version that wrote it"
        )
    return meta


def ensure_meta(location: Location, spec: BuildSpec, layout: StorageLayout | None = None) -> dict[str, Any]:
    """Create corpus.json for a new corpus (``layout`` or the default), or check an existing one; return it.

    An existing corpus must have the same spec; it keeps the layout it records, so ``layout``
    may only repeat it.
    """
    if not location.exists(CORPUS_JSON):
        location.write_atomic(_meta_bytes(spec, layout or StorageLayout()), CORPUS_JSON)
        return read_meta(location)
    meta = read_meta(location)
    _check_spec(location, BuildSpec.from_dict(meta["spec"]), spec)
    recorded = StorageLayout.from_dict(meta["layout"])
    if layout is not None and layout != recorded:
        raise CorpusFormatError(
            f"{location.url} stores its arrays as {recorded} and new shards keep that layout, got {layout}. "
            "Leave the layout out to extend it, or build into a new --out."
        )
    return meta


def _check_spec(location: Location, existing: BuildSpec, spec: BuildSpec) -> None:
    if existing.hash() != spec.hash():
        changed = {k: (v, spec.to_dict()[k]) for k, v in existing.to_dict().items() if spec.to_dict()[k] != v}
        raise CorpusFormatError(
            f"{location.url} was built with another spec (existing, requested): {changed}. "
            "Build into a new --out, or repeat the original options."
        )


def _from_format_1(meta: dict[str, Any]) -> dict[str, Any]:
    spec = dict(meta["spec"])
    layout = {name: spec.pop(name) for name in _FORMAT_1_LAYOUT_FIELDS}
    for name in _FORMAT_1_SELECTION_FIELDS:
        spec.pop(name)
    return {**meta, "spec": spec, "layout": layout}


def _meta_bytes(spec: BuildSpec, layout: StorageLayout) -> bytes:
    meta = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": spec.to_dict(),
        "spec_hash": spec.hash(),
        "layout": layout.to_dict(),
        **salt_record(),
    }
    return json.dumps(meta, indent=2).encode()
