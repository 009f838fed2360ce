"""`corpus pretrain joint2d3d`: the three stages, `corpus export` of its two encoders, and 2-process DDP."""

from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner

from corpus.cli import main
from ctssl.models.hybrid import HybridEncoder
from ctssl.train import pretrain
from tests.ctssl.test_train import _config, _torchrun


def test_one_step_per_stage_then_the_export_command_writes_both_encoders(phantom_corpus, tmp_path):
    result = pretrain(_config(phantom_corpus, tmp_path / "run", "joint2d3d", steps=3, warmup_steps=0))
    stages, first, second, third = ([r["stage"] for r in result.records], *result.records)
    assert stages == [1.0, 2.0, 3.0] and "cluster_2d" in first and "mask" in second and "cluster_3d" in third
    checkpoint = str(tmp_path / "run" / "checkpoints" / "last.pt")
    exported = CliRunner().invoke(main, ["export", checkpoint, "--out", str(tmp_path / "e")])
    assert exported.exit_code == 0, exported.output
    written = {path.name for path in (tmp_path / "e").iterdir()}
    assert written == {"encoder.pt", "encoder.json", "hybrid.pt", "hybrid.json"}
    kwargs = json.loads((tmp_path / "e" / "hybrid.json").read_text())["target"]["kwargs"]
    encoder = HybridEncoder(**kwargs)
    encoder.load_state_dict(torch.load(tmp_path / "e" / "hybrid.pt", weights_only=True))
    final = torch.load(tmp_path / "run" / "export" / "hybrid.pt", weights_only=True)
    assert all(torch.equal(value, final[key]) for key, value in encoder.state_dict().items())


def test_two_process_cpu_ddp_keeps_clusterings_and_weights_in_step(phantom_corpus, tmp_path):
    # Every step checkpoints, and each checkpoint compares the ranks' weights (prototypes included).
    common = ("--batch-size", "2", "--workers", "1", "--optimizer", "adamw")
    swav = _torchrun(phantom_corpus, tmp_path / "swav", "joint2d3d", 3, *common)
    assert [r["stage"] for r in swav] == [1.0, 2.0, 3.0] and all(r["world_size"] == 2 for r in swav)
    options = ("--schedule", "joint", "--clustering", "deepcluster", "--dc-recluster-every", "1")
    deepcluster = _torchrun(phantom_corpus, tmp_path / "dc", "joint2d3d", 3, *common, *options)
    assert deepcluster[0]["cluster_2d"] == 0.0 and deepcluster[2]["cluster_2d"] > 0  # targets after k-means
    assert all(np.isfinite(r["loss"]) for r in swav + deepcluster)
    state = torch.load(tmp_path / "dc" / "checkpoints" / "last.pt", weights_only=True)
    assert int(state["model"]["banks.2d.pushed"]) == 3 * 2 * (2 * 2 * 8)  # 3 steps x 2 ranks x 2 views x B x n
