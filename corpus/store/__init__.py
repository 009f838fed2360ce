"""Zarr shards, the Parquet manifest, corpus.json and the reader API."""

from corpus.store.location import Location
from corpus.store.reader import Corpus, open_corpus

__all__ = ["Corpus", "Location", "open_corpus"]
