"""DICOM series reader for MONAI's ``LoadImage``: series selection, slice ordering by position, codecs, HU.

MONAI's :class:`monai.data.PydicomReader` stacks every file of a folder in ``InstanceNumber`` order and
fails with bare exceptions. :class:`DicomSeriesReader` subclasses it, keeps its affine convention (RAS,
``swap_ij``) and adds what a user's scanner export needs: one series out of several, order by
``ImagePositionPatient`` projected on the slice normal, spacing checks (missing slices, irregular gaps,
gantry tilt, SpacingBetweenSlices that contradicts the positions), per-slice rescale to HU, compressed transfer
syntaxes with a SimpleITK/GDCM fallback, and :mod:`medtranslate.errors` for everything a user can fix.

What the reader learned travels with the image: :class:`DicomSource` (each slice's ImagePositionPatient, the
orientation, SOP instance/class UIDs and files in the volume's slice order, the patient/study header) is kept on
the ``MetaTensor``'s metadata, and a derived series is written from it (:func:`medtranslate.io.write_dicom_series`)
without reading the folder again.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
import torch
from monai.config import PathLike
from monai.data import MetaTensor, PydicomReader
from monai.utils import ensure_tuple
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder

from medtranslate.errors import (
    CorruptFileError,
    DimensionError,
    EmptyInputError,
    GeometryError,
    InputError,
    MissingCodecError,
    MultipleSeriesError,
)
from medtranslate.io.formats import sniff_format

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "PATIENT_STUDY_TAGS",
    "DicomSeriesReader",
    "DicomSource",
    "SeriesInfo",
    "codec_install_hint",
    "resample_even",
]

#: refuse images with more voxels than this before allocating them (about 8 GiB as float32).
DEFAULT_MAX_VOXELS = 2**31

# geometry tags kept in the pruned metadata, as PydicomReader keeps them (orientation, position, spacing)
_GEOMETRY_TAGS = (0x00200037, 0x00200032, 0x00280030)

#: Patient, study and frame-of-reference attributes a derived series may copy (``copy_patient_tags=True``).
PATIENT_STUDY_TAGS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "OtherPatientIDsSequence",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "PatientComments",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "PatientPosition",
)
# more of the source's header kept for a derived series: what it describes, not who
_SERIES_TAGS = ("SeriesInstanceUID", "Modality", "BodyPartExamined", "SliceThickness")
# ImageOrientationPatient values that differ by more than this are different orientations
_ORIENTATION_TOLERANCE = 1e-3
# the smallest tolerance on the step between slice positions (mm), as dcm2niix's
_MIN_SPACING_TOLERANCE_MM = 0.01
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

# permissive first (GDCM, BSD); pylibjpeg-libjpeg is GPL-3.0, hence only the opt-in extra
_JPEG = "pip install python-gdcm (BSD), or pip install 'medtranslate[gpl-codecs]' (GPL-3.0 pylibjpeg-libjpeg)"
_CODEC_HINTS = {
    "1.2.840.10008.1.2.4.50": _JPEG,  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": _JPEG,  # JPEG Extended
    "1.2.840.10008.1.2.4.57": _JPEG,  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": _JPEG,  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": _JPEG,  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": _JPEG,  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pip install pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pip install pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pip install pylibjpeg pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pip install pylibjpeg pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pip install pylibjpeg pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pip install pylibjpeg pylibjpeg-rle",  # RLE Lossless
}


def codec_install_hint(transfer_syntax_uid: str) -> str:
    """The ``pip install`` command that brings a decoder for ``transfer_syntax_uid`` (GDCM for the rest)."""
    return _CODEC_HINTS.get(str(transfer_syntax_uid), "pip install python-gdcm")


@dataclass
class SeriesInfo:
    """One DICOM series found in a folder: what :class:`MultipleSeriesError` lists and ``describe_image`` shows.

    Attributes:
        uid: SeriesInstanceUID (``""`` when the files lack it).
        description: SeriesDescription (``""`` when absent).
        modality: the Modality tag, or ``None``.
        files: the image files of the series, as read.
        headers: their data sets (pixel data deferred, read on decoding).
    """

    uid: str
    description: str
    modality: str | None
    files: list[str] = field(default_factory=list)
    headers: list[Dataset] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``uid ("description", MODALITY, N slices)``."""
        uid = self.uid or "<no SeriesInstanceUID>"
        return f'{uid} ("{self.description}", {self.modality}, {len(self.files)} slices)'


