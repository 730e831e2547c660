"""Fixtures of the io tests: ``ct_series``, a small CT series builder for the DICOM geometry and validity tests
(positions, orientation, tilt and the spacing headers as given, LPS mm; patient/study headers as a scanner's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SIDE = 32
SERIES_UID = "1.2.826.0.1.3680043.8.498.7001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.7002"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _write_ct_series(
    folder: Path,
    zs: Sequence[float],
    *,
    orientation: Sequence[float] = AXIAL,
    orientations: dict[int, Sequence[float]] | None = None,
    tilt: float = 0.0,
    spacing_between_slices: float | None = None,
    slice_thickness: float = 2.5,
) -> list[Path]:
    """One CT file per entry of ``zs``: slice ``k`` at ``origin + zs[k] * (normal + tilt * column direction)``.

    Args:
        folder: created; files are named so that their order is not the slices' order.
        zs: distance of each slice along the normal (mm).
        orientation: ImageOrientationPatient of every slice...
        orientations: ...except these (slice index → orientation).
        tilt: in-plane shift per mm along the normal (a gantry tilt).
        spacing_between_slices: SpacingBetweenSlices written on every slice (absent when ``None``).
        slice_thickness: SliceThickness.

    Returns:
        the files in slice order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    head = ((yy - SIDE / 2) ** 2 + (xx - SIDE / 2) ** 2 < (SIDE / 2.5) ** 2).astype(np.int16)
    files = []
    for k, z in enumerate(zs):
        iop = np.asarray((orientations or {}).get(k, orientation), float)
        row, col = iop[:3], iop[3:]
        position = np.array([-16.0, -16.0, -10.0]) + z * np.cross(row, col) + z * tilt * col
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "DOE^JANE", "P-1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SERIES_UID
        ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.7003"
        ds.BodyPartExamined, ds.PatientPosition = "HEAD", "HFS"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [round(float(v), 4) for v in position]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = slice_thickness
        if spacing_between_slices is not None:
            ds.SpacingBetweenSlices = spacing_between_slices
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.Rows = ds.Columns = SIDE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 1
        pixels = head * (1024 + 40 + 10 * k) + rng.integers(0, 30, (SIDE, SIDE)).astype(np.int16)
        ds.PixelData = pixels.astype("<i2").tobytes()
        path = folder / f"{(k * 7919) % 1000:03d}_{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


@pytest.fixture
def ct_series() -> Callable[..., list[Path]]:
    """``ct_series(folder, zs, **options)`` writes a CT series and returns its files in slice order (see
    ``_write_ct_series``)."""
    return _write_ct_series
