"""Learning on the CPU from streamed corpus data: the first and the last window of every loss term.

The tiny model of a method's default recipe trains on crops streamed from a
phantom corpus, a new batch every step (not a fixed batch), through the same
`corpus pretrain` command users run; the script reports each logged term's
mean over the first and the last ``--window`` steps.

Those windows mix learning with batch-to-batch noise: each streamed batch has
its own difficulty (VoCo's loss on a batch depends on how its random crops
overlap the bases). So the script also scores every ``--window``-th snapshot,
and the initial weights, on the same held-out batches (``--held-out``, drawn
from the corpus with another seed, each with its own fixed augmentation):
differences between those rows are the weights' alone. For VoCo it adds the
loss of the best constant logit on those batches, the level a model that
ignores where crops sit can reach, and (teacher head) the Pearson r between
its prediction logits and the position labels.

    .venv/bin/python benchmarks/learning.py --method voco [--steps 320] [--window 40] [--volumes 6]
        [--held-out 16] [--work DIR] [-- extra `corpus pretrain` options, e.g. --warmup-steps 20 or --scale 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean
from typing import Any

import torch
from pretrain import make_corpus

from ctssl import checkpoint, feed
from ctssl.methods import METHODS, find_method
from ctssl.runlog import PASSED_OVER

HELD_OUT_SEED = 1_000_003  # not a training seed: the held-out batches are not the ones trained on

NOT_TERMS = {
    "step",
    "lr",
    "world_size",
    "steps_per_s",
    "samples_per_s",
    "data_wait_fraction",
    "peak_memory_bytes",
    PASSED_OVER,
}


def windows(records: list[dict[str, float]], window: int) -> dict[str, dict[str, float]]:
    """Per logged term: its mean over the first and over the last ``window`` steps, and the change."""
    first, last = records[:window], records[-window:]
    terms = [key for key in records[0] if key not in NOT_TERMS]
    report = {}
    for term in terms:
        start, end = mean(r[term] for r in first), mean(r[term] for r in last)
        report[term] = {"first": round(start, 4), "last": round(end, 4), "change": round(end - start, 4)}
    return report


def constant_floor(batches: list[dict[str, Any]], options: Any) -> dict[str, float]:
    """VoCo: the held-out prediction loss of the best constant logit, what a model ignoring the crops reaches.

    The position labels alone fix it (each batch's overlap fractions), so a prediction loss at this level has
    learned the labels' typical value, not where crops sit; below it the logits follow the positions.
    """
    from ctssl.methods.voco.losses import release_position_loss, voco_prediction_loss

    def loss(labels: torch.Tensor, logit: float) -> float:
        logits = torch.full_like(labels, logit)
        if options.teacher_momentum is None:
            return float(voco_prediction_loss(logits, labels))
        return float(release_position_loss(labels, logits))

    volumes = [labels for batch in batches for labels in batch["labels"].float()]
    scored = [(mean(loss(labels, c / 100) for labels in volumes), c / 100) for c in range(0, 100)]
    best, logit = min(scored)
    return {"prediction": round(best, 4), "logit": logit}


class PositionProbe:
    """VoCo teacher head: the prediction logits of each forward, from the projectors' outputs, against the labels.

    Their Pearson r says whether the logits follow where crops sit (r > 0) or only the labels' level (r ~ 0).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.logits: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        for name in ("student", "teacher"):
            getattr(model, name).register_forward_hook(self._keeper(name))

    def _keeper(self, name: str) -> Any:
        def keep(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self.outputs[name] = output.float()

        return keep

    def record(self, labels: torch.Tensor) -> None:
        """After a forward: (B, k, n) labels against cos(student random crops, teacher bases) of each volume."""
        from ctssl.methods.voco.losses import cosine_logits

        volumes, count = labels.shape[0], labels.shape[2]
        width = self.outputs["student"].shape[-1]
        student, teacher = (self.outputs[name].view(volumes, -1, width) for name in ("student", "teacher"))
        for i in range(volumes):
            self.logits.append(cosine_logits(student[i, count:], teacher[i, :count]).flatten())
            self.labels.append(labels[i].float().flatten())

    def correlation(self) -> float:
        """Pearson r over everything recorded since the last call, then forget it."""
        pairs = torch.stack([torch.cat(self.logits), torch.cat(self.labels)])
        self.logits, self.labels = [], []
        return round(float(torch.corrcoef(pairs)[0, 1]), 4)


def held_out(run: Path, corpus_url: str, count: int, steps: int) -> dict[str, Any]:
    """Per snapshot (step 0 = the initial weights): each loss term's mean over ``count`` fixed held-out batches.

    Each batch's inputs come from its own fixed generators, so every snapshot sees the same crops, the same
    augmentation and (VoCo) the same student dropout. The method's ``before_forward`` runs once per snapshot,
    as before a training step (VoCo: the teacher's EMA update; PCRLv2: its fading weight).
    """
    snapshots = sorted((run / "checkpoints").glob(f"{checkpoint.SNAPSHOT_PREFIX}*.pt"))
    first = checkpoint.load(snapshots[0])
    method = find_method(first["method"])
    options = method.options_from_dict(first["model_options"])
    training = method.training()
    torch.manual_seed(0)  # the loop's seed (--seed 0) before it builds the model: the run's initial weights
    model = training.build(options)
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    source = feed.batches(
        corpus_url, method.sampler(options), None, first["batch_size"], 0, HELD_OUT_SEED, 0, 1, 0, False
    )
    batches = list(itertools.islice(source, count))
    probe = PositionProbe(model) if getattr(options, "teacher_momentum", None) is not None else None
    rows = []
    trained = ((int(state["step"]), state["model"]) for state in map(checkpoint.load, snapshots))
    for step, weights in itertools.chain([(0, initial)], trained):  # one snapshot in memory at a time
        model.load_state_dict(weights)
        model.train()  # the training objective as the loop computes it (batch norms use the batch)
        extra = training.before_forward(model, step, steps) if training.before_forward is not None else {}
        totals: dict[str, float] = {}
        with torch.no_grad():
            for index, batch in enumerate(batches):
                generator, shared = feed.generators(HELD_OUT_SEED, index, 0)
                inputs = training.inputs(batch, options, torch.device("cpu"), generator, shared) | extra
                for name, value in model(**inputs).items():
                    totals[name] = totals.get(name, 0.0) + float(value) / count
                if probe is not None:
                    probe.record(inputs["labels"])
        row = {"step": step} | {name: round(value, 4) for name, value in totals.items()}
        rows.append(row | ({"logit_label_r": probe.correlation()} if probe is not None else {}))
    result: dict[str, Any] = {"batches": count, "snapshots": rows}
    if method.name == "voco":
        result["constant_logit_floor"] = constant_floor(batches, options)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=list(METHODS), default="voco")
    parser.add_argument("--steps", type=int, default=320)
    parser.add_argument("--window", type=int, default=40)
    parser.add_argument("--volumes", type=int, default=6)
    parser.add_argument("--corpus", help="train on this corpus instead of --volumes generated phantoms")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--held-out", type=int, default=16, help="held-out batches each snapshot is scored on")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-learning")
    parser.add_argument("extra", nargs="*", help="more `corpus pretrain` options (after --)")
    args = parser.parse_args()
    corpus_url = args.corpus or make_corpus(args.work, args.volumes)
    out = args.work / f"run-{args.method}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "corpus.cli", "pretrain", args.method, "--corpus", corpus_url, "--out", str(out)]
    command += ["--tiny", "--device", "cpu", "--workers", str(args.workers), "--steps", str(args.steps)]
    command += ["--log-every", "1", "--checkpoint-every", str(args.window)]
    command += ["--keep-checkpoints", str(-(-args.steps // args.window)), *args.extra]
    subprocess.run(command, check=True)
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    result = {
        "method": args.method,
        "recipe": json.loads((out / "config.json").read_text())["recipe"],
        "steps": args.steps,
        "window": args.window,
        "options": args.extra,
        "seconds_per_step": round(1 / mean(r["steps_per_s"] for r in records), 2),
        "terms": windows(records, args.window),
        "held_out": held_out(out, corpus_url, args.held_out, args.steps),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
