"""MR data where CT is expected and the reverse.

Decision (``docs/reliability.md``): the DICOM Modality tag is trusted, so a tagged image given to the other
domain's pipeline is refused with an :class:`~medtranslate.errors.InputError` naming the file; untagged files
(NIfTI, PNG) only carry an intensity heuristic, so they warn and go on.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from medtranslate.errors import InputError, find_user_error
from medtranslate.io import load_image
from medtranslate.transforms import ct_transforms, mri_transforms


def _pipelines() -> tuple:
    common = {"image_size": 16, "augment": False, "random_slice": True}
    return ct_transforms("ct", **common), mri_transforms("mri", **common)


def test_mr_tagged_dicom_refused_by_the_ct_pipeline(tmp_path: Path, build: SimpleNamespace) -> None:
    series = build.dicom_series(tmp_path / "mr", [0.0, 1.0, 2.0], modality="MR")
    ct_pipeline, mri_pipeline = _pipelines()
    image = load_image(series)
    with pytest.raises(Exception) as err:  # MONAI's Compose wraps it; the CLI unwraps with find_user_error
        ct_pipeline({"ct": image})
    user_error = find_user_error(err.value)
    assert isinstance(user_error, InputError)
    assert str(user_error).startswith(f"{series}")
    assert "Modality tag says MR" in str(user_error) and "pass it as the MRI input" in str(user_error)
    out = mri_pipeline({"mri": load_image(series)})["mri"]  # the right pipeline takes it
    assert out.shape == (1, 16, 16) and -1.0 <= float(out.min()) <= float(out.max()) <= 1.0


def test_ct_tagged_dicom_refused_by_the_mri_pipeline(tmp_path: Path, build: SimpleNamespace) -> None:
    series = build.dicom_series(tmp_path / "ct", [0.0, 1.0, 2.0], modality="CT")
    ct_pipeline, mri_pipeline = _pipelines()
    with pytest.raises(Exception) as err:
        mri_pipeline({"mri": load_image(series)})
    user_error = find_user_error(err.value)
    assert isinstance(user_error, InputError) and "Modality tag says CT" in str(user_error)
    assert "pass it as the CT (domain A) input" in str(user_error)
    assert ct_pipeline({"ct": load_image(series)})["ct"].shape == (1, 16, 16)


def test_untagged_mri_in_the_ct_pipeline_warns(tmp_path: Path, build: SimpleNamespace) -> None:
    mri_like = np.where(build.ct_volume() > 0, 400.0, 5.0).astype(np.float32)  # bright head, dark background
    path = build.nifti(tmp_path / "maybe_mri.nii.gz", mri_like)
    ct_pipeline, _ = _pipelines()
    with pytest.warns(UserWarning, match=r"maybe_mri\.nii\.gz: given to the CT windowing as CT, but no value is below"):
        ct_pipeline({"ct": load_image(path)})


def test_untagged_ct_in_the_mri_pipeline_warns(tmp_path: Path, build: SimpleNamespace) -> None:
    path = build.nifti(tmp_path / "maybe_ct.nii.gz", build.ct_volume())
    _, mri_pipeline = _pipelines()
    with pytest.warns(UserWarning, match=r"maybe_ct\.nii\.gz: given to the MRI normalisation as MRI, but it holds air"):
        mri_pipeline({"mri": load_image(path)})
