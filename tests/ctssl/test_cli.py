"""`corpus pretrain METHOD`: one subcommand per registered method; every flag reaches the run's options."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

import ctssl.cli
from corpus.cli import main
from ctssl.config import TrainConfig
from ctssl.methods import METHODS


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """The configs the command would train with (nothing is trained)."""
    started: list[TrainConfig] = []
    monkeypatch.setattr(ctssl.cli, "_train", started.append)
    return started


def test_voco_flags_keep_their_meaning(runs):
    arguments = ["pretrain", "voco", "--corpus", "c", "--tiny", "--feature-size", "24", "--swin-v2"]
    arguments += ["--teacher-momentum", "0.9", "--grid", "3x3", "--lr", "0.5", "--steps", "7"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    (config,) = runs
    tiny = METHODS["voco"].tiny
    assert config.model == replace(tiny, feature_size=24, use_v2=True, teacher_momentum=0.9, grid=(3, 3))
    assert (config.method, config.corpus, str(config.out), config.lr, config.steps) == (
        "voco",
        "c",
        "runs/voco",
        0.5,
        7,
    )
    assert config.batch_size is None and config.optimizer is None  # the method's defaults, filled when resolved


def test_pcrlv2_flags_and_the_paper_options_without_tiny(runs):
    result = CliRunner().invoke(main, ["pretrain", "pcrlv2", "--corpus", "c", "--widths", "16,32,64,128,256"])
    assert result.exit_code == 0, result.output
    assert runs[0].model == replace(METHODS["pcrlv2"].paper, widths=(16, 32, 64, 128, 256))


def test_a_flag_of_another_method_is_a_usage_error(runs):
    result = CliRunner().invoke(main, ["pretrain", "pcrlv2", "--corpus", "c", "--grid", "3x3"])
    assert result.exit_code == 2 and "--grid" in result.output and not runs


def test_help_lists_every_method_with_its_defaults():
    listed = CliRunner().invoke(main, ["pretrain", "--help"]).output
    assert all(name in listed for name in METHODS)
    voco = CliRunner().invoke(main, ["pretrain", "voco", "--help"]).output
    assert "[4x4]" in voco and "[48]" in voco and "[adamw]" in voco


def test_joint2d3d_flags_reach_its_options(runs):
    arguments = ["pretrain", "joint2d3d", "--corpus", "c", "--slice-axis", "coronal", "--slices", "32"]
    arguments += ["--clustering", "deepcluster", "--schedule", "joint", "--dc-recluster-every", "50", "--mode", "3d"]
    result = CliRunner().invoke(main, [*arguments, "--optimizer", "larc"])
    assert result.exit_code == 0, result.output
    expected = replace(
        METHODS["joint2d3d"].paper,
        slice_axis="coronal",
        slices=32,
        clustering="deepcluster",
        schedule="joint",
        dc_recluster_every=50,
    )
    assert runs[0].model == expected and runs[0].optimizer == "larc"
    bad = CliRunner().invoke(main, ["pretrain", "joint2d3d", "--corpus", "c", "--slice-axis", "oblique"])
    assert bad.exit_code == 2 and "--slice-axis" in bad.output
    short = CliRunner().invoke(main, ["pretrain", "joint2d3d", "--corpus", "c", "--slices", "2"])
    assert short.exit_code == 2 and "shorter than the attention's reduction 4" in short.output
