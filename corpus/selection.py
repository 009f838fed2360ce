"""Which stored volumes a training run takes: filters on manifest columns, list files left out, and every
volume that leaks into a named downstream set (corpus.filters, corpus.lists, corpus.leakage).

The training package calls :func:`select_rows` for a mixture; the rules live here so that `corpus`
commands and training agree on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from corpus.filters import apply_filters
from corpus.leakage import find_leaks
from corpus.lists import listed, read_list
from corpus.store.reader import Corpus


def select_rows(
    opened: Corpus,
    filters: Sequence[str] = (),
    exclude: Sequence[str] = (),
    exclude_duplicates_of: Sequence[str] = (),
) -> pa.Table:
    """Stored rows that pass every filter, are named by no ``exclude`` list and leak into no
    ``exclude_duplicates_of`` set (corpora or list files: what `corpus leakage` would list)."""
    rows = apply_filters(opened.stored(), filters)
    for path in exclude:
        rows = rows.filter(pa.array(~listed(rows, read_list(path))))
    leaking = {leak.volume_id for target in exclude_duplicates_of for leak in find_leaks(opened, target, False)[0]}
    if leaking:
        rows = rows.filter(pc.invert(pc.is_in(rows.column("volume_id"), pa.array(sorted(leaking)))))
    return rows
