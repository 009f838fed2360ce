"""`corpus finetune`: loads exports with a full account, learns from labels in the shards, resumes, compares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ctssl.finetune.config import TINY
from ctssl.finetune.model import build_model, load_weights
from tests.corpus.conftest import run

TINY_RUN = (
    "--tiny",
    "--model",
    "basicunet",
    "--crop",
    "32",
    "--batch-size",
    "2",
    "--lr",
    "3e-3",
    "--warmup-steps",
    "2",
    "--overlap",
    "0.25",
    "--log-every",
    "5",
    "--device",
    "cpu",
)
SWIN_ENCODER = ("swinViT.", "encoder1.", "encoder2.", "encoder3.", "encoder4.", "encoder10.")


@pytest.mark.parametrize("prefixes", [("swinViT.",), SWIN_ENCODER], ids=["swinViT-only", "encoder-path"])
def test_swinunetr_export_loads_by_name_and_shape_and_says_what_stayed(prefixes: tuple[str, ...]) -> None:
    torch.manual_seed(1)
    pretrained = build_model(TINY["swinunetr"], 3).state_dict()
    export = {k: v for k, v in pretrained.items() if k.startswith(prefixes)}
    export["projector.weight"] = torch.ones(4)  # a pre-training head: no place in the model
    export["out.conv.conv.weight"] = torch.ones(2, 12, 1, 1, 1)  # right name, wrong shape (2 classes, not 4)
    torch.manual_seed(2)
    model = build_model(TINY["swinunetr"], 3)
    report = load_weights(model, export)
    loaded = model.state_dict()
    expected = sorted(k for k in loaded if k.startswith(prefixes))
    assert list(report.filled) == expected and len(expected) > 100
    assert all(torch.equal(loaded[k], pretrained[k]) for k in expected)
    assert set(report.kept) == set(loaded) - set(expected) and "out.conv.conv.weight" in report.kept
    assert report.unused == ("out.conv.conv.weight", "projector.weight")
    assert report.summary()["kept_prefixes"] == sorted({k.split(".")[0] for k in report.kept})


def test_dice_rises_on_the_held_out_volume(labelled_corpus: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = run(
        "finetune",
        labelled_corpus,
        "--weights",
        "none",
        "--out",
        str(out),
        *TINY_RUN,
        "--steps",
        "40",
        "--val-every",
        "40",
    )
    assert code == 0, output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["history"]] == [0, 40]
    assert metrics["split"] == {"train": ["imagesTr-case0", "imagesTr-case1"], "val": ["imagesTr-case2"]}
    assert set(metrics["final"]["dice"]) == {"liver", "kidney"}
    start, final = metrics["history"][0]["mean_dice"], metrics["final"]["mean_dice"]
    assert final > start + 0.2 and metrics["final"]["dice"]["liver"] > 0.4, (start, final)


def test_resume_continues_the_history_and_compare_prints_both(labelled_corpus: str, tmp_path: Path) -> None:
    first = [labelled_corpus, "--weights", "none", *TINY_RUN, "--val-every", "2", "--checkpoint-every", "2"]
    assert run("finetune", *first, "--out", str(tmp_path / "a"), "--steps", "2")[0] == 0
    code, output = run("finetune", *first, "--out", str(tmp_path / "a"), "--steps", "4", "--resume")
    assert code == 0, output
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [e["step"] for e in metrics["history"]] == [0, 2, 4]
    assert torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=False)["step"] == 4
    code, output = run("finetune", *first, "--out", str(tmp_path / "a"), "--steps", "4")
    assert code == 1 and "--resume" in output
    assert run("finetune", *first, "--out", str(tmp_path / "b"), "--steps", "2")[0] == 0
    code, output = run("finetune", "--compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 0, output
    lines = {line.split()[0]: line for line in output.splitlines() if line.strip()}
    assert lines["steps"].split()[1:] == ["4", "2"]
    assert "liver" in lines and "kidney" in lines and lines["weights"].split()[1:] == ["scratch", "scratch"]
