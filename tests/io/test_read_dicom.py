"""DicomSeriesReader through LoadMedicalImage on generated series: order, geometry, rescale, series, codecs, errors."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, RLELossless, generate_uid

import medtranslate.io.dicom as dicom_module
from medtranslate.errors import (
    CorruptFileError,
    DimensionError,
    InputError,
    MissingCodecError,
    MultipleSeriesError,
    UnsupportedFormatError,
)
from medtranslate.io import DicomSeriesReader, LoadMedicalImage, load_image

ROWS, COLS = 6, 5
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def slice_pixels(k: int) -> np.ndarray:
    """Stored values of slice ``k``: unique per slice and per pixel, so any misorder shows."""
    return (np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS) + 100 * k).astype(np.int16)


def write_slice(
    path,
    pixels: np.ndarray,
    position,
    orientation=(1, 0, 0, 0, 1, 0),
    spacing=(0.5, 0.7),
    series_uid: str = "1.2.826.0.1.3680043.2.1125.1",
    description: str = "axial head",
    modality: str = "CT",
    instance: int = 1,
    rescale: tuple[float, float] | None = (1.0, -1024.0),
) -> None:
    """Write one uncompressed DICOM slice with the geometry given (LPS, mm)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = list(spacing)
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = pixels.astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_series(folder, positions, names=None, instances=None, **kwargs) -> None:
    """Slice ``k`` at ``positions[k]`` holds ``slice_pixels(k)``; names and InstanceNumbers as given."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, pos in enumerate(positions):
        name = names[k] if names else f"s{k:03d}.dcm"
        write_slice(folder / name, slice_pixels(k), pos, instance=instances[k] if instances else k + 1, **kwargs)


def expected_volume(n: int, intercept: float = -1024.0) -> np.ndarray:
    """(X, Y, Z) = (columns, rows, slices) as MONAI's swap_ij orders them."""
    return np.stack([slice_pixels(k).T.astype(np.float32) + intercept for k in range(n)], axis=-1)


