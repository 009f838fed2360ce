"""Pre-train -> export -> fine-tune vs scratch: do the weights help a segmentation task?

Runs everything through the `corpus` command as a user would:
1. a phantom pre-training corpus (or --pretrain-corpus), `corpus pretrain METHOD`,
   which ends with export/encoder.pt;
2. a labelled corpus: --seg-corpus, or the real TotalSegmentator scan of
   ../shared/data cut into two halves along z (one trains, one validates);
3. `corpus finetune` from the export and from scratch with the export's
   architecture (--architecture), the same seed, steps and crops;
4. `corpus finetune --compare scratch pretrained`.

    python benchmarks/finetune.py --size gpu --out bench-finetune      # minutes on one GPU
    python benchmarks/finetune.py --size cpu --out bench-finetune-cpu  # tiny models, the CPU

Sizes: ``gpu`` = the method's full model (VoCo SwinUNETR fs 48 or PCRLv2
BasicUNet 32..512), 96³ crops, 2000 pre-training and 1000 fine-tuning steps;
``cpu`` = `--tiny` models, 64x64x32 crops, 30 pre-training and 40 fine-tuning steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from benchmarks.common import phantom_nifti

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct" / "totalsegmentator"
SCAN, LABELS = "abdomen_3mm_small.nii.gz", "abdomen_3mm_small_labels.nii.gz"
ORGANS = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 5: "liver"}  # TotalSegmentator v2 values
SIZES = {
    "gpu": {"pretrain": ["--steps", "2000"], "finetune": ["--steps", "1000", "--val-every", "100", "--crop", "96"]},
    "cpu": {
        "pretrain": ["--tiny", "--steps", "30", "--batch-size", "2", "--workers", "0"],
        "finetune": [
            *("--steps", "40", "--val-every", "40", "--overlap", "0.25", "--log-every", "5", "--crop", "64,64,32"),
            *("--batch-size", "2", "--warmup-steps", "10", "--lr", "1e-3", "--sw-batch-size", "2"),
        ],
    },
}


def corpus_command(*args: str) -> None:
    command = [sys.executable, "-c", "from corpus.cli import main; main()", *args]
    print("$ corpus", " ".join(args), flush=True)
    subprocess.run(command, check=True)


def pretrain_corpus(out: Path) -> str:
    """Four phantom torsos at 3 mm, built at 1.5 mm."""
    scans = out / "phantoms"
    scans.mkdir(parents=True, exist_ok=True)
    for seed in range(4):
        phantom_nifti(scans / f"torso{seed}.nii.gz", (3.0, 3.0, 3.0), (120, 90, 60), -40.0 * seed, seed)
    corpus_command("build", str(scans), "--out", str(out / "pretrain-corpus"))
    return str(out / "pretrain-corpus")


def real_scan_corpus(out: Path) -> str:
    """The real labelled scan as two volumes, its upper and lower halves in z, with TotalSegmentator names."""
    images, labels = out / "seg" / "imagesTr", out / "seg" / "labelsTr"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    image, label = nib.load(SHARED / SCAN), nib.load(SHARED / LABELS)
    depth = image.shape[2]
    for name, (start, stop) in {"lower": (0, depth // 2), "upper": (depth // 2, depth)}.items():
        affine = image.affine.copy()
        affine[:3, 3] = image.affine[:3, :3] @ np.array([0, 0, start]) + image.affine[:3, 3]
        for folder, source, dtype in ((images, image, np.int16), (labels, label, np.uint8)):
            data = np.asarray(source.dataobj)[:, :, start:stop].astype(dtype)
            nib.save(nib.Nifti1Image(data, affine), folder / f"{name}.nii.gz")
    (labels / "labels.json").write_text(json.dumps({"labels": {str(k): v for k, v in ORGANS.items()}}))
    corpus_command("build", str(images), "--out", str(out / "seg-corpus"), "--labels", str(labels))
    return str(out / "seg-corpus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="gpu")
    parser.add_argument("--method", choices=("voco", "pcrlv2"), default="pcrlv2")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pretrain-corpus", help="A corpus to pre-train on (default: four phantoms).")
    parser.add_argument("--seg-corpus", help="A labelled corpus (default: the real scan, split in two).")
    parser.add_argument("--classes", default=",".join(map(str, ORGANS)), help="Label values to learn.")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    size = SIZES[args.size]
    pretrain = args.pretrain_corpus or pretrain_corpus(args.out)
    seg = args.seg_corpus or real_scan_corpus(args.out)
    run = args.out / f"pretrain-{args.method}"
    corpus_command(
        "pretrain", args.method, "--corpus", pretrain, "--out", str(run), "--device", args.device, *size["pretrain"]
    )
    export = run / "export"
    common = ["--classes", args.classes, "--device", args.device, *size["finetune"]]
    corpus_command(
        "finetune", seg, "--weights", str(export / "encoder.pt"), "--out", str(args.out / "pretrained"), *common
    )
    corpus_command(
        "finetune",
        seg,
        "--weights",
        "none",
        "--architecture",
        str(export / "encoder.json"),
        "--out",
        str(args.out / "scratch"),
        *common,
    )
    corpus_command("finetune", "--compare", str(args.out / "scratch"), str(args.out / "pretrained"))


if __name__ == "__main__":
    main()
