"""Builders of the bad-input corpus: every file is generated into ``tmp_path`` by the test that needs it."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, RLELossless, generate_uid

import medtranslate.io.dicom as dicom_module
from medtranslate.cli import main

ROWS, COLS = 12, 10
SERIES_A = "1.2.826.0.1.3680043.2.1125.7.1"
SERIES_B = "1.2.826.0.1.3680043.2.1125.7.2"


def dicom_slice(
    path: Path,
    z: float,
    modality: str = "CT",
    series_uid: str = SERIES_A,
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    x: float = 0.0,
    seed: int = 0,
) -> Path:
    """One uncompressed 12×10 slice at ``(x, 0, z)`` (LPS, mm), a disc 'head' in air (CT) or on black (MR)."""
    yy, xx = np.mgrid[:ROWS, :COLS]
    disc = (yy - ROWS / 2) ** 2 + (xx - COLS / 2) ** 2 < (ROWS / 3) ** 2
    noise = np.random.default_rng(seed).integers(0, 5, (ROWS, COLS))
    stored = (disc * 1060 + noise) if modality == "CT" else (disc * 400 + noise)  # CT: intercept -1024 below
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = f"{modality} head"
    ds.PatientName, ds.PatientID = "Doe^Jane", "P-0001"
    ds.ImagePositionPatient = [float(x), 0.0, float(z)]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [0.8, 0.8]
    if modality == "CT":
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = stored.astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_series(folder: Path, zs: Sequence[float], prefix: str = "IM", dx: float = 0.0, **kwargs) -> Path:
    """A series folder, one slice per position in ``zs``, shifted by ``dx`` along x per slice (a gantry tilt).

    Files are ``<prefix><k>.dcm``; ``kwargs`` go to :func:`dicom_slice` (``modality``, ``series_uid``...).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for k, z in enumerate(zs):
        dicom_slice(folder / f"{prefix}{k:04d}.dcm", z, x=dx * k, seed=k, **kwargs)
    return folder


def dicom_without_pixels(path: Path, sop_class: str, modality: str) -> Path:
    """A DICOM object that holds no image: a structured report, an RT structure set..."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)
    return path


def rle_compressed(source: Path, target: Path) -> Path:
    """``source`` re-encoded as RLE Lossless (pydicom's own encoder)."""
    ds = pydicom.dcmread(source)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(target)
    return target


def hide_decoders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every pixel decoder (pydicom's plugins and SimpleITK's GDCM) unavailable, as without a codec."""

    class Unavailable:
        is_available = False

    def no_codec(*args: object) -> None:
        raise RuntimeError("no decoder plugin is installed for this transfer syntax")

    monkeypatch.setattr(dicom_module, "get_decoder", lambda uid: Unavailable())
    monkeypatch.setattr(dicom_module, "_pydicom_pixels", no_codec)
    monkeypatch.setattr(dicom_module, "_sitk_pixels", no_codec)


def nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Save ``data`` as NIfTI with ``affine`` (identity by default); a name without a NIfTI suffix gets plain NIfTI."""
    image = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if path.name.endswith((".nii", ".nii.gz")):
        nib.save(image, str(path))
    else:
        path.write_bytes(image.to_bytes())
    return path


def raw_nifti(
    path: Path,
    data: np.ndarray,
    srows: np.ndarray | None = None,
    sform_code: int = 0,
    qform_code: int = 0,
    pixdim: Sequence[float] = (1.0, 1.0, 1.0),
    quaternion: Sequence[float] = (0.0, 0.0, 0.0),
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    qfac: float = 1.0,
    scaling: tuple[float, float] = (np.nan, np.nan),
) -> Path:
    """A NIfTI-1 file whose header fields are written as given, without nibabel's checks and repairs (which refuse
    a NaN sform when saving and replace negative ``pixdim`` when loading); ``scaling`` is ``(scl_slope,
    scl_inter)`` (nibabel's default NaN: none); uncompressed unless named ``.gz``."""
    header = nib.Nifti1Header()
    header.set_data_shape(data.shape)
    header.set_data_dtype(data.dtype)
    header["pixdim"][0] = qfac
    header["pixdim"][1 : 1 + len(pixdim)] = pixdim
    header["sform_code"], header["qform_code"] = sform_code, qform_code
    if srows is not None:
        header["srow_x"], header["srow_y"], header["srow_z"] = srows[0], srows[1], srows[2]
    header["quatern_b"], header["quatern_c"], header["quatern_d"] = quaternion
    header["qoffset_x"], header["qoffset_y"], header["qoffset_z"] = offset
    header["scl_slope"], header["scl_inter"] = scaling
    header["vox_offset"] = 352
    payload = header.binaryblock + b"\0" * 4 + data.tobytes(order="F")
    path.write_bytes(gzip.compress(payload, mtime=0) if path.name.endswith(".gz") else payload)
    return path


def huge_nifti_header(path: Path, side: int = 100_000) -> Path:
    """A header-only ``.nii`` claiming ``side³`` float32 voxels (4 PB at 100000³) and holding none.

    NIfTI-1 stores dimensions as int16, so sides above 32767 are written as NIfTI-2 (int64 dimensions).
    """
    header = nib.Nifti1Header() if side <= 32767 else nib.Nifti2Header()
    header.set_data_shape((side, side, side))
    header.set_data_dtype(np.float32)
    header["vox_offset"] = len(header.binaryblock) + 4
    path.write_bytes(header.binaryblock + b"\0" * 4)
    return path


def ct_volume(shape: tuple[int, int, int] = (16, 16, 6)) -> np.ndarray:
    """A float32 CT-like volume in HU: air about -1000 around a disc of brain about 30, with noise."""
    xx, yy = np.mgrid[: shape[0], : shape[1]]
    disc = ((xx - shape[0] / 2) ** 2 + (yy - shape[1] / 2) ** 2 < (shape[0] / 3) ** 2)[..., None]
    noise = np.random.default_rng(0).normal(0.0, 5.0, shape)
    return (np.where(np.broadcast_to(disc, shape), 30.0, -1000.0) + noise).astype(np.float32)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """``cli("info", path, ...)`` → ``(exit status, stdout, stderr)`` of ``medtranslate.cli.main``."""

    def _run(*args: str) -> tuple[int, str, str]:
        status = main([str(a) for a in args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return _run


@pytest.fixture
def build() -> SimpleNamespace:
    """The corpus builders of this module, for the tests (``build.dicom_series(folder, zs)``...)."""
    return SimpleNamespace(
        dicom_slice=dicom_slice,
        dicom_series=dicom_series,
        dicom_without_pixels=dicom_without_pixels,
        rle_compressed=rle_compressed,
        hide_decoders=hide_decoders,
        nifti=nifti,
        raw_nifti=raw_nifti,
        huge_nifti_header=huge_nifti_header,
        ct_volume=ct_volume,
        series_a=SERIES_A,
        series_b=SERIES_B,
    )
