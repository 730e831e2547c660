"""The bundle's dataset builders read a checked-in style manifest (placeholder ``base_dir``) over a data folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from medtranslate.data import DATASET_DIR_PLACEHOLDER, build_manifest, write_manifest
from medtranslate.data.loaders import train_dataset, validation_dataset


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 12), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")


def test_manifest_selects_the_items_of_dataset_dir(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    for i in range(3):
        _png(root / "trainA" / f"ct{i}.png", i)
        _png(root / "trainB" / f"mri{i}.png", 10 + i)
        _png(root / "testA" / f"ct{i + 5}.png", 20 + i)
        _png(root / "testB" / f"mri{i + 5}.png", 30 + i)
    shutil.copyfile(root / "trainB" / "mri0.png", root / "trainB" / "mri3.png")  # a byte-duplicate
    manifest = tmp_path / "kaggle.json"
    write_manifest(build_manifest(root, dedupe=True), manifest, base_dir=DATASET_DIR_PLACEHOLDER)

    every = train_dataset(root, image_size=8, length="max", cache_rate=0.0)
    chosen = train_dataset(root, image_size=8, length="max", cache_rate=0.0, manifest=manifest)
    assert (len(every.mri), len(chosen.mri), len(chosen.ct)) == (4, 3, 3)  # the duplicate is not trained on
    sample = chosen[0]
    assert sample["ct"].shape == sample["mri"].shape == (1, 8, 8)

    val, paired = validation_dataset(root, image_size=8, manifest=manifest)
    assert not paired and len(val) == 3 and val[0]["mri"].shape == (1, 8, 8)
