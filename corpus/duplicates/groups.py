"""Near-duplicate groups of one corpus: connected components of its checksum, series and fingerprint links."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from corpus.duplicates.links import DUPLICATE_KEYS, FINGERPRINT, Link, fingerprint_links, key_links, sharing_a_key


def duplicate_links(rows: pa.Table) -> list[Link]:
    """Checksum and series links, then fingerprint links between rows no key joins already."""
    keys = {rule: rows.column(rule).to_pylist() for rule in DUPLICATE_KEYS}
    links = [link for rule, values in keys.items() for link in key_links(values, rule)]
    return links + fingerprint_links(rows.column(FINGERPRINT).to_pylist(), skip=sharing_a_key(list(keys.values())))


def near_duplicate_groups(rows: pa.Table) -> list[dict[str, Any]]:
    """Groups of volume ids (sorted), each with the links that join it: the ``qc.near_duplicates`` of an audit."""
    ids = rows.column("volume_id").to_pylist()
    links = duplicate_links(rows)
    labels = components(len(ids), links)
    members: dict[int, set[int]] = defaultdict(set)
    joined: dict[int, list[Link]] = defaultdict(list)
    for link in links:
        members[int(labels[link.rows[0]])].update(link.rows)
        joined[int(labels[link.rows[0]])].append(link)
    groups = [_describe(ids, sorted(members[label]), joined[label]) for label in members]
    return sorted(groups, key=lambda group: group["volumes"])


def components(count: int, links: Sequence[Link]) -> np.ndarray:
    """A component label per row: rows joined by any chain of links share one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.array([(link.rows[0], row) for link in links for row in link.rows[1:]], dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _describe(ids: Sequence[str], rows: Sequence[int], links: Sequence[Link]) -> dict[str, Any]:
    evidence = [
        {"rule": link.rule, "volumes": sorted(ids[row] for row in link.rows), **link.evidence} for link in links
    ]
    return {"volumes": sorted(ids[row] for row in rows), "evidence": evidence}
