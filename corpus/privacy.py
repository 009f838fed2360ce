"""Salted keys: subjects and series can be grouped and deduplicated, never identified.

The salt is random per corpus and kept in corpus.json, or supplied by the user
through the CORPUS_SALT environment variable (then only its fingerprint is
kept, so several corpora can share keys while the salt stays with the user).
"""

from __future__ import annotations

import hashlib
import os
import secrets

from corpus.errors import CorpusFormatError

SALT_ENV = "CORPUS_SALT"


def salted_key(salt: str, *parts: str) -> str:
    """A 20-hex key of ``parts``; equal parts and salt give equal keys."""
    text = "\x1f".join((salt, *parts))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fingerprint(salt: str) -> str:
    return hashlib.sha256(f"fingerprint\x1f{salt}".encode()).hexdigest()[:16]


def salt_record() -> dict[str, str]:
    """What a new corpus.json keeps about its salt."""
    user_salt = os.environ.get(SALT_ENV)
    if user_salt:
        return {"salt_fingerprint": fingerprint(user_salt)}
    return {"salt": secrets.token_hex(16)}


def salt_identity(meta: dict[str, str]) -> str:
    """What two corpora compare to know whether their keys are comparable (the same salt), never the salt."""
    return meta["salt_fingerprint"] if "salt_fingerprint" in meta else fingerprint(meta["salt"])


def resolve_salt(meta: dict[str, str]) -> str:
    """The salt of an existing corpus: CORPUS_SALT when the corpus was built with one."""
    user_salt = os.environ.get(SALT_ENV)
    if "salt_fingerprint" in meta:
        if not user_salt or fingerprint(user_salt) != meta["salt_fingerprint"]:
            raise CorpusFormatError(f"This corpus was built with a user salt: set {SALT_ENV} to the same value")
        return user_salt
    if user_salt:
        raise CorpusFormatError(f"This corpus keeps its own salt; unset {SALT_ENV} to extend it")
    return meta["salt"]
