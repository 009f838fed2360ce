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
    arguments += ["--teacher-momentum", "0.5", "--grid", "3x3", "--lr", "0.5", "--steps", "7", "--random-crops", "3"]
    arguments += ["--flip-probability", "0.5", "--turn-probability", "0.1", "--shift-probability", "0"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    (config,) = runs
    tiny = METHODS["voco"].recipe().tiny
    expected = replace(tiny, feature_size=24, use_v2=True, teacher_momentum=0.5, grid=(3, 3), random_crops=3)
    assert config.model == replace(expected, flip_probability=0.5, turn_probability=0.1, shift_probability=0.0)
    assert (config.method, config.corpus, str(config.out), config.lr, config.steps) == (
        "voco",
        "c",
        "runs/voco",
        0.5,
        7,
    )
    assert config.batch_size is None and config.optimizer is None  # the method's defaults, filled when resolved


def test_pcrlv2_flags_and_the_default_recipe_without_tiny(runs):
    arguments = ["pretrain", "pcrlv2", "--corpus", "c", "--widths", "16,32,64,128,256", "--objective", "eq10"]
    result = CliRunner().invoke(main, [*arguments, "--scale", "2"])
    assert result.exit_code == 0, result.output
    expected = replace(METHODS["pcrlv2"].recipe().options, widths=(16, 32, 64, 128, 256), objective="eq10", scale=2)
    assert runs[0].model == expected
    resolved = runs[0].resolved()
    assert (resolved.recipe, resolved.optimizer, resolved.lr, resolved.weight_decay) == ("release", "sgd", 1e-3, 1e-4)


def test_recipe_paper_takes_the_paper_options_and_optimisation(runs):
    result = CliRunner().invoke(main, ["pretrain", "voco", "--corpus", "c", "--recipe", "paper", "--swin-v1"])
    assert result.exit_code == 0, result.output
    voco = METHODS["voco"]
    assert runs[0].model == replace(voco.paper, use_v2=False) and runs[0].recipe == "paper"
    resolved = runs[0].resolved()
    assert (resolved.lr, resolved.warmup_steps, resolved.batch_size) == (1e-3, 100, 4)  # the paper's table
    default = CliRunner().invoke(main, ["pretrain", "voco", "--corpus", "c"])
    assert default.exit_code == 0 and runs[1].model == voco.recipe().options
    assert (runs[1].resolved().optimizer, runs[1].resolved().lr) == ("amsgrad", 1e-4)


def test_a_flag_of_another_method_is_a_usage_error(runs):
    result = CliRunner().invoke(main, ["pretrain", "pcrlv2", "--corpus", "c", "--grid", "3x3"])
    assert result.exit_code == 2 and "--grid" in result.output and not runs


def test_help_lists_every_method_with_its_defaults():
    listed = CliRunner().invoke(main, ["pretrain", "--help"]).output
    assert all(name in listed for name in METHODS)
    voco = CliRunner().invoke(main, ["pretrain", "voco", "--help"]).output
    assert "[3x3]" in voco and "[48" in voco and "[amsgrad]" in voco and "--recipe" in voco and "[large]" in voco


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
