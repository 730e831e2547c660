"""Every kind of real file under MEDTRANSLATE_SHARED_DATA reads with the right values; inputs stay unchanged."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pydicom
import pytest

from medtranslate.io import describe_image, load_image, sniff_format

pytestmark = pytest.mark.shared_data


def test_porcine_ct_series_in_hu(shared_data, assert_unchanged):
    folder = shared_data / "dicom" / "porcine_head_ct"
    with assert_unchanged(folder):
        img = load_image(folder, spatial_ndim=3)
    assert img.shape == (1, 512, 512, 16) and img.meta["intensity_unit"] == "HU" and img.meta["modality"] == "CT"
    # RescaleIntercept -1024 applied: stored 0 becomes -1024, air sits near -1000, tissue and bone above
    first = pydicom.dcmread(folder / "00000332.dcm")  # the lowest slice (z = -19.75)
    assert float(first.RescaleIntercept) == -1024
    np.testing.assert_array_equal(img[0, ..., 0].numpy(), first.pixel_array.T.astype(np.float32) - 1024)
    values = img.numpy()
    air = ((values > -1100) & (values < -900)).mean()
    soft_tissue = ((values > -100) & (values < 100)).mean()
    assert air > 0.2 and soft_tissue > 0.01 and values.max() > 500
    np.testing.assert_allclose(img.meta["spacing"], [0.390625, 0.390625, 2.5], atol=1e-6)
    np.testing.assert_allclose(img.affine[:3, 3].numpy(), [100.0, 100.0, -19.75])


def test_porcine_ct_order_survives_shuffled_names(shared_data, tmp_path):
    files = sorted((shared_data / "dicom" / "porcine_head_ct").iterdir())
    names = [f"img{i:02d}" for i in range(len(files))]
    random.Random(3).shuffle(names)
    for src, name in zip(files, names, strict=True):
        shutil.copyfile(src, tmp_path / name)
    img = load_image(tmp_path)  # regular 2.5 mm steps: no spacing warning (pytest runs with warnings shown)
    by_z = {float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]): f for f in files}
    z = sorted(by_z)
    positions = [float(img.affine[2, 3] + k * img.affine[2, 2]) for k in range(img.shape[-1])]
    np.testing.assert_allclose(positions, z, atol=1e-4)
    for k in (0, 7, 15):
        expected = pydicom.dcmread(by_z[z[k]]).pixel_array.T.astype(np.float32) - 1024
        np.testing.assert_array_equal(img[0, ..., k].numpy(), expected)


def test_porcine_mr_series(shared_data, assert_unchanged):
    folder = shared_data / "dicom" / "porcine_head_mr_t2"
    with assert_unchanged(folder):
        img = load_image(folder)
    assert img.shape == (1, 512, 512, 16) and img.meta["modality"] == "MR" and img.meta["intensity_unit"] == "raw"
    assert float(img.min()) >= 0 and float(img.max()) > 1000
    np.testing.assert_allclose(img.meta["spacing"], [0.5, 0.5, 2.5], atol=1e-4)


def test_routine_brain_16px_with_gap(shared_data):
    with pytest.warns(UserWarning, match="missing slice"):
        img = load_image(shared_data / "dicom" / "pydicom_routine_brain_ct_16px")
    assert img.shape == (1, 16, 16, 4) and img.meta["series_description"] == "Routine Brain"
    assert -1100 < float(img.min()) < -900 and img.meta["intensity_unit"] == "HU"


@pytest.mark.parametrize("name,modality,unit", [("CT_small.dcm", "CT", "HU"), ("MR_small.dcm", "MR", "raw")])
def test_single_dicom_files(shared_data, assert_unchanged, name, modality, unit):
    path = shared_data / "dicom" / name
    with assert_unchanged(path):
        img = load_image(path, spatial_ndim=2)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.T.astype(np.float32) * float(ds.get("RescaleSlope", 1)) + float(
        ds.get("RescaleIntercept", 0)
    )
    np.testing.assert_array_equal(img[0].numpy(), expected)
    assert img.meta["modality"] == modality and img.meta["intensity_unit"] == unit


def test_volumes(shared_data, assert_unchanged):
    import nibabel as nib

    for name, shape in [("mni152_t1_1mm.nii.gz", (197, 233, 189)), ("scct_ct_template_2mm.nii", (91, 109, 91))]:
        path = shared_data / "volumes" / name
        with assert_unchanged(path):
            img = load_image(path, spatial_ndim=3)
        ref = nib.load(path)
        assert img.shape == (1, *shape)
        np.testing.assert_array_equal(img.affine.numpy(), ref.affine)
        middle = shape[2] // 2
        np.testing.assert_allclose(img[0, ..., middle].numpy(), np.asarray(ref.dataobj[..., middle], dtype=np.float32))


def test_kaggle_slices_and_mislabelled_jpg(shared_data, assert_unchanged):
    from PIL import Image

    ct = shared_data / "kaggle_ct2mri" / "trainA" / "ct1.png"
    img = load_image(ct)
    assert img.shape == (1, 512, 512) and img.meta["source_format"] == "png"
    np.testing.assert_array_equal(img[0].numpy(), np.asarray(Image.open(ct)).T)
    train_b = shared_data / "kaggle_ct2mri" / "trainB"
    seen: dict[tuple[str, str], str] = {}
    for path in sorted(train_b.glob("*.jpg")):
        key = (sniff_format(path), Image.open(path).mode)
        seen.setdefault(key, path.name)
    assert ("png", "RGBA") in seen and ("png", "RGB") in seen and ("jpeg", "L") in seen
    with assert_unchanged(train_b):
        for (fmt, mode), name in seen.items():
            img = load_image(train_b / name, spatial_ndim=2)
            assert img.meta["source_format"] == fmt and img.meta["pil_mode"] == mode
            assert img.shape[0] == (1 if mode == "L" else 3)
            assert float(img.min()) >= 0 and float(img.max()) <= 255 and float(img.max()) > 50


def test_paired_pngs(shared_data):
    for kind in ("CT", "T1-MRI", "T2-MRI"):
        path = next(iter(sorted((shared_data / "paired_ct_mr" / "Patient_01" / kind).glob("*.png"))))
        img = load_image(path)
        assert img.shape == (1, 512, 512) and img.meta["intensity_unit"] == "uint8" and float(img.max()) > 0


def test_describe_real_files(shared_data):
    ct = describe_image(shared_data / "dicom" / "porcine_head_ct")
    assert ct["modality"] == "CT" and ct["modality_guess"] == "CT" and ct["n_slices"] == 16
    assert ct["orientation"] == "LPS" and ct["shape"] == [512, 512, 16]
    mni = describe_image(shared_data / "volumes" / "mni152_t1_1mm.nii.gz")
    assert mni["orientation"] == "RAS" and mni["spacing"] == [1.0, 1.0, 1.0]
