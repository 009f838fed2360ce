"""Checkpoints: written atomically, so a failed save leaves the previous one whole and nothing else."""

from __future__ import annotations

import pytest
import torch

from ctssl import checkpoint


def test_a_save_that_fails_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save(path, {"step": 1, "weights": torch.ones(3)})
    with pytest.raises(AttributeError, match="pickle"):  # what torch.save raises for a local function
        checkpoint.save(path, {"step": 2, "not_a_tensor": lambda: None})
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
