"""Property tests of the whole per-domain pipelines and the transforms not covered in ``tests/transforms``.

``tests/transforms/test_intensity.py`` checks ``CTWindow`` and ``MRINormalize`` alone (any finite array → finite,
in [-1, 1], metadata kept; NaN/Inf → ``NonFiniteError``). Here: ``ScaleToSymmetric``, ``EnsureGrayscale`` and
``ct_transforms``/``mri_transforms`` end to end on arbitrary finite images of every supported shape and dtype:
the result is float32 ``(1, S, S)`` in [-1, 1] with the source file still named in the metadata, or one
:class:`~medtranslate.errors.MedTranslateError` (e.g. a volume without any non-empty slice).
"""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor

from medtranslate.errors import MedTranslateError, find_user_error
from medtranslate.transforms import EnsureGrayscale, ScaleToSymmetric, ct_transforms, mri_transforms

SIZE = 8
_SHAPES = st.sampled_from([(1, 9, 7), (3, 6, 10), (4, 5, 5), (2, 7, 7), (1, 6, 5, 4), (1, 3, 12, 2)])
_DTYPES = st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint8, np.uint16])
_UNITS = st.sampled_from(["HU", "uint8", "uint16", "raw", None])


def _images() -> st.SearchStrategy[np.ndarray]:
    def array(shape: tuple[int, ...], dtype: type) -> st.SearchStrategy[np.ndarray]:
        floating = np.dtype(dtype).kind == "f"
        elements = hnp.from_dtype(
            np.dtype(dtype),
            allow_nan=False,
            allow_infinity=False,
            min_value=-1e5 if floating else None,
            max_value=1e5 if floating else None,
        )
        return hnp.arrays(dtype, shape, elements=elements)

    return st.tuples(_SHAPES, _DTYPES).flatmap(lambda sd: array(*sd))


def _meta_tensor(arr: np.ndarray, unit: str | None) -> MetaTensor:
    meta = {"filename_or_obj": "/data/any.nii"}
    if unit is not None:
        meta["intensity_unit"] = unit
    affine = torch.eye(4)
    return MetaTensor(torch.as_tensor(arr.astype(np.float64)), affine=affine, meta=meta)


def _check_sample(out: torch.Tensor) -> None:
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32 and tuple(out.shape) == (1, SIZE, SIZE)
    assert bool(torch.isfinite(out).all()) and float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert out.meta["filename_or_obj"] == "/data/any.nii"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arr=_images(), unit=_UNITS, domain=st.sampled_from(["ct", "mri"]), augment=st.booleans())
def test_property_pipeline_output_or_clear_error(arr: np.ndarray, unit: str | None, domain: str, augment: bool) -> None:
    build = ct_transforms if domain == "ct" else mri_transforms
    pipeline = build(domain, image_size=SIZE, load_size=SIZE + 2, augment=augment, random_slice=True)
    pipeline.set_random_state(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant images, modality heuristics warn by design
        try:
            out = pipeline({domain: _meta_tensor(arr, unit)})[domain]
        except Exception as e:  # MONAI's Compose wraps errors: a user error must be behind it
            user_error = find_user_error(e)
            if user_error is None:
                raise
            assert isinstance(user_error, MedTranslateError) and "/data/any.nii" in str(user_error), user_error
            return
    _check_sample(out)


@settings(max_examples=40, deadline=None)
@given(arr=_images(), bounds=st.tuples(st.floats(-1e4, 1e4), st.floats(1e-3, 1e4)), clip=st.booleans())
def test_property_scale_to_symmetric(arr: np.ndarray, bounds: tuple[float, float], clip: bool) -> None:
    low, span = bounds
    out = ScaleToSymmetric(low, low + span, clip=clip)(_meta_tensor(arr, "raw"))
    assert out.dtype == torch.float32 and out.shape == arr.shape and bool(torch.isfinite(out).all())
    if clip:
        assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert out.meta["filename_or_obj"] == "/data/any.nii" and out.meta["intensity_method"] == "linear"


@settings(max_examples=40, deadline=None)
@given(arr=_images())
def test_property_ensure_grayscale(arr: np.ndarray) -> None:
    img = _meta_tensor(arr, "uint8")
    try:
        out = EnsureGrayscale()(img)
    except MedTranslateError as e:  # volumes with channels, 2 channels only in 2D...
        assert "/data/any.nii" in str(e)
        assert arr.ndim == 4 and arr.shape[0] != 1
        return
    assert out.shape == (1, *arr.shape[1:]) and bool(torch.isfinite(out).all())
    assert out.meta["filename_or_obj"] == "/data/any.nii"
    low, high = float(arr.min()), float(arr.max())
    assert low - 1e-3 * abs(low) - 1e-3 <= float(out.min()) and float(out.max()) <= high + 1e-3 * abs(high) + 1e-3


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("domain", ["ct", "mri"])
def test_pipeline_non_finite_names_the_file(bad: float, domain: str) -> None:
    arr = np.zeros((1, 6, 6, 3), np.float32)
    arr[0, 2, 2, 1] = bad
    build = ct_transforms if domain == "ct" else mri_transforms
    with pytest.raises(Exception) as err:
        build(domain, image_size=SIZE, augment=False, random_slice=True)({domain: _meta_tensor(arr, None)})
    user_error = find_user_error(err.value)
    assert user_error is not None and str(user_error).startswith("/data/any.nii: the image holds")
