"""LoadMedicalImage(d) input validation: empty inputs, unknown formats, unwrapped errors, dictionary wrapper."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medtranslate.errors import DimensionError, EmptyInputError, InputError, MedTranslateError, UnsupportedFormatError
from medtranslate.io import LoadMedicalImage, LoadMedicalImaged, load_image


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(EmptyInputError, match=r"empty\.nii\.gz: the file is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.nii.gz")


def test_empty_folder_and_folder_without_dicom(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(EmptyInputError, match="holds no"):
        load_image(tmp_path / "none")
    (tmp_path / "pngs").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "pngs" / "a.png")
    with pytest.raises(EmptyInputError, match="no DICOM series"):
        load_image(tmp_path / "pngs")


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("name", ["random.bin", "random.png", "notes.txt"])
def test_unknown_content_refused_by_bytes(tmp_path, name):
    data = b"just some text\n" if name.endswith(".txt") else np.random.default_rng(1).bytes(512)
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UnsupportedFormatError, match="unknown format by content") as err:
        load_image(tmp_path / name)
    assert err.value.path == str(tmp_path / name)


def test_errors_reach_caller_unwrapped(tmp_path):
    # MONAI's LoadImage wraps reader errors in RuntimeError when it tries readers in turn; ours come through
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4)), tmp_path / "t.nii")
    with pytest.raises(MedTranslateError) as err:
        LoadMedicalImage(spatial_ndim=3)(tmp_path / "t.nii")
    assert type(err.value) is DimensionError and not isinstance(err.value, RuntimeError)


def test_png_refused_as_volume(tmp_path):
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "s.png")
    with pytest.raises(DimensionError, match=r"2D image of shape \(6, 4\), a 3D image is needed"):
        load_image(tmp_path / "s.png", spatial_ndim=3)
    with pytest.raises(ValueError, match="spatial_ndim"):
        LoadMedicalImage(spatial_ndim=4)


def test_dictionary_wrapper_loads_each_key(tmp_path):
    Image.fromarray(np.full((4, 6), 7, np.uint8)).save(tmp_path / "ct.png")
    nib.save(nib.Nifti1Image(np.full((2, 3, 4), 5.5, np.float32), np.eye(4)), tmp_path / "mri.nii.gz")
    out = LoadMedicalImaged(keys=["ct", "mri", "absent"], allow_missing_keys=True)(
        {"ct": tmp_path / "ct.png", "mri": str(tmp_path / "mri.nii.gz"), "ct_path": "kept"}
    )
    assert out["ct"].shape == (1, 6, 4) and float(out["ct"].mean()) == 7
    assert out["mri"].shape == (1, 2, 3, 4) and float(out["mri"].mean()) == 5.5
    assert out["ct_path"] == "kept" and out["mri"].meta["filename_or_obj"] == str(tmp_path / "mri.nii.gz")


def test_channel_first_can_be_disabled(tmp_path):
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "c.png")
    assert load_image(tmp_path / "c.png", ensure_channel_first=False).shape == (6, 4, 3)