#: keys of :meth:`DicomSource.to_meta` on a ``MetaTensor``'s metadata
_META_KEYS = {
    "folder": "dicom_source",
    "header": "dicom_header",
    "files": "dicom_files",
    "sop_class_uids": "dicom_sop_class_uids",
    "sop_instance_uids": "dicom_sop_instance_uids",
    "positions": "dicom_positions",
    "orientation": "dicom_orientation",
    "spacing_issue": "dicom_spacing_issue",
    "even": "dicom_even",
}


@dataclass(frozen=True)
class DicomSource:
    """What :class:`DicomSeriesReader` learned about the series behind a volume; a derived series is built from it.

    Per-slice entries follow the volume's slice order (its last axis, ascending along the slice normal). The
    reader puts it on the image's metadata (:meth:`to_meta`, keys ``dicom_*``); :meth:`from_meta` gets it back.

    Attributes:
        folder: the series folder (or file) that was read.
        series_uid: SeriesInstanceUID of the chosen series.
        header: the first slice's patient, study and frame-of-reference attributes (:data:`PATIENT_STUDY_TAGS`)
            and its SeriesInstanceUID, Modality, BodyPartExamined and SliceThickness (no pixels).
        files: each slice's file.
        sop_class_uids: each slice's SOPClassUID.
        sop_instance_uids: each slice's SOPInstanceUID.
        positions: each slice's ImagePositionPatient (LPS, mm), ``(n, 3)``; ``None`` when the files lack it.
        orientation: the series' ImageOrientationPatient (row then column direction cosines); ``None`` if absent.
        affine: the RAS affine the reader gave the volume (its third column is the median step between slices).
        spacing_issue: ``""`` when the slices are evenly spaced and agree with SpacingBetweenSlices, else why not.
        even: whether the positions are evenly spaced (the affine then places every slice where it is).
    """

    folder: str
    series_uid: str
    header: Dataset
    files: tuple[str, ...]
    sop_class_uids: tuple[str, ...]
    sop_instance_uids: tuple[str, ...]
    positions: np.ndarray | None
    orientation: np.ndarray | None
    affine: np.ndarray
    spacing_issue: str = ""
    even: bool = True

    @classmethod
    def from_series(
        cls, where: str, info: SeriesInfo, affine: np.ndarray, spacing_issue: str, even: bool
    ) -> DicomSource:
        """Collect the source of the ordered series ``info`` read from ``where``.

        Raises:
            InputError: the slices belong to several studies or patients (one series is in one study).
        """
        headers = info.headers
        studies = {(str(h.get("StudyInstanceUID", "")), str(h.get("PatientID", ""))) for h in headers}
        if len(studies) > 1:
            raise InputError(
                where,
                f"series {info.uid or '<no SeriesInstanceUID>'}: slices of {len(studies)} "
                "studies/patients under one SeriesInstanceUID",
            )
        header = Dataset()
        for keyword in (*PATIENT_STUDY_TAGS, *_SERIES_TAGS):
            if keyword in headers[0]:
                header.add(headers[0][keyword])
        has_positions = all("ImagePositionPatient" in h for h in headers)
        iop = headers[0].get("ImageOrientationPatient")
        return cls(
            folder=where,
            series_uid=info.uid,
            header=header,
            files=tuple(info.files),
            sop_class_uids=tuple(str(h.get("SOPClassUID", "")) for h in headers),
            sop_instance_uids=tuple(str(h.get("SOPInstanceUID", "")) for h in headers),
            positions=np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
            if has_positions
            else None,
            orientation=np.array([float(v) for v in iop]) if iop is not None and len(iop) == 6 else None,
            affine=np.asarray(affine, dtype=np.float64),
            spacing_issue=spacing_issue,
            even=even,
        )

    def slice_positions(self, affine: np.ndarray, depth: int, name: PathLike | None) -> tuple[np.ndarray, np.ndarray]:
        """``(index, positions)``: the source slice of each of the ``depth`` slices of a volume in the source's voxel
        order with RAS ``affine`` (the series itself, or a slab or crop of it), and where each one's first voxel
        is (LPS, mm: the source slice's ImagePositionPatient shifted by the crop).

        Raises:
            InputError: the volume is not on the source's voxel grid (other axes or spacing, part-voxel offset).
        """
        src = self.affine
        affine = np.asarray(affine, dtype=np.float64)
        offset = np.linalg.solve(src, affine[:, 3])[:3]
        first = int(np.rint(offset[2]))
        n_source = len(self.sop_instance_uids)
        if (
            not np.allclose(affine[:3, :3], src[:3, :3], atol=1e-4 * float(np.abs(src[:3, :3]).max()))
            or not np.allclose(offset, np.rint(offset), atol=1e-3)
            or first < 0
            or first + depth > n_source
        ):
            raise InputError(
                name,
                f"the volume ({depth} slices) is not on the voxel grid of the source series {self.series_uid} "
                f"({n_source} slices)",
            )
        index = np.arange(first, first + depth)
        lps = _RAS_TO_LPS @ src
        in_plane = lps[:3, 0] * np.rint(offset[0]) + lps[:3, 1] * np.rint(offset[1])
        if self.positions is None:
            return index, lps[:3, 3] + in_plane + index[:, None] * lps[:3, 2]
        return index, self.positions[index] + in_plane

    def to_meta(self) -> dict:
        """Plain metadata entries (``dicom_*`` keys); the affine is MONAI's ``original_affine``."""
        values = {
            "folder": self.folder,
            "header": self.header.to_json_dict(),
            "files": list(self.files),
            "sop_class_uids": list(self.sop_class_uids),
            "sop_instance_uids": list(self.sop_instance_uids),
            "positions": self.positions,
            "orientation": self.orientation,
            "spacing_issue": self.spacing_issue,
            "even": self.even,
        }
        return {_META_KEYS[k]: v for k, v in values.items() if v is not None}

    @classmethod
    def from_meta(cls, meta: dict) -> DicomSource | None:
        """The source kept by :meth:`to_meta` on ``meta``; ``None`` for an image that was not read from DICOM.

        Args:
            meta: a ``MetaTensor``'s metadata as the reader left it (``original_affine`` included).
        """
        if _META_KEYS["sop_instance_uids"] not in meta:
            return None

        def get(name: str):
            return meta.get(_META_KEYS[name])

        positions, orientation = get("positions"), get("orientation")
        return cls(
            folder=str(get("folder")),
            series_uid=str(meta.get("series_uid", "")),
            header=Dataset.from_json(get("header")),
            files=tuple(get("files")),
            sop_class_uids=tuple(get("sop_class_uids")),
            sop_instance_uids=tuple(get("sop_instance_uids")),
            positions=None if positions is None else np.asarray(positions, dtype=np.float64),
            orientation=None if orientation is None else np.asarray(orientation, dtype=np.float64),
            affine=np.asarray(meta["original_affine"], dtype=np.float64),
            spacing_issue=str(get("spacing_issue") or ""),
            even=bool(get("even")),
        )


