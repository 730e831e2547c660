"""Grayscale check, head mask, orientation, axial slicing, resize/pad and unpaired augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import RandSpatialCropd

from medtranslate.errors import DimensionError, EmptyInputError, NonFiniteError
from medtranslate.transforms import (
    AxialOrientation,
    AxialSlices,
    AxialSlicesd,
    CTWindow,
    EnsureGrayscale,
    EnsureGrayscaled,
    HeadMask,
    HeadMaskd,
    RandAxialSlice,
    RandAxialSliced,
    RandCycleGANAugment,
    RandCycleGANAugmentd,
    ResizeLongestPad,
    ResizeLongestPadd,
    head_mask,
    otsu_threshold,
)


def _png(data, mode: str = "RGB") -> MetaTensor:
    return MetaTensor(
        torch.as_tensor(data, dtype=torch.float32), meta={"filename_or_obj": "/data/x.png", "pil_mode": mode}
    )


def test_rgb_and_rgba_to_luma():
    rgb = torch.tensor([[[255.0, 0.0]], [[0.0, 255.0]], [[0.0, 0.0]]])  # (3, 1, 2): red, green
    out = EnsureGrayscale()(_png(rgb))
    np.testing.assert_allclose(out.numpy().ravel(), [0.299 * 255, 0.587 * 255], rtol=1e-6)
    assert out.shape == (1, 1, 2) and out.dtype == torch.float32 and out.meta["pil_mode"] == "RGB"
    rgba = torch.cat([rgb, torch.full((1, 1, 2), 7.0)])
    assert torch.equal(EnsureGrayscale()(_png(rgba, "RGBA")), out)
    blue_white = torch.tensor([[[0.0, 255.0]], [[0.0, 255.0]], [[255.0, 255.0]]])
    np.testing.assert_allclose(EnsureGrayscale()(_png(blue_white)).numpy().ravel(), [0.114 * 255, 255], rtol=1e-5)


def test_grey_and_grey_alpha():
    grey = _png(torch.arange(6.0).reshape(1, 2, 3), "L")
    assert torch.equal(EnsureGrayscale()(grey), grey)
    la = _png(torch.stack([torch.arange(6.0).reshape(2, 3), torch.zeros(2, 3)]), "LA")
    assert torch.equal(EnsureGrayscaled("img")({"img": la})["img"], grey)


@pytest.mark.parametrize(
    ("shape", "spatial_dims", "match"),
    [
        ((5, 4, 4), None, "channels"),
        ((3, 4, 4, 4), None, "one channel"),
        ((1, 4), None, "spatial dimensions"),
        ((1, 4, 4, 4, 4), None, "spatial dimensions"),
        ((1, 4, 4, 4), 2, "2 spatial"),
        ((1, 4, 4), 3, "3 spatial"),
    ],
)
def test_dimension_errors_name_the_file(shape, spatial_dims, match):
    with pytest.raises(DimensionError, match=rf"^/data/x\.png: .*{match}"):
        EnsureGrayscale(spatial_dims=spatial_dims)(_png(torch.zeros(shape)))


def test_non_finite_error_names_the_file():
    data = torch.zeros(1, 3, 3)
    data[0, 1, 1] = float("inf")
    with pytest.raises(NonFiniteError, match=r"^/data/x\.png: .*1 Inf"):
        EnsureGrayscale()(_png(data))


def test_otsu_separates_two_levels():
    values = np.concatenate([np.full(100, 10.0), np.full(50, 200.0)])
    assert 10 <= otsu_threshold(values) < 200
    assert otsu_threshold(np.full(4, 3.0)) == 3.0


def test_head_mask_on_noisy_disc_with_speckle_and_hole(disc_image):
    img = disc_image(shape=(40, 40), value=200.0, background=0.0)
    img[0, 2, 2] = 500.0  # bright speckle in the air
    img[0, 20, 20] = 0.0  # dark hole inside the head
    mask = HeadMask()(img)
    assert mask.shape == (1, 40, 40) and mask.dtype == torch.bool
    x, y = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    disc = (x - 20) ** 2 + (y - 20) ** 2 < (40 / 3) ** 2
    assert torch.equal(mask[0], disc)  # speckle removed (largest component), hole filled
    assert mask.meta["filename_or_obj"] == "/data/slice.png"
    assert not head_mask(torch.ones(1, 4, 4)).any()  # constant: empty
    fixed = head_mask(img, threshold=0.2)
    assert torch.equal(torch.as_tensor(fixed[0]), disc)


def test_head_mask_3d_and_dict(head_volume):
    vol = head_volume("MR")
    out = HeadMaskd("mri")({"mri": vol})
    mask = out["mri_mask"]
    assert mask.shape == vol.shape and torch.equal(mask.affine, vol.affine)
    per_slice = mask[0].float().mean(dim=(0, 1))
    assert torch.all(per_slice[3:8] > 0.2) and torch.all(per_slice[:3] == 0) and torch.all(per_slice[8:] == 0)


def test_orientation_makes_last_axis_axial_and_passes_2d(head_volume):
    vol = head_volume("CT")
    flipped = MetaTensor(
        vol.as_tensor().flip(-1),
        affine=vol.affine
        @ torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 9], [0, 0, 0, 1]], dtype=torch.float64),
        meta={"filename_or_obj": "/data/flipped.nii"},
    )
    orienter = AxialOrientation()
    out = orienter(flipped)
    assert torch.allclose(out.affine, vol.affine) and torch.equal(out.as_tensor(), vol.as_tensor())
    assert torch.equal(orienter.inverse(out).as_tensor(), flipped.as_tensor())
    slice_2d = MetaTensor(torch.rand(1, 4, 5))
    assert orienter(slice_2d) is slice_2d


def test_random_slice_never_empty_and_meta(head_volume):
    vol = head_volume("CT", slices=range(6, 8))
    affine_before = vol.affine.clone()
    slicer = RandAxialSlice(min_foreground=0.05)
    slicer.set_random_state(seed=0)
    seen = set()
    for _ in range(60):
        out = slicer(vol)
        k = out.meta["slice_index"]
        seen.add(k)
        assert out.shape == (1, 24, 20)
        assert torch.equal(out.as_tensor(), vol[..., k].as_tensor())
        expected = affine_before.clone()
        expected[:3, 3] += affine_before[:3, 2] * k
        assert torch.allclose(out.affine, expected)
    assert seen == {6, 7}
    assert torch.equal(vol.affine, affine_before) and "slice_index" not in vol.meta


def test_random_slice_passes_2d_and_raises_on_empty(head_volume):
    img = MetaTensor(torch.rand(1, 6, 6))
    assert RandAxialSlice()(img) is img
    empty = CTWindow()(head_volume("CT", slices=range(0)))  # air only: -1 after windowing
    with pytest.raises(EmptyInputError, match=r"ct_head\.nii\.gz: no axial slice"):
        RandAxialSlice()(empty)


def test_random_slice_dict_uses_mask_and_cuts_it_at_same_index(head_volume):
    vol = head_volume("MR")
    mask = torch.zeros_like(vol, dtype=torch.bool)
    mask[..., 5] = True  # only slice 5 counts according to the mask
    out = RandAxialSliced("mri", mask_keys="m")({"mri": vol, "m": MetaTensor(mask)})
    assert out["mri"].meta["slice_index"] == 5 and out["m"].shape == (1, 24, 20) and bool(out["m"].all())


def test_two_keys_get_independent_slices(head_volume):
    t = RandAxialSliced(["a", "b"], min_foreground=0.05)
    t.set_random_state(seed=3)
    vol = head_volume("CT", slices=range(0, 10))
    pairs = [
        (o["a"].meta["slice_index"], o["b"].meta["slice_index"]) for o in (t({"a": vol, "b": vol}) for _ in range(20))
    ]
    assert any(a != b for a, b in pairs)
    t.set_random_state(seed=3)
    assert pairs == [
        (o["a"].meta["slice_index"], o["b"].meta["slice_index"]) for o in (t({"a": vol, "b": vol}) for _ in range(20))
    ]


def test_all_slices_deterministic(head_volume):
    vol = head_volume("MR", slices=range(2, 5))
    slices = AxialSlices()(vol)
    assert [s.meta["slice_index"] for s in slices] == [2, 3, 4]
    pair = AxialSlicesd(["ct", "mri"])({"ct": vol, "mri": vol * 2, "id": 7})
    assert len(pair) == 3 and all(p["id"] == 7 for p in pair)
    assert torch.equal(pair[1]["mri"].as_tensor(), 2 * pair[1]["ct"].as_tensor())
    with pytest.raises(DimensionError, match="depth"):
        AxialSlicesd(["ct", "mri"])({"ct": vol, "mri": vol[..., :5]})
    flat = vol[..., 0]
    (only,) = AxialSlicesd("ct")({"ct": flat})
    assert only["ct"] is flat


def test_resize_pad_keeps_aspect_and_pads_with_background():
    img = MetaTensor(torch.ones(1, 32, 16), affine=torch.diag(torch.tensor([0.5, 0.5, 1.0, 1.0])))
    t = ResizeLongestPad(16, background=-1.0)
    out = t(img)
    assert out.shape == (1, 16, 16)
    content = out[0] > -0.5
    rows, cols = torch.nonzero(content, as_tuple=True)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (16, 8)  # 2:1 stays 2:1
    assert torch.all(out[0, :, :4] == -1.0) and torch.all(out[0, :, 12:] == -1.0)  # symmetric pad of 4 + 4
    assert torch.allclose(out[0, 1:-1, 5:11], torch.ones(14, 6))  # inside; the edges are anti-aliased into -1
    assert torch.allclose(out.affine[0, 0], torch.tensor(1.0, dtype=torch.float64))  # spacing doubled
    assert torch.allclose(out.affine[1, 1], torch.tensor(1.0, dtype=torch.float64))
    back = t.inverse(out)
    assert back.shape == (1, 32, 16) and torch.allclose(back.affine, img.affine)


def test_resize_background_stays_exact_at_border():
    img = MetaTensor(-torch.ones(1, 64, 40))
    out = ResizeLongestPadd("x", spatial_size=16)({"x": img})["x"]
    assert torch.all(out == -1.0)


def test_augment_crop_flip_and_range():
    img = MetaTensor(torch.linspace(-1, 1, 20 * 20).reshape(1, 20, 20))
    aug = RandCycleGANAugment(roi_size=16, flip_prob=1.0, affine_prob=1.0)
    aug.set_random_state(seed=0)
    out = aug(img)
    assert out.shape == (1, 16, 16) and out.min() >= -1.0 and out.max() <= 1.0
    plain = RandCycleGANAugment(roi_size=16, flip_prob=1.0)
    plain.set_random_state(seed=1)
    out = plain(img)
    x0, y0 = plain.start
    assert torch.equal(out.as_tensor(), img[:, x0 : x0 + 16, y0 : y0 + 16].flip(1).as_tensor())


def test_affine_fills_with_background():
    img = MetaTensor(torch.full((1, 16, 16), -1.0))
    img[0, 4:12, 4:12] = 1.0
    aug = RandCycleGANAugment(roi_size=16, flip_prob=0.0, affine_prob=1.0, rotate_degrees=5, scale_fraction=0.05)
    aug.set_random_state(seed=2)
    out = aug(img)
    assert torch.allclose(out[0, 0], torch.full((16,), -1.0)) and out[0, 8, 8] == pytest.approx(1.0)


def test_two_keys_get_independent_crops():
    img = MetaTensor(torch.arange(30.0 * 30).reshape(1, 30, 30))
    ours = RandCycleGANAugmentd(["ct", "mri"], roi_size=16, flip_prob=0.0)
    ours.set_random_state(seed=0)
    starts = []
    for _ in range(10):
        out = ours({"ct": img, "mri": img})
        starts.append((out["ct"][0, 0, 0].item(), out["mri"][0, 0, 0].item()))
    assert any(a != b for a, b in starts)
    monai_shared = RandSpatialCropd(["ct", "mri"], roi_size=16)  # the trap this class avoids
    monai_shared.set_random_state(seed=0)
    out = monai_shared({"ct": img, "mri": img})
    assert torch.equal(out["ct"], out["mri"])
