"""Writers: NIfTI affine round trip, PNG orientation/order/bit depth, DICOM series geometry with pydicom and
SimpleITK, patient-tag policy, overwrite/protect refusal and cleanup on failure."""

from __future__ import annotations

import errno
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from PIL import Image

from medtranslate.errors import DimensionError, NonFiniteError, OutputExistsError
from medtranslate.io.writers import write_dicom_series, write_nifti, write_png, write_png_slices


def _oblique_affine() -> np.ndarray:
    c, s = np.cos(0.35), np.sin(0.35)
    rot = np.array([[c, -s, 0.0], [s * 0.9, c * 0.9, -0.43588989], [s * 0.43588989, c * 0.43588989, 0.9]])
    rot[:, 2] = np.cross(rot[:, 0], rot[:, 1])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([1.5, 0.75, 2.5])
    affine[:3, 3] = [-12.25, 30.5, -7.0]
    return affine


def _volume(shape=(12, 10, 5)) -> np.ndarray:
    return np.random.default_rng(3).normal(300.0, 120.0, shape).astype(np.float32)


def test_nifti_round_trip_affine_and_dtype(tmp_path):
    affine = np.array([[-2.0, 0, 0, 95.5], [0, 2.0, 0, -110.25], [0, 0, 3.0, -60.0], [0, 0, 0, 1]])
    data = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)
    image = MetaTensor(torch.from_numpy(data)[None], affine=torch.from_numpy(affine))
    path = write_nifti(image, tmp_path / "ct.nii.gz")
    nii = nib.load(path)
    assert np.array_equal(nii.affine, affine) and np.array_equal(nii.header.get_qform(), affine)
    assert nii.header["sform_code"] == 1 and nii.header["qform_code"] == 1
    assert nii.get_data_dtype() == np.int16 and np.array_equal(np.asanyarray(nii.dataobj), data)
    with pytest.raises(OutputExistsError):
        write_nifti(image, path)
    oblique = _oblique_affine()
    write_nifti(_volume(), tmp_path / "o.nii", affine=oblique, dtype=np.float32)
    assert np.allclose(nib.load(tmp_path / "o.nii").affine, oblique, atol=1e-5)


def test_nifti_2d_and_errors(tmp_path):
    plane = MetaTensor(torch.ones(1, 4, 3), meta={"spatial_shape": (4, 3)})
    assert nib.load(write_nifti(plane, tmp_path / "p.nii.gz")).shape == (4, 3)
    with pytest.raises(DimensionError):
        write_nifti(np.zeros((2, 2, 2, 2, 2)), tmp_path / "bad.nii.gz")
    with pytest.raises(NonFiniteError):
        write_nifti(np.full((2, 2, 2), np.nan), tmp_path / "nan.nii.gz")
    assert not (tmp_path / "nan.nii.gz").exists()


def test_png_slices_radiological_order_and_names(tmp_path):
    vol = np.zeros((6, 5, 12), dtype=np.float32)
    vol[-1, -1, :] = 100.0  # RAS: patient's right-most and anterior-most column
    vol[0, 0, :] = np.arange(12)  # left-posterior corner encodes the slice index
    files = write_png_slices(vol, tmp_path, "subject_001", value_range=(0, 100))
    assert [f.name for f in files] == [f"subject_001_z{k:03d}.png" for k in range(12)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name for f in files]
    for k, f in enumerate(files):
        pixels = np.asarray(Image.open(f))
        assert pixels.shape == (5, 6)  # rows = Y, columns = X
        assert pixels[0, 0] == 255  # right-anterior at the top left: radiological view
        assert pixels[-1, -1] == round(k * 2.55)  # left-posterior at the bottom right, slice k
    with pytest.raises(OutputExistsError):
        write_png_slices(vol, tmp_path, "subject_001")


def test_png_slices_follow_affine(tmp_path):
    vol = np.zeros((4, 3, 2), dtype=np.float32)
    vol[0, -1, :] = 1.0  # LAS affine below: i = 0 is the patient's right-most column
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    write_png_slices(vol, tmp_path, "s", affine=las)
    assert np.asarray(Image.open(tmp_path / "s_z000.png"))[0, 0] == 255


def test_png_16bit_and_monai_round_trip(tmp_path):
    from monai.transforms import LoadImage

    plane = np.linspace(0.0, 1.0, 20, dtype=np.float32).reshape(5, 4)
    path = write_png(plane, tmp_path / "p.png", bit_depth=16)
    with Image.open(path) as image:
        assert image.mode == "I;16"
        assert np.asarray(image).max() == 65535
    loaded = LoadImage(image_only=True)(path)
    assert tuple(loaded.shape) == (5, 4)  # MONAI's (X, Y) order comes back
    assert np.array_equal(np.asarray(loaded), np.rint(plane * 65535))