def resample_even(image: MetaTensor, source: DicomSource) -> MetaTensor:
    """Resample a volume on the voxel grid of an unevenly spaced series onto an even grid of the median step.

    Slices are interpolated linearly along the slice axis between the two nearest source slices, at their true
    positions; the new grid starts at the first slice's position and ends at or just before the last one (the
    in-plane drift of positions off their line, if any, is not followed).

    Args:
        image: ``(C, X, Y, Z)`` in the source's voxel order (a slab or crop of it is fine), its affine the reader's.
        source: the series it lies on.

    Returns:
        the even volume, its affine placing slice 0 at the first slice's true position.
    """
    affine = np.asarray(image.affine, dtype=np.float64)
    _, positions = source.slice_positions(affine, int(image.shape[-1]), source.folder)
    step = (_RAS_TO_LPS @ affine)[:3, 2]
    along = (positions - positions[0]) @ step / float(step @ step)  # in steps, increasing
    targets = np.arange(int(np.floor(along[-1] + 1e-3)) + 1, dtype=np.float64)
    lower = np.clip(np.searchsorted(along, targets, side="right") - 1, 0, max(len(along) - 2, 0))
    upper = np.minimum(lower + 1, len(along) - 1)
    span = np.where(upper > lower, along[upper] - along[lower], 1.0)
    weight = torch.as_tensor(np.clip((targets - along[lower]) / span, 0.0, 1.0), dtype=image.dtype)
    data = image.as_tensor()
    even = data[..., lower] * (1 - weight) + data[..., upper] * weight
    out_affine = affine.copy()
    out_affine[:3, 3] = (_RAS_TO_LPS @ np.append(positions[0], 1.0))[:3]  # LPS <-> RAS is its own inverse
    return MetaTensor(even, affine=torch.as_tensor(out_affine), meta={"filename_or_obj": source.folder})


