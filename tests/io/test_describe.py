"""describe_image: JSON-serialisable summary by content, orientation codes, modality guess, series listing."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from medtranslate.io import describe_image, guess_modality


def test_describe_nifti_hu_volume(tmp_path, assert_unchanged):
    data = np.full((4, 5, 6), -1000, np.int16)
    data[1:3, 1:4, 1:5] = 40
    nib.save(nib.Nifti1Image(data, np.diag([-2.0, 2.0, 3.0, 1.0])), tmp_path / "ct.nii.gz")
    with assert_unchanged(tmp_path):
        info = describe_image(tmp_path / "ct.nii.gz")
    json.dumps(info)
    assert info["format"] == "nifti" and info["modality"] is None and info["modality_guess"] == "CT"
    assert info["shape"] == [4, 5, 6] and info["channels"] == 1 and info["spacing"] == [2.0, 2.0, 3.0]
    assert info["orientation"] == "LAS" and info["dtype"] == "int16"
    assert (info["min"], info["max"]) == (-1000.0, 40.0)
    assert info["file_size"] == (tmp_path / "ct.nii.gz").stat().st_size


def test_describe_png_under_jpg_name(tmp_path):
    Image.fromarray(np.zeros((3, 5, 4), np.uint8), "RGBA").save(tmp_path / "mri9.jpg", format="PNG")
    info = describe_image(tmp_path / "mri9.jpg")
    json.dumps(info)
    assert info["format"] == "png" and info["pil_mode"] == "RGBA" and info["channels"] == 3
    assert info["shape"] == [5, 3] and info["intensity_unit"] == "uint8" and info["modality_guess"] is None


def test_guess_modality():
    assert guess_modality(torch.tensor([-1000.0, -1000.0, 40.0, 1200.0]), "raw") == "CT"
    assert guess_modality(torch.tensor([0.0, 300.0, 2500.0]), "raw") is None
    assert guess_modality(torch.tensor([0.0, 255.0]), "uint8") is None
    assert guess_modality(torch.tensor([5.0]), "HU") == "CT"


def test_describe_lists_series_without_loading(tmp_path):
    pytest.importorskip("pydicom")
    from pydicom.uid import generate_uid

    from medtranslate.io.dicom import DicomSeriesReader

    folder = tmp_path / "two"
    folder.mkdir()
    _two_series(folder, generate_uid)
    info = describe_image(folder)
    json.dumps(info)
    assert info["format"] == "dicom" and "shape" not in info
    assert [(s["description"], s["n_slices"]) for s in info["series"]] == [("big", 2), ("one", 1)]
    chosen = describe_image(folder, series_uid=info["series"][1]["series_uid"])
    assert chosen["n_slices"] == 1 and chosen["series_description"] == "one" and chosen["shape"] == [3, 2]
    assert chosen["modality_guess"] == "CT" and chosen["intensity_unit"] == "HU"
    assert len(DicomSeriesReader().scan_folder(folder)) == 2


def _two_series(folder, generate_uid) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    for name, uid, desc, z in [("a", "1.2.1", "big", 0.0), ("b", "1.2.1", "big", 1.0), ("c", "1.2.2", "one", 0.0)]:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = "CT", uid, desc
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, z], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.RescaleSlope, ds.RescaleIntercept = [1, 1], 1, -1024
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 2, 3, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.array([[0, 24, 1064], [0, 0, 1100]], "<u2").tobytes()
        ds.save_as(folder / name, enforce_file_format=True)