def test_png_slices_failure_removes_written(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = Image.Image.save

    def failing(self, fp, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing)
    with pytest.raises(OSError):
        write_png_slices(_volume(), tmp_path, "s")
    assert list(tmp_path.iterdir()) == []


def _read_sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    assert len(reader.GetGDCMSeriesIDs(str(folder))) == 1
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _sitk_ras(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float64)
    lps = np.eye(4)
    lps[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    return data, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _assert_same_grid(data, affine, read, read_affine, tol):
    """Every read voxel sits at an original voxel centre (same world point) with the same value."""
    assert read.size == data.size
    ijk = np.indices(read.shape).reshape(3, -1)
    world = read_affine[:3, :3] @ ijk + read_affine[:3, 3:4]
    src = np.linalg.solve(affine[:3, :3], world - affine[:3, 3:4])
    assert np.allclose(src, np.rint(src), atol=1e-3)
    src = np.rint(src).astype(int)
    assert np.allclose(data[src[0], src[1], src[2]], read.reshape(-1), atol=tol)


@pytest.mark.parametrize("oblique", [False, True])
def test_dicom_series_geometry_pydicom_and_sitk(tmp_path, oblique):
    data = _volume()
    affine = (
        _oblique_affine()
        if oblique
        else np.diag([0.8, 0.9, 2.0, 1.0]) + np.array([[0, 0, 0, -4], [0] * 4, [0, 0, 0, 10], [0] * 4])
    )
    out = tmp_path / "series"
    files = write_dicom_series(MetaTensor(torch.from_numpy(data)[None], affine=torch.from_numpy(affine)), out)
    assert sorted(out.iterdir()) == files and len(files) == data.shape[2]

    headers = [pydicom.dcmread(f) for f in files]
    assert "RescaleSlope" not in headers[0] and "RescaleIntercept" not in headers[0]  # not in the MR Image IOD
    mapping = headers[0].RealWorldValueMappingSequence[0]
    slope, intercept = float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)
    assert len({h.SeriesInstanceUID for h in headers}) == 1 and len({h.SOPInstanceUID for h in headers}) == len(files)
    first = headers[0]
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert first.SOPClassUID == pydicom.uid.MRImageStorage == first.file_meta.MediaStorageSOPClassUID
    assert list(first.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
    assert first.SeriesDescription.startswith("SYNTHETIC")
    assert first.BurnedInAnnotation == "NO" and first.PatientName == "ANONYMOUS"
    stack = np.stack([h.pixel_array.T * slope + intercept for h in headers], axis=-1)
    lps = np.eye(4)
    row, col = np.array(first.ImageOrientationPatient[:3]), np.array(first.ImageOrientationPatient[3:])
    step = np.array(headers[1].ImagePositionPatient) - np.array(first.ImagePositionPatient)
    lps[:3, :3] = np.stack([row * first.PixelSpacing[1], col * first.PixelSpacing[0], step], axis=1)
    lps[:3, 3] = first.ImagePositionPatient
    assert np.isclose(np.linalg.norm(step), float(first.SpacingBetweenSlices))
    _assert_same_grid(data, affine, stack, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, slope / 2 + 1e-4)

    image = _read_sitk(out)
    read, read_affine = _sitk_ras(image)
    _assert_same_grid(data, affine, read * slope + intercept, read_affine, slope / 2 + 1e-3)
    if not oblique:  # axis-aligned RAS input is stored as standard LPS axial slices
        assert np.allclose(image.GetDirection(), np.eye(3).ravel())


def test_dicom_ct_rescale_and_refusals(tmp_path, monkeypatch):
    hu = np.rint(np.random.default_rng(0).uniform(-1024, 2000, (8, 8, 3)))
    out = write_dicom_series(hu, tmp_path / "ct", modality="CT", rescale=(1, -1024), synthetic=False)[0].parent
    header = pydicom.dcmread(out / "slice_0000.dcm")
    assert header.SOPClassUID == pydicom.uid.CTImageStorage and header.PixelRepresentation == 1
    assert float(header.RescaleIntercept) == -1024 and list(header.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert "SYNTHETIC" not in header.SeriesDescription
    assert np.array_equal(_sitk_ras(_read_sitk(out))[0][::-1, ::-1], hu)  # RAS -> LPS flips X and Y
    with pytest.raises(OutputExistsError):
        write_dicom_series(hu, out, modality="CT")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", full_disk)
    with pytest.raises(OSError):
        write_dicom_series(hu, tmp_path / "full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]


def test_dicom_patient_tags_only_when_asked(tmp_path, assert_unchanged):
    tags = {"PatientName": "DOE^JANE", "PatientID": "12345", "PatientBirthDate": "19700101"}
    source = write_dicom_series(_volume(), tmp_path / "src", synthetic=False, extra_tags=tags)[0].parent
    src = pydicom.dcmread(source / "slice_0000.dcm")
    with assert_unchanged(source):
        anon = pydicom.dcmread(write_dicom_series(_volume(), tmp_path / "anon", source=source)[0])
        kept = pydicom.dcmread(
            write_dicom_series(_volume(), tmp_path / "kept", source=source, copy_patient_tags=True)[0]
        )
        with pytest.raises(OutputExistsError, match="input"):
            write_dicom_series(_volume(), source / "inside", source=source)
    assert anon.PatientName == "ANONYMOUS" and anon.PatientBirthDate == ""
    assert anon.StudyInstanceUID != src.StudyInstanceUID and "DOE" not in str(anon)
    assert (kept.PatientName, kept.PatientID, kept.PatientBirthDate) == ("DOE^JANE", "12345", "19700101")
    assert kept.StudyInstanceUID == src.StudyInstanceUID and kept.SeriesInstanceUID != src.SeriesInstanceUID


def test_nifti_int16_range_round_trips_within_half_a_step(tmp_path: Path) -> None:
    values = np.linspace(-0.1, 1.1, 4 * 5 * 6, dtype=np.float32).reshape(1, 4, 5, 6)  # a little outside [0, 1]
    path = write_nifti(values, tmp_path / "q.nii.gz", affine=np.diag([0.5, 0.5, 2.0, 1.0]), int16_range=(0.0, 1.0))
    img = nib.load(path)
    assert img.get_data_dtype() == np.int16 and (img.dataobj.slope, img.dataobj.inter) == pytest.approx(
        (1 / 32767, 0.0)
    )
    back = img.get_fdata()
    expected = np.clip(values[0], 0.0, 1.0)
    assert np.abs(back - expected).max() <= 0.5 / 32767 + 1e-7
    assert back.min() == 0.0 and back.max() == pytest.approx(1.0)
