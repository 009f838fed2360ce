"""corpus.json: the BuildSpec, format and tool versions, written once per corpus."""

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


def read_meta(location: Location) -> dict[str, Any]:
    if not location.exists(CORPUS_JSON):
        raise CorpusFormatError(f"{location.url} is not a corpus: no {CORPUS_JSON}. Build one with `corpus build`.")
    meta: dict[str, Any] = json.loads(location.read_bytes(CORPUS_JSON))
    if meta.get("format_version") != FORMAT_VERSION:
        raise CorpusFormatError(
            f"{location.url} has corpus format {meta.get('format_version')}, this tool reads format {FORMAT_VERSION}"
        )
    return meta


def ensure_meta(location: Location, spec: BuildSpec) -> dict[str, Any]:
    """Create corpus.json for a new corpus, or check an existing one has the same spec; return it."""
    if not location.exists(CORPUS_JSON):
        location.write_atomic(_meta_bytes(spec), CORPUS_JSON)
        return read_meta(location)
    meta = read_meta(location)
    existing = BuildSpec.from_dict(meta["spec"])
    if existing.hash() != spec.hash():
        changed = {k: (v, spec.to_dict()[k]) for k, v in existing.to_dict().items() if spec.to_dict()[k] != v}
        raise CorpusFormatError(
            f"{location.url} was built with another spec (existing, requested): {changed}. "
            "Build into a new --out, or repeat the original options."
        )
    return meta


def _meta_bytes(spec: BuildSpec) -> bytes:
    meta = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": spec.to_dict(),
        "spec_hash": spec.hash(),
        **salt_record(),
    }
    return json.dumps(meta, indent=2).encode()
