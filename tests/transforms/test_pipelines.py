"""The per-domain pipeline builders: output contract, determinism, metadata, caching split, independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, MetaTensor
from monai.transforms import Randomizable

from medtranslate.errors import DimensionError
from medtranslate.transforms import ct_transforms, mri_transforms


def _check_output(img: torch.Tensor, size: int) -> None:
    assert img.shape == (1, size, size) and img.dtype == torch.float32
    assert float(img.min()) >= -1.0 and float(img.max()) <= 1.0


def test_ct_volume_training_output(head_volume):
    pipeline = ct_transforms(image_size=16, load_size=20)
    pipeline.set_random_state(seed=0)
    for _ in range(5):
        out = pipeline({"ct": head_volume("CT"), "ct_path": "/data/ct_head.nii.gz"})
        assert set(out) == {"ct", "ct_path"}  # the mask key is gone
        _check_output(out["ct"], 16)
        assert 3 <= out["ct"].meta["slice_index"] < 8
        assert out["ct"].meta["intensity_method"] == "ct_window"


def test_mri_volume_training_output(head_volume):
    pipeline = mri_transforms(image_size=16, load_size=20, affine_prob=1.0)
    pipeline.set_random_state(seed=0)
    out = pipeline({"mri": head_volume("MR")})
    _check_output(out["mri"], 16)
    assert out["mri"].meta["intensity_method"] == "mri_percentile" and isinstance(out["mri"], MetaTensor)


def test_eval_is_deterministic_and_affine_follows_monai(disc_image):
    img = disc_image(shape=(32, 24), value=300.0)
    img.affine = torch.diag(torch.tensor([0.5, 0.8, 1.0, 1.0], dtype=torch.float64))
    pipeline = mri_transforms(image_size=16, augment=False, volume=False)
    first, second = pipeline({"mri": img}), pipeline({"mri": img.clone()})
    assert torch.equal(first["mri"], second["mri"])
    _check_output(first["mri"], 16)
    # cropped to the disc's square box (side s) and resized to 16: the spacings grow by s / 16
    _, _, side, *shape = first["mri"].meta["head_box"]
    assert shape == [32, 24] and side < 24
    np.testing.assert_allclose(torch.diag(first["mri"].affine)[:2].numpy(), [0.5 * side / 16, 0.8 * side / 16])
    corners = first["mri"][0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.allclose(corners, torch.tensor(-1.0), atol=1e-3)  # the square box's corners are background
    assert first["mri"].meta["filename_or_obj"] == "/data/slice.png"
    assert torch.equal(img.affine, torch.diag(torch.tensor([0.5, 0.8, 1.0, 1.0], dtype=torch.float64)))


def test_eval_volume_gives_all_non_empty_slices(head_volume):
    out = ct_transforms(image_size=16, augment=False)({"ct": head_volume("CT")})
    assert [o["ct"].meta["slice_index"] for o in out] == [3, 4, 5, 6, 7]
    for sample in out:
        _check_output(sample["ct"], 16)
        assert set(sample) == {"ct"}


def test_2d_uint8_ct_and_rgb(disc_image):
    rgb = MetaTensor(
        torch.stack([disc_image(value=255.0)[0].clamp(0, 255)] * 3),
        meta={"filename_or_obj": "/data/ct.png", "intensity_unit": "uint8", "pil_mode": "RGB"},
    )
    (sample,) = ct_transforms(image_size=16, augment=False)({"ct": rgb})  # a list, as for volumes
    out = sample["ct"]
    _check_output(out, 16)
    assert float(out.max()) == pytest.approx(1.0, abs=0.05) and float(out.min()) < -0.95
    assert out.meta["intensity_method"] == "linear_uint8"


def test_volume_flag_is_enforced(head_volume, disc_image):
    with pytest.raises(RuntimeError) as info:  # MONAI's Compose wraps errors; the cause is ours
        ct_transforms(volume=False)({"ct": head_volume("CT")})
    assert isinstance(info.value.__cause__, DimensionError)
    with pytest.raises(RuntimeError) as info:
        mri_transforms(volume=True)({"mri": disc_image()})
    assert isinstance(info.value.__cause__, DimensionError)


def test_cache_dataset_caches_the_deterministic_prefix(head_volume):
    pipeline = mri_transforms(image_size=16, load_size=20)
    first_random = next(i for i, t in enumerate(pipeline.transforms) if isinstance(t, Randomizable))
    assert type(pipeline.transforms[first_random]).__name__ == "RandAxialSliced"
    data = [{"mri": head_volume("MR", seed=s)} for s in range(2)]
    ds = CacheDataset(data, pipeline, progress=False, num_workers=0)
    assert ds._cache[0]["mri"].ndim == 4  # the cached item is the normalised volume
    _check_output(ds[0]["mri"], 16)


def test_keys_in_one_sample_are_independent(head_volume):
    pipeline = ct_transforms(keys=["a", "b"], image_size=16, load_size=24)
    pipeline.set_random_state(seed=1)
    vol = head_volume("CT")
    results = [pipeline({"a": vol, "b": vol}) for _ in range(6)]
    assert any(not torch.equal(r["a"], r["b"]) for r in results)
    assert any(r["a"].meta["slice_index"] != r["b"].meta["slice_index"] for r in results)


def test_invalid_sizes():
    with pytest.raises(ValueError):
        ct_transforms(image_size=32, load_size=16)
