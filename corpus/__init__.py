"""ct-corpus: raw CT collections -> one spacing-normalized int16 zarr corpus.

>>> import corpus
>>> c = corpus.open("out/")                              # doctest: +SKIP
>>> c.read(c.volume_ids[0], region=((0, 64), (0, 64), (0, 64)))  # doctest: +SKIP
"""

from __future__ import annotations

from corpus._version import __version__
from corpus.errors import CorpusError, Reason
from corpus.spec import BuildSpec
from corpus.store.reader import Corpus
from corpus.store.reader import open_corpus as open  # noqa: A004

__all__ = ["BuildSpec", "Corpus", "CorpusError", "Reason", "__version__", "open"]
