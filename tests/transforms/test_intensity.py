"""CT windowing, MRI normalisation, [-1, 1] scaling and their inverses: values, metadata, errors, properties."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor

from medtranslate.errors import InputError, MedTranslateError, NonFiniteError
from medtranslate.transforms import (
    CT_WINDOW_PRESETS,
    CTWindow,
    CTWindowd,
    MRINormalize,
    MRINormalized,
    ScaleToSymmetric,
    ScaleToSymmetricd,
    intensity_transform,
    resolve_window,
    to_display_range,
    window_to_hu,
)


def _ct(values, unit: str | None = "HU") -> MetaTensor:
    meta = {"filename_or_obj": "/data/ct.dcm"}
    if unit is not None:
        meta["intensity_unit"] = unit
    return MetaTensor(torch.as_tensor(values, dtype=torch.float32).reshape(1, 1, -1), meta=meta)


def test_presets_and_custom_window():
    assert CT_WINDOW_PRESETS["brain"] == (40.0, 80.0)
    assert CT_WINDOW_PRESETS["subdural"] == (75.0, 215.0)
    assert CT_WINDOW_PRESETS["stroke"] == (40.0, 40.0)
    assert CT_WINDOW_PRESETS["bone"] == (600.0, 2800.0)
    assert resolve_window("Head") == (40.0, 400.0)
    assert resolve_window((50, 100)) == (50.0, 100.0)
    for bad in ("lung-ish", (40,), (40, 0), (40, float("nan"))):
        with pytest.raises(InputError):
            resolve_window(bad)


def test_brain_window_exact_values_and_clipping():
    out = CTWindow("brain")(_ct([-1000, -5, 0, 20, 40, 60, 80, 81, 3000]))
    expected = [-1, -1, -1, -0.5, 0, 0.5, 1, 1, 1]
    np.testing.assert_allclose(out.numpy().ravel(), expected, atol=1e-7)
    assert out.dtype == torch.float32
    assert out.meta["intensity_low"] == 0.0 and out.meta["intensity_high"] == 80.0
    assert out.meta["intensity_method"] == "ct_window"
    assert out.meta["filename_or_obj"] == "/data/ct.dcm"


def test_window_inverse_round_trip_inside_window():
    hu = torch.arange(-160, 241, dtype=torch.float32)  # the whole head window, every HU
    windower = CTWindow("head")
    out = windower(_ct(hu))
    back = windower.inverse(out)
    np.testing.assert_allclose(back.numpy().ravel(), hu.numpy(), atol=1e-4)
    assert np.array_equal(np.round(back.numpy().ravel()), hu.numpy())
    assert "intensity_low" not in back.meta and len(back.applied_operations) == 0
    clipped = windower.inverse(windower(_ct([-1000, 1000])))
    np.testing.assert_allclose(clipped.numpy().ravel(), [-160, 240], atol=1e-4)


def test_window_dict_inverse_and_input_untouched():
    img = _ct([0, 40, 80])
    before = img.clone()
    t = CTWindowd("ct", window=(40, 80))
    out = t({"ct": img})
    assert torch.equal(img, before) and "intensity_low" not in img.meta
    np.testing.assert_allclose(t.inverse(out)["ct"].numpy().ravel(), [0, 40, 80], atol=1e-5)


@pytest.mark.parametrize(("unit", "top"), [("uint8", 255.0), ("uint16", 65535.0)])
def test_image_ct_is_mapped_linearly(unit, top):
    windower = CTWindow("brain")
    out = windower(_ct([0, top / 2, top], unit=unit))
    np.testing.assert_allclose(out.numpy().ravel(), [-1, 0, 1], atol=1e-6)
    assert out.meta["intensity_method"] == f"linear_{unit}"
    np.testing.assert_allclose(windower.inverse(out).numpy().ravel(), [0, top / 2, top], rtol=1e-6)


def test_window_to_hu_for_synthetic_ct():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(window_to_hu(x, "brain").numpy(), [0, 0, 40, 60, 80])
    np.testing.assert_allclose(window_to_hu(x.numpy(), (0, 2000)), [-1000, -1000, 0, 500, 1000])
    hu = torch.arange(-160.0, 241.0)
    assert torch.equal(window_to_hu(CTWindow()(hu), "head").round(), hu)


def test_plain_array_is_treated_as_hu():
    out = CTWindow("brain")(np.array([[[0.0, 40.0, 80.0]]], dtype=np.float32))
    np.testing.assert_allclose(np.asarray(out).ravel(), [-1, 0, 1])


def test_window_rejects_nan_with_file_name():
    with pytest.raises(NonFiniteError, match=r"/data/ct.dcm: .*1 NaN"):
        CTWindow()(_ct([0.0, float("nan"), 1.0]))


def _mri_with_outlier() -> tuple[MetaTensor, torch.Tensor]:
    """A 40x40 'head' with intensities 100..299 in a disc, background 0, one extreme outlier pixel."""
    x, y = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    mask = ((x - 20) ** 2 + (y - 20) ** 2 < 15**2)[None]
    img = torch.zeros(1, 40, 40)
    img[mask] = 100 + torch.arange(int(mask.sum()), dtype=torch.float32) % 200
    return MetaTensor(img, meta={"filename_or_obj": "/data/t1.nii"}), mask


def test_percentile_normalisation_ignores_outlier():
    img, mask = _mri_with_outlier()
    values = img[mask].numpy()
    low, high = np.percentile(values, [0.5, 99.5])
    out = MRINormalize()(img, mask)
    assert out.meta["intensity_low"] == pytest.approx(low) and out.meta["intensity_high"] == pytest.approx(high)
    spiky = img.clone()
    spiky[0, 20, 20] = 1e6  # one outlier inside the head
    out_spiky = MRINormalize()(spiky, mask)
    assert out_spiky.meta["intensity_high"] == pytest.approx(high, rel=0.02)
    assert float(out_spiky[0, 20, 20]) == 1.0  # saturated, not stretching the scale
    i, j = 20, 25  # an ordinary pixel maps to the same value with or without the outlier
    assert float(out_spiky[0, i, j]) == pytest.approx(float(out[0, i, j]), abs=0.03)
    assert float(out[0, 0, 0]) == -1.0  # background below the lower percentile
    assert float(out.min()) == -1.0 and float(out.max()) == 1.0


def test_percentile_values_exact():
    img = MetaTensor(torch.arange(101, dtype=torch.float32).reshape(1, 101, 1))
    normalizer = MRINormalize(lower=10, upper=90)
    out = normalizer(img, torch.ones(1, 101, 1, dtype=torch.bool))
    np.testing.assert_allclose(out.numpy().ravel()[[0, 10, 50, 90, 100]], [-1, -1, 0, 1, 1], atol=1e-6)
    back = normalizer.inverse(out)
    np.testing.assert_allclose(back.numpy().ravel()[10:91], np.arange(10, 91), atol=1e-4)


def test_zscore_mode():
    img, mask = _mri_with_outlier()
    values = img[mask].double()
    mean, std = float(values.mean()), float(values.std(unbiased=False))
    out = MRINormalize(mode="zscore", zscore_range=2.0)(img, mask)
    assert out.meta["intensity_method"] == "mri_zscore"
    assert out.meta["intensity_low"] == pytest.approx(mean - 2 * std)
    assert out.meta["intensity_high"] == pytest.approx(mean + 2 * std)
    pixel = float(img[0, 20, 22])
    assert float(out[0, 20, 22]) == pytest.approx((pixel - mean) / (2 * std), abs=1e-5)


def test_default_mask_is_otsu_head_mask(disc_image):
    img = disc_image(value=300.0, background=0.0)
    out = MRINormalize()(img)
    assert 290 < out.meta["intensity_low"] < 306  # statistics from the disc, not the background
    assert float(out[0, 0, 0]) == -1.0


def test_constant_image_maps_to_minus_one_with_warning():
    img = MetaTensor(torch.full((1, 8, 8), 7.0), meta={"filename_or_obj": "/data/flat.nii"})
    normalizer = MRINormalize()
    with pytest.warns(UserWarning, match="flat.nii.*constant"):
        out = normalizer(img, torch.ones(1, 8, 8))
    assert torch.all(out == -1.0)
    assert torch.all(normalizer.inverse(out) == 7.0)


def test_empty_mask_falls_back_to_whole_image():
    img = MetaTensor(torch.arange(16.0).reshape(1, 4, 4))
    with pytest.warns(UserWarning, match="empty foreground mask"):
        out = MRINormalize(lower=0, upper=100)(img, torch.zeros(1, 4, 4))
    assert out.meta["intensity_low"] == 0.0 and out.meta["intensity_high"] == 15.0


def test_mri_dict_with_mask_key_and_inverse():
    img, mask = _mri_with_outlier()
    t = MRINormalized("mri", mask_keys="mri_mask")
    out = t({"mri": img, "mri_mask": mask})
    assert torch.equal(out["mri_mask"], mask)
    low, high = out["mri"].meta["intensity_low"], out["mri"].meta["intensity_high"]
    inside = mask & (img >= low) & (img <= high)  # exact inside the range; the clipped tails come back at its ends
    back = t.inverse(out)["mri"]
    np.testing.assert_allclose(back[inside].numpy(), img[inside].numpy(), atol=1e-3)
    assert float(back[mask].min()) == pytest.approx(low) and float(back[mask].max()) == pytest.approx(high)


def test_invalid_mri_arguments():
    with pytest.raises(InputError, match="unknown MRI normalisation"):
        MRINormalize(mode="minmax")
    with pytest.raises(ValueError):
        MRINormalize(lower=60, upper=40)


def test_scale_to_symmetric_and_display_range():
    t = ScaleToSymmetric(0, 255)
    out = t(MetaTensor(torch.tensor([[[0.0, 127.5, 255.0]]])))
    np.testing.assert_allclose(out.numpy().ravel(), [-1, 0, 1])
    assert out.meta["intensity_method"] == "linear"
    np.testing.assert_allclose(t.inverse(out).numpy().ravel(), [0, 127.5, 255])
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0])
    np.testing.assert_allclose(to_display_range(x, "0-1").numpy(), [0, 0, 0.5, 1])
    np.testing.assert_allclose(to_display_range(x, "0-255").numpy(), [0, 0, 127.5, 255])
    np.testing.assert_allclose(to_display_range(x.numpy(), "0-4095"), [0, 0, 2047.5, 4095])
    with pytest.raises(InputError, match="display scale"):
        to_display_range(x, "0-100")
    d = ScaleToSymmetricd("a")({"a": torch.tensor([0.0, 1.0])})
    np.testing.assert_allclose(d["a"].numpy(), [-1, 1])


def test_intensity_transform_by_modality():
    assert isinstance(intensity_transform("CT", "ct"), CTWindowd)
    assert isinstance(intensity_transform("mr", "mri"), MRINormalized)
    assert isinstance(intensity_transform("MRI", "mri"), MRINormalized)
    with pytest.raises(InputError, match="unknown modality 'PET'"):
        intensity_transform("PET", "x")


_shapes = st.sampled_from([(1, 5, 4), (1, 3, 3, 2), (2, 4, 4)])
_dtypes = st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.uint16])


def _arrays(dtype_strategy=_dtypes):
    return st.tuples(_shapes, dtype_strategy).flatmap(
        lambda sd: hnp.arrays(
            sd[1],
            sd[0],
            elements=hnp.from_dtype(
                np.dtype(sd[1]),
                allow_nan=False,
                allow_infinity=False,
                min_value=-1e6 if np.dtype(sd[1]).kind == "f" else None,
                max_value=1e6 if np.dtype(sd[1]).kind == "f" else None,
            ),
        )
    )


def _check(out, source: np.ndarray) -> None:
    values = np.asarray(out)
    assert values.shape == source.shape and values.dtype == np.float32
    assert np.all(np.isfinite(values)) and values.min() >= -1.0 and values.max() <= 1.0
    assert out.meta["filename_or_obj"] == "/data/p.nii" and out.meta["modality"] == "X"
    assert out.meta["intensity_low"] <= out.meta["intensity_high"]


@settings(max_examples=40, deadline=None)
@given(arr=_arrays(), unit=st.sampled_from(["HU", "uint8", "uint16", "raw", None]))
def test_property_ct_window(arr, unit):
    meta = {"filename_or_obj": "/data/p.nii", "modality": "X"}
    if unit:
        meta["intensity_unit"] = unit
    _check(CTWindow("stroke")(MetaTensor(torch.as_tensor(arr.astype(np.float64)), meta=meta)), arr)


@settings(max_examples=40, deadline=None)
@given(arr=_arrays(), mode=st.sampled_from(["percentile", "zscore"]))
def test_property_mri_normalize(arr, mode):
    img = MetaTensor(torch.as_tensor(arr.astype(np.float64)), meta={"filename_or_obj": "/data/p.nii", "modality": "X"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant / empty-mask cases warn by design
        try:
            out = MRINormalize(mode=mode)(img)
        except MedTranslateError:
            return
    _check(out, arr)


@settings(max_examples=30, deadline=None)
@given(arr=_arrays(st.just(np.float32)), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_property_non_finite_is_a_clear_error(arr, bad):
    arr = arr.copy()
    arr.flat[0] = bad
    img = MetaTensor(torch.as_tensor(arr), meta={"filename_or_obj": "/data/p.nii"})
    for transform in (CTWindow(), MRINormalize(), ScaleToSymmetric()):
        with pytest.raises(NonFiniteError, match=r"/data/p\.nii"):
            transform(img)