def test_slices_ordered_by_position_not_name_or_instance(tmp_path, assert_unchanged):
    positions = [(-10.0, 5.0, z) for z in (0.0, 2.5, 5.0, 7.5)]
    # file names and InstanceNumbers both disagree with the geometric order
    write_series(tmp_path / "s", positions, names=["d.dcm", "a.dcm", "c.dcm", "b.dcm"], instances=[3, 1, 4, 2])
    with assert_unchanged(tmp_path / "s"):
        img = load_image(tmp_path / "s")
    assert img.shape == (1, COLS, ROWS, 4)
    np.testing.assert_array_equal(img[0].numpy(), expected_volume(4))
    assert img.dtype.is_floating_point
    expected = LPS_TO_RAS @ np.array([[1, 0, 0, -10], [0, 0.5, 0, 5], [0, 0, 2.5, 0], [0, 0, 0, 1]]) @ np.diag(
        [0.7, 1, 1, 1]
    )
    np.testing.assert_allclose(img.affine.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(img.meta["spacing"], [0.7, 0.5, 2.5], atol=1e-6)
    assert img.meta["source_format"] == "dicom"
    assert img.meta["modality"] == "CT" and img.meta["intensity_unit"] == "HU"
    assert img.meta["series_uid"] == "1.2.826.0.1.3680043.2.1125.1"


def test_descending_positions_are_sorted_ascending_along_normal(tmp_path):
    write_series(tmp_path / "s", [(0, 0, z) for z in (9.0, 6.0, 3.0)])
    img = load_image(tmp_path / "s")
    # slice 2 (z=3) comes first
    np.testing.assert_array_equal(img[0, ..., 0].numpy(), slice_pixels(2).T - 1024.0)
    assert img.affine[2, 2] == pytest.approx(3.0) and img.affine[2, 3] == pytest.approx(3.0)


def test_oblique_gantry_tilted_affine(tmp_path):
    angle = np.deg2rad(30)
    row = np.array([np.cos(angle), np.sin(angle), 0.0])
    col = np.array([0.0, np.cos(0.4), -np.sin(0.4)])
    normal = np.cross(row, col)
    step = 2.0 * normal + 0.3 * col  # gantry tilt: the slices shift in-plane from one to the next
    first = np.array([-50.0, 20.0, 10.0])
    positions = [first + k * step for k in range(3)]
    write_series(tmp_path / "s", positions[::-1], orientation=(*row, *col), spacing=(0.8, 0.6))
    img = load_image(tmp_path / "s")
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * 0.6, col * 0.8, step, first
    np.testing.assert_allclose(img.affine.numpy(), LPS_TO_RAS @ lps, atol=1e-5)
    np.testing.assert_array_equal(img[0, ..., 0].numpy(), slice_pixels(2).T - 1024.0)  # written last, lowest


def test_missing_slice_warns_or_raises(tmp_path):
    write_series(tmp_path / "s", [(0, 0, z) for z in (0.0, 1.0, 2.0, 4.0, 5.0)])
    with pytest.warns(UserWarning, match="1 missing slice"):
        img = load_image(tmp_path / "s")
    assert img.meta["spacing"][2] == pytest.approx(1.0)  # the median step
    with pytest.raises(DimensionError, match="missing slice"):
        load_image(tmp_path / "s", irregular_spacing="raise")


def test_irregular_spacing_detected(tmp_path):
    write_series(tmp_path / "s", [(0, 0, z) for z in (0.0, 1.0, 2.6, 3.6, 4.6)])
    with pytest.raises(DimensionError, match="inconsistent slice spacing"):
        load_image(tmp_path / "s", irregular_spacing="raise")


def test_duplicate_positions_refused(tmp_path):
    write_series(tmp_path / "s", [(0, 0, 0.0), (0, 0, 1.0), (0, 0, 1.0)])
    with pytest.raises(InputError, match="share one position"):
        load_image(tmp_path / "s")


def test_two_series_refused_listed_and_chosen(tmp_path):
    folder = tmp_path / "two"
    write_series(folder, [(0, 0, z) for z in (0.0, 1.0, 2.0)], names=["a1", "a2", "a3"], series_uid="1.2.3.111",
                 description="big")
    write_series(folder, [(0, 0, z) for z in (0.0, 1.0)], names=["b1", "b2"], series_uid="1.2.3.222",
                 description="small", modality="MR", rescale=None)
    with pytest.raises(MultipleSeriesError) as err:
        load_image(folder)
    message = str(err.value)
    assert str(folder) in message
    assert '1.2.3.111 ("big", CT, 3 slices)' in message and '1.2.3.222 ("small", MR, 2 slices)' in message
    small = load_image(folder, series_uid="1.2.3.222")
    assert small.shape == (1, COLS, ROWS, 2) and small.meta["modality"] == "MR"
    assert small.meta["intensity_unit"] == "raw"
    np.testing.assert_array_equal(small[0].numpy(), expected_volume(2, intercept=0.0))
    largest = load_image(folder, series="largest")
    assert largest.meta["series_uid"] == "1.2.3.111" and largest.shape[-1] == 3
    with pytest.raises(InputError, match=r"no series with SeriesInstanceUID 9\.9"):
        load_image(folder, series_uid="9.9")


def _compress_rle(src, dst) -> None:
    ds = pydicom.dcmread(src)
    ds.compress(RLELossless)
    ds.save_as(dst)


def test_rle_compressed_decodes_to_same_values(tmp_path):
    write_slice(tmp_path / "raw.dcm", slice_pixels(3), (0, 0, 0))
    _compress_rle(tmp_path / "raw.dcm", tmp_path / "rle.dcm")
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    raw, rle = load_image(tmp_path / "raw.dcm"), load_image(tmp_path / "rle.dcm")
    np.testing.assert_array_equal(rle.numpy(), raw.numpy())
    np.testing.assert_array_equal(rle[0].numpy(), slice_pixels(3).T - 1024.0)


def test_gdcm_fallback_when_pydicom_cannot_decode(tmp_path, monkeypatch):
    write_slice(tmp_path / "raw.dcm", slice_pixels(1), (0, 0, 0))

    def no_plugin(ds):
        raise RuntimeError("The pixel data decoder is unavailable because all of its plugins are missing dependencies")

    monkeypatch.setattr(dicom_module, "_pydicom_pixels", no_plugin)
    img = load_image(tmp_path / "raw.dcm")  # SimpleITK's GDCM decodes and rescales
    np.testing.assert_array_equal(img[0].numpy(), slice_pixels(1).T - 1024.0)


def test_missing_codec_names_the_package(tmp_path, monkeypatch):
    write_slice(tmp_path / "raw.dcm", slice_pixels(1), (0, 0, 0))
    _compress_rle(tmp_path / "raw.dcm", tmp_path / "rle.dcm")

    class Unavailable:
        is_available = False

    def fail(*args):
        raise RuntimeError("cannot decode")

    monkeypatch.setattr(dicom_module, "get_decoder", lambda uid: Unavailable())
    monkeypatch.setattr(dicom_module, "_pydicom_pixels", fail)
    monkeypatch.setattr(dicom_module, "_sitk_pixels", fail)
    with pytest.raises(MissingCodecError, match="pip install pylibjpeg pylibjpeg-rle") as err:
        load_image(tmp_path / "rle.dcm")
    assert str(tmp_path / "rle.dcm") in str(err.value) and "RLE Lossless" in str(err.value)
    assert dicom_module.codec_install_hint("1.2.840.10008.1.2.4.90") == "pip install pylibjpeg pylibjpeg-openjpeg"
    jpeg = dicom_module.codec_install_hint("1.2.840.10008.1.2.4.57")
    assert jpeg.startswith("pip install python-gdcm") and "gpl-codecs" in jpeg  # GPL only as the named opt-in


def test_truncated_dicom_is_corrupt(tmp_path):
    write_slice(tmp_path / "full.dcm", np.zeros((64, 64), np.int16), (0, 0, 0))
    data = (tmp_path / "full.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 3000])
    with pytest.raises(CorruptFileError, match=r"cut\.dcm"):
        load_image(tmp_path / "cut.dcm")
    (tmp_path / "header_only.dcm").write_bytes(data[:400])
    with pytest.raises(CorruptFileError):
        load_image(tmp_path / "header_only.dcm")


def test_garbage_bytes_named_dcm(tmp_path):
    (tmp_path / "x.dcm").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(UnsupportedFormatError, match=r"x\.dcm: unknown format by content"):
        load_image(tmp_path / "x.dcm")
    (tmp_path / "y.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 300)
    with pytest.raises(CorruptFileError, match=r"y\.dcm"):
        load_image(tmp_path / "y.dcm")


def _write_sr(path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.SeriesInstanceUID = "1.2.3.999"
    ds.save_as(path, enforce_file_format=True)


def test_non_image_dicom_refused(tmp_path):
    _write_sr(tmp_path / "report.dcm")
    with pytest.raises(InputError, match=r"without pixel data.*Basic Text SR") as err:
        load_image(tmp_path / "report.dcm")
    assert not isinstance(err.value, CorruptFileError)
    (tmp_path / "only_sr").mkdir()
    _write_sr(tmp_path / "only_sr" / "r.dcm")
    with pytest.raises(InputError, match="none with pixel data"):
        load_image(tmp_path / "only_sr")


def test_sr_beside_a_series_is_ignored(tmp_path):
    write_series(tmp_path / "s", [(0, 0, 0.0), (0, 0, 1.0)])
    _write_sr(tmp_path / "s" / "zz_report.dcm")
    (tmp_path / "s" / "notes.txt").write_text("not dicom")
    assert load_image(tmp_path / "s").shape == (1, COLS, ROWS, 2)


def test_max_voxels_checked_on_headers(tmp_path, monkeypatch):
    write_series(tmp_path / "s", [(0, 0, z) for z in (0.0, 1.0, 2.0)])
    monkeypatch.setattr(dicom_module, "decode_slice", lambda *a: pytest.fail("decoded before the size check"))
    with pytest.raises(DimensionError, match="90 voxels exceed the limit of 50"):
        load_image(tmp_path / "s", max_voxels=50)


def test_single_slice_needs_spatial_ndim_2(tmp_path):
    write_slice(tmp_path / "one.dcm", slice_pixels(0), (1, 2, 3), rescale=(2.0, -1000.0))
    img = load_image(tmp_path / "one.dcm", spatial_ndim=2)
    np.testing.assert_array_equal(img[0].numpy(), slice_pixels(0).T * 2.0 - 1000.0)
    with pytest.raises(DimensionError, match="pass the series folder"):
        load_image(tmp_path / "one.dcm", spatial_ndim=3)


@pytest.mark.filterwarnings("ignore:NvImgCodecPydicomReader")
def test_reader_in_plain_monai_loadimage(tmp_path):
    from monai.transforms import LoadImage

    write_series(tmp_path / "s", [(0, 0, 0.0), (0, 0, 2.0)])
    img = LoadImage(reader=DicomSeriesReader(), image_only=True, ensure_channel_first=True)(tmp_path / "s")
    np.testing.assert_array_equal(img[0].numpy(), expected_volume(2))
    assert DicomSeriesReader().verify_suffix(tmp_path / "s") and not DicomSeriesReader().verify_suffix(tmp_path)


def test_loader_reusable_across_calls(tmp_path):
    write_series(tmp_path / "a", [(0, 0, 0.0), (0, 0, 1.0)])
    write_slice(tmp_path / "b.dcm", slice_pixels(5), (0, 0, 0))
    loader = LoadMedicalImage()
    assert loader(tmp_path / "a").shape[-1] == 2
    assert loader(tmp_path / "b.dcm").shape == (1, COLS, ROWS)
