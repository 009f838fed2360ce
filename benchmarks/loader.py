"""Training-sample throughput: VoCo regions from the corpus vs what users run today.

One sample = one 192 x 192 x 64 region at 1.5 mm (VoCo's released large-scale
setting) from a random volume. Compared, single process, same inputs:
  corpus      ctssl RegionDataset reading int16 regions from zarr shards
  monai       on the fly from the source NIfTI: LoadImaged, EnsureChannelFirstd,
              Orientationd(RAS), Spacingd(1.5, bilinear), ScaleIntensityRanged,
              RandSpatialCropd
  persistent  MONAI PersistentDataset caching float32 .pt after ScaleIntensityRanged
              (as the large-scale VoCo code does), RandSpatialCropd at fetch
  npy         uncompressed int16 .npy of the same 1.5 mm volumes, memory-mapped,
              random crop (the floor)
Bytes per volume also for PCRLv2-style offline crops (36 fixed 64x64x32 float64
crops per scan, the ~37 MB per LUNA scan of its released pre-processing).
Before timing, the corpus volume is checked against MONAI's resampled volume.

    .venv/bin/python benchmarks/loader.py [--volumes 3] [--samples 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import aligned_difference, phantom_nifti

import corpus
from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from ctssl.data import RegionDataset
from ctssl.methods import pcrlv2, voco

REGION = (192, 192, 64)
# 36 crops of 64x64x32 float64 (1 MiB each) per scan: the ~37 MB per LUNA scan of PCRLv2's offline crops.
PCRLV2_CROPS = 36
SOURCE_SHAPE, SOURCE_SPACING = (512, 512, 240), (0.75, 0.75, 1.25)


def make_inputs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        phantom_nifti(folder / f"ct{n}.nii.gz", SOURCE_SPACING, SOURCE_SHAPE, -20.0 + 20.0 * n, seed=n)
        for n in range(count)
    ]


def monai_transforms(cache_only: bool) -> list[object]:
    from monai.transforms import (
        EnsureChannelFirstd,
        LoadImaged,
        Orientationd,
        RandSpatialCropd,
        ScaleIntensityRanged,
        Spacingd,
    )

    keys = ["image"]
    chain: list[object] = [
        LoadImaged(keys),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS"),
        Spacingd(keys, pixdim=(1.5, 1.5, 1.5), mode="bilinear"),
        ScaleIntensityRanged(keys, a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
    ]
    return chain if cache_only else [*chain, RandSpatialCropd(keys, roi_size=REGION, random_size=False)]


def throughput(fetch: Callable[[int], object], samples: int) -> float:
    fetch(0)  # warm-up: imports, first opens
    started = time.perf_counter()
    for index in range(samples):
        fetch(index)
    return samples / (time.perf_counter() - started)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_same_volume(opened: corpus.Corpus, volume_id: str, source: Path) -> float:
    from monai.transforms import Compose

    reference = Compose(monai_transforms(cache_only=True)[:4])({"image": str(source)})["image"]
    theirs = np.clip(reference[0].numpy(), -1024, 3071)
    origin = np.asarray(opened.array(volume_id).attrs["origin"])
    return aligned_difference(opened.read(volume_id), origin, theirs, np.asarray(reference.affine)[:3, 3])


def pcrlv2_offline_crops(opened: corpus.Corpus, folder: Path, per_volume: int = PCRLV2_CROPS) -> None:
    """PCRLv2-style offline pre-processing: fixed crops, resized to 64x64x32, HU/1000, float64 .npy."""
    import torch

    from ctssl.augment import crop_resize

    folder.mkdir(exist_ok=True)
    sampler = pcrlv2.METHOD.sampler(pcrlv2.defaults.PAPER)
    for volume_id in opened.volume_ids:
        shape = opened.array(volume_id).shape
        for number in range(per_volume):
            params = sampler.make_params(np.random.default_rng(number), shape, None)
            region = torch.from_numpy(opened.read(volume_id, params.region.bounds()).astype(np.float32))[None, None]
            box = torch.tensor([params.crops[0].as_row()])
            crop = crop_resize(region.clamp(-1000, 1000) / 1000.0, box, (64, 64, 32))[0, 0].numpy()
            np.save(folder / f"{volume_id}_{number:03d}.npy", crop.astype(np.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=3)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-loader-bench")
    args = parser.parse_args()
    from monai.data import Dataset, PersistentDataset
    from numcodecs import blosc

    blosc.set_nthreads(1)  # one core per loader, like every other contender here

    sources = make_inputs(args.work / "nifti", args.volumes)
    out = args.work / "corpus"
    shutil.rmtree(out, ignore_errors=True)
    build_corpus(discover([args.work / "nifti"], []), str(out), BuildSpec(), progress=False)
    opened = corpus.open(str(out))
    ids = opened.volume_ids
    difference = check_same_volume(opened, ids[0], sources[0])
    assert difference < 5.0, f"corpus and MONAI disagree by {difference:.1f} HU: not the same data"

    npy = args.work / "npy"
    npy.mkdir(exist_ok=True)
    for volume_id in ids:
        np.save(npy / f"{volume_id}.npy", opened.read(volume_id))
    arrays = [np.load(npy / f"{volume_id}.npy", mmap_mode="r") for volume_id in ids]
    rng = np.random.default_rng(0)

    def npy_crop(index: int) -> np.ndarray:
        array = arrays[index % len(arrays)]
        start = [int(rng.integers(0, max(n - r, 0) + 1)) for n, r in zip(array.shape, REGION, strict=True)]
        return np.array(array[tuple(slice(s, s + r) for s, r in zip(start, REGION, strict=True))])

    regions = RegionDataset(str(out), voco.METHOD.sampler(voco.defaults.LARGE))
    entries = regions.entries

    def corpus_sample(index: int) -> object:
        return regions.sample(entries[index % len(entries)], np.random.default_rng(index))

    records = [{"image": str(p)} for p in sources]
    on_the_fly = Dataset(records, transform=_compose(monai_transforms(cache_only=False)))
    cache = args.work / "persistent_cache"
    shutil.rmtree(cache, ignore_errors=True)
    persistent = PersistentDataset(records, transform=_compose(monai_transforms(cache_only=False)), cache_dir=cache)
    for index in range(len(records)):
        persistent[index]  # fill the cache first, as a user would

    crops = args.work / "pcrlv2_crops"
    shutil.rmtree(crops, ignore_errors=True)
    pcrlv2_offline_crops(opened, crops)
    rates = {
        "corpus": throughput(corpus_sample, args.samples),
        "monai": throughput(lambda i: on_the_fly[i % len(records)], max(3, args.samples // 10)),
        "persistent": throughput(lambda i: persistent[i % len(records)], args.samples),
        "npy": throughput(npy_crop, args.samples),
    }
    sizes = {
        "corpus": sum(row["stored_bytes"] for row in opened.manifest.to_pylist()),
        "source_nii_gz": sum(p.stat().st_size for p in sources),
        "persistent": folder_bytes(cache),
        "npy": folder_bytes(npy),
        "pcrlv2_crops": folder_bytes(crops),
    }
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "volumes": len(ids),
        "source": {"shape": SOURCE_SHAPE, "spacing": SOURCE_SPACING},
        "corpus_vs_monai_mean_abs_hu": round(difference, 2),
        "samples_per_s": {k: round(v, 2) for k, v in rates.items()},
        "speedup_vs": {k: round(rates["corpus"] / v, 2) for k, v in rates.items() if k != "corpus"},
        "bytes_per_volume": {k: v // len(ids) for k, v in sizes.items()},
    }
    print(json.dumps(result, indent=2))


def _compose(transforms: list[object]) -> object:
    from monai.transforms import Compose

    return Compose(transforms)


if __name__ == "__main__":
    main()