def _read_header(path: str) -> Dataset:
    """Read a data set with its pixel data deferred (read from the file only when decoded)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, defer_size=4096)
    except InvalidDicomError as e:
        raise CorruptFileError(path, f"not a readable DICOM file ({e})") from e
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptFileError(path, f"damaged or truncated DICOM file ({type(e).__name__}: {e})") from e
    eof = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if eof or len(ds) == 0:
        raise CorruptFileError(path, f"truncated DICOM file ({eof[0] if eof else 'no data elements'})")
    return ds


def _has_pixels(ds: Dataset) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _non_image_reason(ds: Dataset, path: str) -> InputError:
    """The error for a data set without pixel data: truncated or damaged image (corrupt) or a non-image object (SR...).

    Every DICOM object carries a SOP Class UID (type 1); bytes that parse without one are damaged, not an object.
    """
    sop = ds.get("SOPClassUID") or getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID")
    if not sop:
        return CorruptFileError(path, "damaged DICOM file: no SOP Class UID and no pixel data")
    kind = getattr(sop, "name", None) or str(sop or "unknown SOP class")
    if ("Rows" in ds and "Columns" in ds) or "Image Storage" in kind:
        return CorruptFileError(path, f"a DICOM image ({kind}) without pixel data: truncated file?")
    return InputError(path, f"DICOM object without pixel data ({kind}, modality {ds.get('Modality')}): not an image")


def _pydicom_pixels(ds: Dataset) -> np.ndarray:
    """Decode with pydicom's pixel handlers (pylibjpeg plugins for compressed transfer syntaxes)."""
    return ds.pixel_array


def _sitk_pixels(path: str) -> np.ndarray:
    """Decode one file with SimpleITK's GDCM; GDCM applies RescaleSlope/Intercept itself."""
    arr = sitk.GetArrayFromImage(sitk.ReadImage(path))
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


def _rescale(ds: Dataset) -> tuple[float, float] | None:
    """(slope, intercept) when the data set carries a rescale, else ``None``."""
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        return None
    return float(ds.get("RescaleSlope", 1.0) or 1.0), float(ds.get("RescaleIntercept", 0.0) or 0.0)


def decode_slice(ds: Dataset, path: str) -> np.ndarray:
    """Decode and rescale one data set's pixels: float32 (HU for CT) when it has a rescale, else its stored type.

    pydicom's handlers are tried first; where they cannot decode the transfer syntax (no plugin installed) or
    fail, SimpleITK's GDCM is tried.

    Args:
        ds: the data set (pixel data possibly deferred).
        path: its file, for the fallback and the error messages.

    Raises:
        MissingCodecError: no installed decoder reads the transfer syntax; names the package to install.
        CorruptFileError: a decoder exists but the pixel data are damaged or truncated.
    """
    if not _has_pixels(ds):
        raise _non_image_reason(ds, path)
    ts = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID") or pydicom.uid.ImplicitVRLittleEndian
    try:
        decoder_ok = get_decoder(ts).is_available
    except NotImplementedError:
        decoder_ok = False
    try:
        data = _pydicom_pixels(ds)
    except Exception as e:  # pydicom raises ValueError/RuntimeError/NotImplementedError/OSError, plugins more
        pydicom_error = e
    else:
        rescale = _rescale(ds)
        if rescale is None:
            return data
        return data.astype(np.float32) * np.float32(rescale[0]) + np.float32(rescale[1])
    if not ts.is_compressed and "PixelData" in ds:  # GDCM would pad short native data with zeros
        frames, samples = int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1) or 1)
        expected = int(ds.Rows) * int(ds.Columns) * frames * samples * int(ds.BitsAllocated) // 8
        stored = len(ds.PixelData or b"")
        if stored < expected:
            reason = f"truncated pixel data: {stored} bytes where the header announces {expected}"
            raise CorruptFileError(path, reason) from pydicom_error
    try:
        fallback = _sitk_pixels(path)
        return fallback.astype(np.float32) if _rescale(ds) is not None else fallback
    except RuntimeError as e:
        if not decoder_ok:
            raise MissingCodecError(
                path,
                f"pixel data compressed as {getattr(ts, 'name', ts)} and no installed decoder reads it "
                f"(pydicom: {pydicom_error}; GDCM: {str(e).strip().splitlines()[-1]}); "
                f"install one: {codec_install_hint(ts)}",
            ) from pydicom_error
        raise CorruptFileError(path, f"damaged or truncated pixel data ({pydicom_error})") from pydicom_error


