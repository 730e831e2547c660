"""The 3D model's datasets: random head patches for training, whole paired volumes for validation, slices refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import CacheDataset
from PIL import Image

from medtranslate.data.loaders import train_patch_dataset, validation_volume_dataset
from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.errors import InputError


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two unpaired CT and MRI subjects and one pair, 32×32×8 voxels of 2×2×3 mm."""
    return write_phantom_dataset(
        tmp_path_factory.mktemp("data") / "phantom", n_unpaired=2, n_paired=1, shape=(32, 32, 8), seed=1
    )


def test_patches_are_cubes_on_the_model_scale(phantom: Path) -> None:
    dataset = train_patch_dataset(phantom, patch_size=8, spacing=2.0, length=6, cache_rate=0.0)
    assert len(dataset) == 6
    for i in range(len(dataset)):
        sample = dataset[i]
        for key in ("ct", "mri"):
            patch = sample[key]
            assert patch.shape == (1, 8, 8, 8) and patch.dtype == torch.float32
            assert float(patch.min()) >= -1.0 and float(patch.max()) <= 1.0
            assert float(patch.max()) > -1.0  # drawn inside the head's box, not from the air around it


def test_patches_larger_than_the_head_are_padded_with_background(phantom: Path) -> None:
    patch = train_patch_dataset(phantom, patch_size=40, spacing=2.0, length=1, cache_rate=0.0)[0]["ct"]
    assert patch.shape == (1, 40, 40, 40)
    assert float(patch.min()) == -1.0 and float(patch.max()) > -1.0


def test_the_resampled_volumes_are_cached_before_the_random_patch(phantom: Path) -> None:
    """CacheDataset keeps each domain's resampled head (not a patch): a volume is read and resampled once."""
    dataset = train_patch_dataset(phantom, patch_size=8, spacing=2.0, length=4, cache_rate=1.0)
    assert isinstance(dataset.ct, CacheDataset) and len(dataset.ct._cache) == 2
    cached = dataset.ct._cache[0]["ct"]
    assert cached.ndim == 4 and min(cached.shape[1:]) >= 8 and max(cached.shape[1:]) > 8
    # 8 slices of 3 mm resampled to 2 mm: 12 slices (at most, after the head crop)
    assert cached.shape[3] <= 12 and cached.shape[1] <= 32
    first, again = dataset[0]["ct"], dataset[0]["ct"]
    assert first.shape == again.shape == (1, 8, 8, 8)


def test_the_same_seed_draws_the_same_patches(phantom: Path) -> None:
    a = train_patch_dataset(phantom, patch_size=8, length=3, cache_rate=1.0, seed=4)
    b = train_patch_dataset(phantom, patch_size=8, length=3, cache_rate=1.0, seed=4)
    for i in range(3):
        assert torch.equal(a[i]["ct"], b[i]["ct"]) and torch.equal(a[i]["mri"], b[i]["mri"])


def test_a_dataset_of_slices_is_refused_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    for i, folder in enumerate(("trainA", "trainB", "testA", "testB")):
        (root / folder).mkdir(parents=True)
        pixels = np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8)
        Image.fromarray(pixels).save(root / folder / "x.png")
    with pytest.raises(InputError) as info:
        train_patch_dataset(root, patch_size=8)
    message = str(info.value)
    assert "\n" not in message and str(root) in message
    assert "3D training needs CT and MRI volumes" in message and "2D slices (e.g. x.png)" in message
    with pytest.raises(InputError, match="3D validation needs CT and MRI volumes"):
        validation_volume_dataset(root)


def test_validation_gives_registered_volumes_of_one_shape(phantom: Path) -> None:
    """The phantom's pair: CT and MRI on the same 2 mm grid, cropped together to the head, sides divisible by 4."""
    dataset, paired = validation_volume_dataset(phantom, spacing=2.0)
    assert paired and len(dataset) == 1
    item = dataset[0]
    ct, mri = item["ct"], item["mri"]
    assert ct.shape == mri.shape and ct.ndim == 4 and ct.shape[0] == 1
    assert all(s % 4 == 0 for s in ct.shape[1:])
    assert ct.shape[3] <= 12  # Z (axial) last, at 2 mm
    for volume in (ct, mri):
        assert float(volume.min()) >= -1.0 and float(volume.max()) <= 1.0
    head_ct, head_mri = ct > -0.9, mri > -0.9
    overlap = (head_ct & head_mri).sum() / (head_ct | head_mri).sum()
    assert overlap > 0.7  # registered: the heads coincide
