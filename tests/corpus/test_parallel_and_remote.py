"""Builds on several worker processes, and into a remote (fsspec) corpus, give the same corpus."""

from __future__ import annotations

import numpy as np

import corpus
from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from corpus.verify import verify_corpus
from tests.corpus.conftest import content, verify


def test_two_worker_processes_build_the_same_corpus(scans, reference, tmp_path):
    out = tmp_path / "corpus"
    spec = BuildSpec()
    report = build_corpus(discover([scans], []), str(out), spec, volumes_per_shard=2, progress=False, workers=2)
    assert report.exit_code == 3
    assert content(out) == reference
    assert verify(out)[0] == 0


def test_a_remote_fsspec_corpus(scans):
    url = "memory://corpus-test/out"
    report = build_corpus(discover([scans], []), url, BuildSpec(), progress=False)
    assert report.counts()["ok"] == 7
    opened = corpus.open(url)
    region = opened.read(opened.volume_ids[0], ((0, 8), (0, 8), (0, 4)))
    assert region.shape == (8, 8, 4) and region.dtype == np.int16
    assert verify_corpus(opened).ok
