"""Per-domain datalists from a folder or a manifest; clear errors when nothing usable is there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medtranslate.data import DATASET_DIR_PLACEHOLDER, build_manifest, load_datalist, paired_datalist, write_manifest
from medtranslate.errors import EmptyInputError, InputError


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path, format="PNG")


def _kaggle(root: Path) -> Path:
    for i in range(3):
        _png(root / "trainA" / f"ct{i}.png", i)
        _png(root / "trainB" / f"mri{i}.png", 50 + i)
    _png(root / "testA" / "ct9.png", 9)
    (root / "testB").mkdir()
    shutil.copyfile(root / "trainB" / "mri0.png", root / "testB" / "mri9.png")
    return root


def test_folder_and_manifest_give_absolute_paths(tmp_path, assert_unchanged):
    root = _kaggle(tmp_path / "k")
    with assert_unchanged(root):
        train = load_datalist(root)
        test = load_datalist(root, "test")
    assert train["ct"] == [{"image": os.path.abspath(root / f"trainA/ct{i}.png")} for i in range(3)]
    assert [Path(e["image"]).name for e in train["mri"]] == ["mri0.png", "mri1.png", "mri2.png"]
    assert [Path(e["image"]).name for e in test["mri"]] == ["mri9.png"]  # not hashed: the leak stays
    assert load_datalist(root, "test", hash_files=True)["mri"] == []  # hashed: the leak is dropped
    val = load_datalist(root, "validation", val_count=1, seed=0)
    assert len(val["ct"]) == len(val["mri"]) == 1

    manifest = tmp_path / "m.json"
    write_manifest(build_manifest(root), manifest, base_dir=DATASET_DIR_PLACEHOLDER)
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    from_manifest = load_datalist(manifest, dataset_dir=moved)
    assert from_manifest["ct"][0]["image"] == os.path.abspath(moved / "trainA/ct0.png")
    with pytest.raises(InputError, match="dataset_dir"):
        load_datalist(manifest)
    with pytest.raises(TypeError):
        load_datalist(manifest, dataset_dir=moved, subset=1)
    (moved / "trainB/mri1.png").unlink()
    with pytest.raises(InputError, match=r"1 of 6 items .* missing"):
        load_datalist(manifest, dataset_dir=moved)


def test_errors_name_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=str(empty)):
        load_datalist(empty)
    with pytest.raises(InputError, match="neither a manifest file nor a data folder"):
        load_datalist(tmp_path / "nothing")
    only_ct = tmp_path / "only_ct"
    _png(only_ct / "ct" / "a.png", 1)
    with pytest.raises(EmptyInputError, match=r"only_ct: no MRI images in the training split"):
        load_datalist(only_ct)
    with pytest.raises(EmptyInputError, match="no CT or MRI images in the test split"):
        load_datalist(only_ct, "test")
    with pytest.raises(EmptyInputError, match="no paired"):
        paired_datalist(_kaggle(tmp_path / "k"))
    with pytest.raises(ValueError, match="split"):
        load_datalist(only_ct, "train")


def test_paired_datalist_phantom_layout(tmp_path):
    root = tmp_path / "phantom"
    for group in ("unpaired", "paired"):
        for domain in ("ct", "mri"):
            (root / group / domain).mkdir(parents=True)
            for i in range(2):
                img = nib.Nifti1Image(
                    np.full((2, 2, 2), i + 10 * (group == "paired") + 100 * (domain == "mri"), np.float32), np.eye(4)
                )
                nib.save(img, root / group / domain / f"{group}_{i}.nii.gz")
    pairs = paired_datalist(root)
    assert pairs == [
        {d: os.path.abspath(root / "paired" / d / f"paired_{i}.nii.gz") for d in ("ct", "mri")} for i in range(2)
    ]
    assert len(load_datalist(root, "test")["ct"]) == 2
