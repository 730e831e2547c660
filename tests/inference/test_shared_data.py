"""Real scans (``MEDTRANSLATE_SHARED_DATA``): a NIfTI template and a DICOM series keep their geometry."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch

from medtranslate.inference import translate_path
from medtranslate.io import load_image

pytestmark = pytest.mark.shared_data


def _sitk_series(folder: Path) -> sitk.Image:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    assert len(ids) == 1
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), ids[0]))
    return reader.Execute()


def test_ct_template_nifti(shared_data: Path, tmp_path: Path, tiny_net: torch.nn.Module, assert_unchanged) -> None:
    source = shared_data / "volumes" / "scct_ct_template_2mm.nii"
    with assert_unchanged(source):
        (out,) = translate_path(source, tmp_path, tiny_net, image_size=32, batch_size=32)
    src, res = nib.load(source), nib.load(out)
    assert res.shape == src.shape == (91, 109, 91)
    np.testing.assert_allclose(res.affine, src.affine, atol=1e-5)
    np.testing.assert_allclose(res.header.get_zooms(), src.header.get_zooms(), atol=1e-6)
    data = res.get_fdata(dtype=np.float32)
    assert np.isfinite(data).all() and data.min() >= 0.0 and data.max() <= 1.0


def test_porcine_dicom_series(shared_data: Path, tmp_path: Path, tiny_net: torch.nn.Module, assert_unchanged) -> None:
    source = shared_data / "dicom" / "porcine_head_ct"
    with assert_unchanged(source):
        nifti, series = translate_path(source, tmp_path, tiny_net, image_size=32, export="nifti,dicom")
    loaded = load_image(source)
    result = nib.load(nifti)
    assert result.shape == tuple(loaded.shape[1:])
    np.testing.assert_allclose(result.affine, loaded.affine.numpy(), atol=1e-4)
    src_img, out_img = _sitk_series(source), _sitk_series(series)
    assert out_img.GetSize() == src_img.GetSize()
    np.testing.assert_allclose(out_img.GetOrigin(), src_img.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(out_img.GetSpacing(), src_img.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(out_img.GetDirection(), src_img.GetDirection(), atol=1e-5)
    header = pydicom.dcmread(next(series.iterdir()))
    original = pydicom.dcmread(next(p for p in source.iterdir() if p.is_file()), stop_before_pixels=True)
    assert header.Modality == "MR" and "SYNTHETIC" in header.SeriesDescription
    assert header.SeriesInstanceUID != original.SeriesInstanceUID and header.PatientID == "ANONYMOUS"