def _fmt(values: Sequence[float]) -> str:
    """``(a, b, c)`` with up to 6 significant digits, as positions and orientations appear in messages."""
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


def _normal(ds: Dataset) -> np.ndarray | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return None
    return np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))


def _check_geometry(headers: list[Dataset], files: list[str]) -> None:
    """Refuse PixelSpacing that is not two finite positive values, and ImageOrientationPatient or
    ImagePositionPatient with NaN/Inf values or orientation vectors of zero length or parallel to each other."""
    for ds, where in zip(headers, files, strict=True):
        try:
            spacing = np.asarray(ds.get("PixelSpacing") or [1.0, 1.0], np.float64)
            iop = np.asarray(ds.get("ImageOrientationPatient") or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], np.float64)
            ipp = np.asarray(ds.get("ImagePositionPatient") or [0.0, 0.0, 0.0], np.float64)
        except (TypeError, ValueError) as e:
            raise GeometryError(where, f"unreadable PixelSpacing, orientation or position ({e})") from e
        if spacing.shape != (2,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise GeometryError(where, f"PixelSpacing {spacing.tolist()} must be two finite positive values")
        if iop.shape != (6,) or ipp.shape != (3,) or not np.all(np.isfinite(np.concatenate([iop, ipp]))):
            raise GeometryError(where, "ImageOrientationPatient/ImagePositionPatient hold NaN/Inf or too few values")
        row, col = np.linalg.norm(iop[:3]), np.linalg.norm(iop[3:])
        if min(row, col) < 1e-6 or np.linalg.norm(np.cross(iop[:3] / row, iop[3:] / col)) < 1e-3:
            raise GeometryError(where, f"ImageOrientationPatient {iop.tolist()}: zero-length or parallel directions")


class DicomSeriesReader(PydicomReader):
    """Read one DICOM file or one series out of a folder, in MONAI's RAS convention, CT in HU.

    The folder's files are grouped by SeriesInstanceUID. Several series are refused with
    :class:`~medtranslate.errors.MultipleSeriesError` (listing uid, description, number of slices) unless
    ``series_uid`` or ``series="largest"`` chooses one. Slices are ordered by ``ImagePositionPatient``
    projected on the normal of ``ImageOrientationPatient`` (file names and InstanceNumber play no part), so
    oblique and gantry-tilted series get the right affine: its third column is the step between slice
    positions. Slices whose ImageOrientationPatient differ are refused (``InputError``). Steps between
    positions that differ from the median step by more than ``max(0.01 mm, spacing_tolerance × spacing)``
    (missing slices, irregular spacing; dcm2niix and ITK use tolerances of this size), and a
    SpacingBetweenSlices that is not the positions' step (or a whole multiple of it: a subset of a series keeps
    its original value) are a spacing issue: warned (default), refused with ``irregular_spacing="raise"``
    (``DimensionError``, naming the series, the files and their positions) or left to the caller with
    ``"ignore"``; the affine uses the median step. SliceThickness is not checked: thicker (overlapping) or
    thinner (gapped) slices than their spacing are normal. Each slice's RescaleSlope/RescaleIntercept is applied
    (float32, HU for CT).

    Metadata added to MONAI's: ``source_format="dicom"``, ``modality``, ``series_uid``,
    ``series_description``, ``intensity_unit`` (``"HU"`` for rescaled CT, else ``"raw"``), ``n_slices``, and
    the :class:`DicomSource` (``dicom_*`` keys: each slice's position, file and UIDs, the orientation, the
    patient/study header, the spacing issue; see :meth:`DicomSource.from_meta`).

    Args:
        series_uid: SeriesInstanceUID to read from a folder holding several series.
        series: ``"largest"`` reads the series with most slices when several are present; ``None`` refuses.
        max_voxels: refuse (``DimensionError``) a series with more voxels than this, checked on the headers
            before any pixel is decoded.
        irregular_spacing: ``"warn"``, ``"raise"`` (``DimensionError``) or ``"ignore"`` (kept in the metadata
            only) for a spacing issue (see above).
        spacing_tolerance: tolerance on the steps between slices relative to the spacing (at least 0.01 mm);
            default 0.01.
        kwargs: passed to :class:`monai.data.PydicomReader` (e.g. ``channel_dim``).
    """

    def __init__(
        self,
        series_uid: str | None = None,
        series: str | None = None,
        max_voxels: int = DEFAULT_MAX_VOXELS,
        irregular_spacing: str = "warn",
        spacing_tolerance: float = 0.01,
        **kwargs,
    ) -> None:
        kwargs.setdefault("affine_lps_to_ras", True)
        kwargs.setdefault("swap_ij", True)
        kwargs.setdefault("prune_metadata", True)
        super().__init__(**kwargs)
        if series not in (None, "largest"):
            raise ValueError(f"series must be None or 'largest', got {series!r}.")
        if irregular_spacing not in ("warn", "raise", "ignore"):
            raise ValueError(f"irregular_spacing must be 'warn', 'raise' or 'ignore', got {irregular_spacing!r}.")
        self.series_uid = series_uid
        self.series = series
        self.max_voxels = int(max_voxels)
        self.irregular_spacing = irregular_spacing
        self.spacing_tolerance = float(spacing_tolerance)
        self.selected: SeriesInfo | None = None
        self._where = ""
        self._step: np.ndarray | None = None
        self._issue = ""
        self._even = True

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Whether every path is a DICOM file or a folder holding DICOM files, judged by content.

        Args:
            filename: file or folder name(s).
        """
        try:
            return all(sniff_format(f) == "dicom" for f in ensure_tuple(filename))
        except InputError:
            return False

    def scan_folder(self, folder: PathLike) -> list[SeriesInfo]:
        """Group a folder's DICOM files by series (headers only) without choosing one.

        Args:
            folder: the folder; its direct files are read, non-DICOM files are ignored.

        Raises:
            EmptyInputError: no DICOM file in the folder.
            InputError: DICOM files but none holding an image (e.g. only SR / RTSTRUCT objects).
        """
        folder = os.fspath(folder)
        groups: dict[str, SeriesInfo] = {}
        non_image: list[InputError] = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                continue
            try:
                if sniff_format(path) != "dicom":
                    continue
            except InputError:
                continue
            ds = _read_header(path)
            if not _has_pixels(ds):
                non_image.append(_non_image_reason(ds, path))
                continue
            uid = str(ds.get("SeriesInstanceUID", ""))
            info = groups.setdefault(
                uid, SeriesInfo(uid, str(ds.get("SeriesDescription", "")), ds.get("Modality") or None)
            )
            info.files.append(path)
            info.headers.append(ds)
        if not groups:
            if non_image:
                corrupt = [e for e in non_image if isinstance(e, CorruptFileError)]
                if corrupt:
                    raise corrupt[0]
                raise InputError(
                    folder,
                    f"holds {len(non_image)} DICOM file(s) but none with pixel data (first: {non_image[0].reason})",
                )
            raise EmptyInputError(folder, "the folder holds no DICOM file")
        return sorted(groups.values(), key=lambda s: (-len(s.files), s.uid))

    def _choose(self, folder: str, found: list[SeriesInfo]) -> SeriesInfo:
        """Pick the series named by ``series_uid`` / ``series``; refuse when several remain."""
        if self.series_uid is not None:
            for info in found:
                if info.uid == self.series_uid:
                    return info
            listing = "; ".join(s.summary() for s in found)
            raise InputError(folder, f"no series with SeriesInstanceUID {self.series_uid}; found: {listing}")
        if len(found) == 1 or self.series == "largest":
            return found[0]  # scan_folder sorts the largest first
        listing = "; ".join(s.summary() for s in found)
        raise MultipleSeriesError(
            folder, f"{len(found)} series found, choose one with series_uid=... or series='largest': {listing}"
        )

    def _order(self, info: SeriesInfo, where: str) -> SeriesInfo:
        """Sort the slices by position along the slice normal and check that they form one volume."""
        headers, files = info.headers, info.files
        shapes = {(int(ds.Rows), int(ds.Columns)) for ds in headers}
        if len(shapes) > 1:
            raise DimensionError(where, f"slices of different sizes {sorted(shapes)} in one series")
        normals = [_normal(ds) for ds in headers]
        positions = [ds.get("ImagePositionPatient") for ds in headers]
        if len(headers) > 1 and all(n is not None for n in normals) and all(p is not None for p in positions):
            iops = np.array([[float(v) for v in ds.ImageOrientationPatient] for ds in headers])
            differ = np.flatnonzero(np.abs(iops - iops[0]).max(axis=1) > _ORIENTATION_TOLERANCE)
            if differ.size:
                k = int(differ[0])
                raise InputError(
                    where,
                    f"series {info.uid or '<no SeriesInstanceUID>'}: slices with different orientations in one "
                    f"series (localizer mixed in?): {os.path.basename(files[0])} has ImageOrientationPatient "
                    f"{_fmt(iops[0])}, {os.path.basename(files[k])} has {_fmt(iops[k])} "
                    f"({differ.size} of {len(headers)} slices differ)",
                )
            proj = np.array([float(np.dot(np.asarray(p, float), normals[0])) for p in positions])
            order = np.argsort(proj, kind="stable")
            proj = proj[order]
            if np.any(np.isclose(np.diff(proj), 0.0, atol=1e-4)):
                raise InputError(
                    where,
                    "several slices share one position (several acquisitions, echoes or time points in one "
                    "series); split them into separate folders",
                )
        elif len(headers) > 1:
            warnings.warn(
                f"{where}: slices lack ImagePositionPatient/ImageOrientationPatient; ordered by InstanceNumber, "
                "the slice spacing is unknown (1 mm assumed)",
                stacklevel=3,
            )
            order = np.argsort([int(ds.get("InstanceNumber", i)) for i, ds in enumerate(headers)], kind="stable")
        else:
            order = np.arange(1)
        return SeriesInfo(
            info.uid, info.description, info.modality, [files[i] for i in order], [headers[i] for i in order]
        )

    def _spacing(self, info: SeriesInfo) -> tuple[np.ndarray | None, str, bool]:
        """``(step, issue, even)``: the median step between slices (LPS, mm; ``None`` without positions), the
        spacing issue in one line (``""`` when none, see the class doc) and whether the positions are even."""
        headers, files = info.headers, info.files
        if len(headers) < 2 or any("ImagePositionPatient" not in ds for ds in headers):
            return None, "", True
        pos = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in headers])
        steps = np.diff(pos, axis=0)
        step = np.median(steps, axis=0)
        spacing = float(np.linalg.norm(step))
        tol = max(_MIN_SPACING_TOLERANCE_MM, self.spacing_tolerance * spacing)
        gaps = np.linalg.norm(steps, axis=1)
        bad = np.flatnonzero(np.linalg.norm(steps - step, axis=1) > tol)
        problems = []
        if bad.size:
            multiples = np.round(gaps[bad] / spacing)
            whole = (multiples >= 2) & (
                np.linalg.norm(steps[bad] - multiples[:, None] * step, axis=1) <= tol * np.maximum(multiples, 1)
            )
            missing = int(np.sum(multiples - 1)) if whole.all() else 0
            kind = f"about {missing} missing slice(s)" if missing else "inconsistent slice spacing"
            detail = "; ".join(
                f"{gaps[i]:.4g} mm between {os.path.basename(files[i])} at {_fmt(pos[i])} and "
                f"{os.path.basename(files[i + 1])} at {_fmt(pos[i + 1])}"
                for i in bad[:3]
            )
            more = f" (and {bad.size - 3} more gaps)" if bad.size > 3 else ""
            problems.append(f"{kind}: the slices are {spacing:.4g} mm apart (median) but {detail}{more}")
        stated = sorted({abs(float(ds.SpacingBetweenSlices)) for ds in headers if ds.get("SpacingBetweenSlices")})
        stated = [v for v in stated if v > 0]
        if len(stated) > 1 and stated[-1] - stated[0] > tol:
            problems.append(f"SpacingBetweenSlices differs between slices ({', '.join(f'{v:g}' for v in stated)} mm)")
        elif stated and abs(spacing - max(round(spacing / stated[0]), 1) * stated[0]) > tol:
            problems.append(
                f"SpacingBetweenSlices says {stated[0]:g} mm but the positions are {spacing:.4g} mm apart "
                "(nor a whole multiple of it)"
            )
        issue = f"series {info.uid or '<no SeriesInstanceUID>'}: {'; '.join(problems)}" if problems else ""
        return step, issue, not bad.size

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs):
        """Read the headers of one DICOM file or of the chosen series of a folder; pixels stay on disk.

        Args:
            data: one file or one folder (a 1-sequence as ``LoadImage`` passes it).
            kwargs: unused; kept for MONAI's ``ImageReader.read`` signature.

        Returns:
            a data set (single file) or the ordered list of data sets of the series.

        Raises:
            InputError: several paths, or a non-image DICOM; subclasses for the other causes (see class doc).
        """
        paths = ensure_tuple(data)
        if len(paths) != 1:
            raise InputError(str(paths[0]) if paths else None, "pass one DICOM file or one series folder at a time")
        where = os.fspath(paths[0])
        if Path(where).is_dir():
            chosen = self._choose(where, self.scan_folder(where))
            _check_geometry(chosen.headers, chosen.files)
            info = self._order(chosen, where)
            self._step, self._issue, self._even = self._spacing(info)
            if self._issue and self.irregular_spacing == "raise":
                raise DimensionError(where, self._issue)
            if self._issue and self.irregular_spacing == "warn":
                approximate = "" if self._even else ", so the volume's affine (the median step) is only approximate"
                warnings.warn(f"{where}: {self._issue}; the positions are used{approximate}", stacklevel=2)
        else:
            self._step, self._issue, self._even = None, "", True
            ds = _read_header(where)
            if not _has_pixels(ds):
                raise _non_image_reason(ds, where)
            _check_geometry([ds], [where])
            info = SeriesInfo(
                str(ds.get("SeriesInstanceUID", "")),
                str(ds.get("SeriesDescription", "")),
                ds.get("Modality") or None,
                [where],
                [ds],
            )
        frames = int(info.headers[0].get("NumberOfFrames", 1) or 1)
        voxels = int(info.headers[0].Rows) * int(info.headers[0].Columns) * frames * len(info.files)
        if voxels > self.max_voxels:
            raise DimensionError(where, f"{voxels} voxels exceed the limit of {self.max_voxels} (max_voxels)")
        self.selected = info
        self._where = where
        self.has_series = len(info.files) > 1
        self.filenames = [info.files] if self.has_series else list(info.files)
        return info.headers if self.has_series else info.headers[0]

    def _get_meta_dict(self, img) -> dict:
        """Geometry tags only, as ``PydicomReader(prune_metadata=True)`` keeps them, without serialising pixels.

        Args:
            img: a pydicom data set.
        """
        small = Dataset()
        for tag in _GEOMETRY_TAGS:
            if tag in img:
                small.add(img[tag])
        return small.to_json_dict()

    def _get_array_data(self, img, filename):
        """Decoded, rescaled pixels of one data set; multi-frame stacks put their frames last.

        Args:
            img: a pydicom data set.
            filename: its file.
        """
        data = decode_slice(img, os.fspath(filename))
        if int(img.get("NumberOfFrames", 1) or 1) > 1:
            data = np.moveaxis(data, 0, -1)
        return data

    def _combine_dicom_series(self, data, filenames):
        """Stack the (already ordered) slices along the last axis; the step between positions sets the affine.

        Args:
            data: the ordered data sets of one series.
            filenames: their files.
        """
        stack = np.stack([self._get_array_data(ds, f) for ds, f in zip(data, filenames, strict=True)], axis=-1)
        first = data[0]
        metadata = self._get_meta_dict(first)
        if self._step is not None:
            # PydicomReader._get_affine derives the third affine column from the last position
            metadata["lastImagePositionPatient"] = np.asarray(first.ImagePositionPatient, float) + self._step * (
                len(data) - 1
            )
        metadata["spatial_shape"] = stack.shape
        return stack, metadata

    def get_data(self, data) -> tuple[np.ndarray, dict]:
        """Decode the pixels and build MONAI's metadata (affine in RAS) plus ours (see the class doc).

        Args:
            data: what :meth:`read` returned.
        """
        array, meta = super().get_data(data)
        info = self.selected
        rescaled = any(_rescale(ds) is not None for ds in info.headers)
        meta.update(
            source_format="dicom",
            modality=info.modality,
            series_uid=info.uid,
            series_description=info.description,
            intensity_unit="HU" if info.modality == "CT" and rescaled else "raw",
            n_slices=len(info.files),
        )
        meta.update(DicomSource.from_series(self._where, info, meta["affine"], self._issue, self._even).to_meta())
        return array, meta
