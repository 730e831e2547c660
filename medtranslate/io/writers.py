"""Writers for NIfTI volumes, PNG slices and DICOM series; every file goes through :mod:`medtranslate.io.atomic`.

Conventions (see ``docs/design.md``):

- Inputs are channel-first ``MetaTensor``/tensor/array images in MONAI's spatial order, ``(C, X, Y, Z)`` or
  ``(X, Y, Z)`` (``(C, X, Y)`` / ``(X, Y)`` in 2D); the affine is MONAI's RAS world affine, taken from
  ``image.affine`` unless given.
- **NIfTI** stores RAS, so the affine is written as it is (qform and sform, code 1 "scanner").
- **PNG** follows MONAI's ``PILWriter``/``PILReader`` convention: a 2D ``(X, Y)`` array is written transposed,
  PNG row ``r`` column ``c`` = ``image[c, r]``, so reading it back with MONAI gives the same array.
  :func:`write_png_slices` first reorients the volume to LPS voxel order (columns run to the patient's left,
  rows to posterior, slices upward), which makes every PNG a *radiological* axial view (patient's right on the
  image's left, anterior at the top) whatever the volume's orientation, and the same picture a DICOM viewer shows.
- **DICOM** stores LPS: the RAS affine is converted with ``diag(-1, -1, 1)``, the volume is reoriented to the
  closest LPS voxel order (standard axial slices), and DICOM pixel row ``r`` column ``c`` of slice ``k`` is voxel
  ``(c, r, k)``: ``ImageOrientationPatient`` = (direction of X, direction of Y),
  ``PixelSpacing`` = (Y spacing, X spacing). Readers (pydicom + MONAI, SimpleITK) recover the same geometry.
  A series derived from a DICOM source (``source=``, a :class:`~medtranslate.io.DicomSource` from the image's
  metadata) keeps the source's voxel order and writes each slice at its source slice's position.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import nibabel as nib
import numpy as np
import torch
from nibabel import orientations as nio
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from medtranslate import __version__ as version
from medtranslate.errors import DimensionError, EmptyInputError, InputError, NonFiniteError
from medtranslate.io.atomic import atomic_dir, atomic_write, check_output_path
from medtranslate.io.dicom import PATIENT_STUDY_TAGS, DicomSource

__all__ = [
    "PATIENT_STUDY_TAGS",
    "reorient_to",
    "write_dicom_series",
    "write_nifti",
    "write_png",
    "write_png_slices",
]

PathLike = str | os.PathLike

_SOP_CLASSES = {"MR": MRImageStorage, "CT": CTImageStorage, "SC": SecondaryCaptureImageStorage}
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
# ImageType value 3 where the IOD asks for one: MR Image requires it (OTHER: none of the MR defined terms fits a
# computed image), CT's AXIAL as the CT Image IOD defines it
_IMAGE_TYPE_VALUE3 = {"MR": "OTHER", "CT": "AXIAL"}
# PurposeOfReferenceCodeSequence of a derived image's source (DCM, CID 7202 Source Image Purposes of Reference)
_SOURCE_PURPOSE = ("121322", "Source image for image processing operation")


def _as_numpy(image: Any) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().numpy()
    return np.asarray(image)


def _meta_affine(image: Any, affine: Any) -> np.ndarray | None:
    """The affine given, else ``image.affine`` for a MetaTensor, else None; as float64 numpy."""
    if affine is None:
        affine = getattr(image, "affine", None)
    if affine is None:
        return None
    return _as_numpy(affine).astype(np.float64)


def _spatial_dims(image: Any, affine: np.ndarray | None) -> int | None:
    """Spatial rank from ``meta["spatial_shape"]`` or a 3×3 affine; None when it has to come from ``ndim``."""
    meta = getattr(image, "meta", None)
    if isinstance(meta, Mapping) and meta.get("spatial_shape") is not None:
        return len(np.atleast_1d(_as_numpy(meta["spatial_shape"])))
    if affine is not None and affine.shape == (3, 3):
        return 2
    return None


def _channel_last(image: Any, affine: np.ndarray | None, name: PathLike) -> tuple[np.ndarray, int]:
    """Return ``(array, spatial_dims)``: spatial axes first and, for several channels, channels last."""
    data = _as_numpy(image)
    spatial = _spatial_dims(image, affine)
    if spatial is None:
        spatial = {2: 2, 3: 3, 4: 3}.get(data.ndim)
    if spatial not in (2, 3) or data.ndim not in (spatial, spatial + 1):
        raise DimensionError(name, f"expected (C, X, Y[, Z]) or (X, Y[, Z]) image, got shape {tuple(data.shape)}")
    if data.ndim == spatial + 1:
        data = data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)
    return data, spatial


def _affine_4x4(affine: np.ndarray | None) -> np.ndarray:
    out = np.eye(4)
    if affine is None:
        return out
    if affine.shape == (3, 3):
        out[:2, :2], out[:2, 3] = affine[:2, :2], affine[:2, 2]
        return out
    if affine.shape != (4, 4):
        raise DimensionError(None, f"affine must be 3×3 or 4×4, got {affine.shape}")
    return affine.copy()


def _check_finite(data: np.ndarray, name: PathLike) -> None:
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise NonFiniteError(name, "the image holds NaN or Inf values")


def reorient_to(data: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Reorient the first three axes of ``data`` (RAS ``affine``) to the closest ``axcodes`` voxel order.

    Same operation as MONAI's ``Orientation(axcodes=...)`` on a numpy array: axes are permuted and flipped, never
    resampled, and the returned affine describes the same physical grid.

    Args:
        data: array whose first three axes are spatial.
        affine: 4×4 RAS affine of ``data``.
        axcodes: target codes such as ``"LPS"`` or ``"RAS"``.
    """
    current = nio.io_orientation(affine)
    transform = nio.ornt_transform(current, nio.axcodes2ornt(tuple(axcodes)))
    out = nio.apply_orientation(data, transform)
    return np.ascontiguousarray(out), affine @ nio.inv_ornt_aff(transform, data.shape[:3])


def write_nifti(
    image: Any,
    path: PathLike,
    affine: Any = None,
    dtype: Any = None,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    int16_range: tuple[float, float] | None = None,
) -> Path:
    """Write an image as NIfTI-1 (``.nii`` or ``.nii.gz``, chosen by the extension), atomically.

    Args:
        image: ``MetaTensor``, tensor or array, ``(1, X, Y, Z)``, ``(X, Y, Z)``, ``(C, X, Y, Z)`` (channels become
            the 4th NIfTI dimension) or 2D ``(X, Y)`` / ``(1, X, Y)`` (2D is recognised from a 3×3 affine or
            ``meta["spatial_shape"]``; otherwise a 3D array is a volume).
        path: output file.
        affine: RAS affine (3×3 for 2D or 4×4); default ``image.affine``, else identity. Written unchanged as
            qform and sform (the header keeps float32, so values not exact in float32 are rounded there).
        dtype: stored data type; default the image's own (``bool`` is stored as ``uint8``).
        overwrite: replace an existing file.
        protect: input paths that must never be written over.
        int16_range: ``(lo, hi)``: store the values (clipped to the range) as int16 0..32767 with
            ``scl_slope = (hi - lo) / 32767`` and ``scl_inter = lo``, which every NIfTI reader applies: within
            ``(hi - lo) / 65534`` of the float values (1.5e-5 on [0, 1]), half the bytes of float32 and 2-3× faster
            to compress. ``dtype`` is then ignored.

    Returns:
        the written path.
    """
    matrix = _meta_affine(image, affine)
    data, _ = _channel_last(image, matrix, path)
    _check_finite(data, path)
    scale: tuple[float, float] | None = None
    if int16_range is not None:
        lo, hi = (float(v) for v in int16_range)
        scale = ((hi - lo) / 32767, lo)
        data = np.rint((np.clip(data, lo, hi) - lo) / scale[0]).astype(np.int16)
        dtype = np.int16
    target_dtype = np.dtype(dtype) if dtype is not None else (np.dtype(np.uint8) if data.dtype == bool else data.dtype)
    data = np.asarray(data, dtype=target_dtype)
    matrix = _affine_4x4(matrix)
    nii = nib.Nifti1Image(data, matrix, dtype=target_dtype)
    if scale is not None:
        nii.header.set_slope_inter(*scale)
    nii.header.set_qform(matrix, code=1)
    nii.header.set_sform(matrix, code=1)
    nii.header.set_xyzt_units("mm", "sec")
    with atomic_write(path, overwrite=overwrite, protect=protect) as tmp:
        nib.save(nii, tmp)
    return Path(path)


def _to_uint(
    data: np.ndarray, bit_depth: int, value_range: tuple[float, float] | None, name: PathLike
) -> np.ndarray:
    """Map ``value_range`` (default the data's min/max) linearly to ``0..2**bit_depth - 1``, clipping outside."""
    if bit_depth not in (8, 16):
        raise InputError(name, f"bit_depth must be 8 or 16, got {bit_depth}")
    _check_finite(data, name)
    out_dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = float(np.iinfo(out_dtype).max)
    if value_range is None:
        if data.dtype == out_dtype:
            return data
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    else:
        lo, hi = float(value_range[0]), float(value_range[1])
        if not hi > lo:
            raise InputError(name, f"value_range must have hi > lo, got {value_range}")
    if hi <= lo:
        return np.zeros(data.shape, out_dtype)
    scaled = (data.astype(np.float64) - lo) * (top / (hi - lo))
    return np.clip(np.rint(scaled), 0, top).astype(out_dtype)


def _save_png(plane_xy: np.ndarray, path: PathLike, overwrite: bool, protect: Iterable[PathLike]) -> Path:
    pixels = np.ascontiguousarray(plane_xy.T)  # MONAI (X, Y) -> PIL (rows = Y, columns = X)
    with atomic_write(path, overwrite=overwrite, protect=protect) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    return Path(path)


def write_png(
    image2d: Any,
    path: PathLike,
    bit_depth: int = 8,
    value_range: tuple[float, float] | None = None,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write one 2D image as an 8- or 16-bit grayscale PNG, atomically.

    The array is in MONAI's ``(X, Y)`` order and is transposed for PIL, exactly like MONAI's ``PILWriter``:
    MONAI's ``PILReader`` reads the file back as the same ``(X, Y)`` array.

    Args:
        image2d: ``(X, Y)`` or ``(1, X, Y)`` array/tensor.
        path: output ``.png`` file.
        bit_depth: 8 (mode ``L``) or 16 (mode ``I;16``).
        value_range: ``(lo, hi)`` mapped linearly to ``0..255`` / ``0..65535`` with clipping; default the image's
            own min/max (an image already ``uint8``/``uint16`` matching ``bit_depth`` is written as it is).
        overwrite: replace an existing file.
        protect: input paths that must never be written over.

    Returns:
        the written path.
    """
    data = _as_numpy(image2d)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise DimensionError(path, f"expected a (X, Y) or (1, X, Y) image, got shape {tuple(data.shape)}")
    return _save_png(_to_uint(data, bit_depth, value_range, path), path, overwrite, protect)


def write_png_slices(
    volume: Any,
    out_dir: PathLike,
    prefix: str,
    bit_depth: int = 8,
    value_range: tuple[float, float] | None = None,
    affine: Any = None,
    radiological: bool = True,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> list[Path]:
    """Write each axial slice of a volume as ``<out_dir>/<prefix>_z<NNN>.png`` (inferior to superior).

    Indices are zero-padded to at least three digits so names sort in slice order. One intensity mapping is used
    for the whole volume, so slices stay comparable. All targets are checked before the first file is written,
    and files written by a call that then fails are removed.

    Args:
        volume: ``(1, X, Y, Z)`` or ``(X, Y, Z)`` MetaTensor/tensor/array.
        out_dir: output folder (created if missing; other files in it are left alone).
        prefix: file-name prefix, e.g. ``"subject_003"``.
        bit_depth: 8 or 16.
        value_range: ``(lo, hi)`` mapped to the full PNG range with clipping; default the volume's min/max.
        affine: RAS affine; default ``volume.affine``, else identity (the array is taken as RAS).
        radiological: reorient to LPS voxel order first so each PNG is a radiological axial view (see the module
            docstring); False writes the last-axis slices in the array's own order (MONAI's ``PILWriter`` view).
        overwrite: replace existing files.
        protect: input paths that must never be written over.

    Returns:
        the written paths in slice order.
    """
    matrix = _meta_affine(volume, affine)
    data, spatial = _channel_last(volume, matrix, out_dir)
    if spatial != 3 or data.ndim != 3:
        raise DimensionError(out_dir, f"expected a single-channel 3D volume, got shape {tuple(data.shape)}")
    if radiological:
        data, _ = reorient_to(data, _affine_4x4(matrix), "LPS")
    pixels = _to_uint(data, bit_depth, value_range, out_dir)
    width = max(3, len(str(pixels.shape[2] - 1)))
    folder = Path(out_dir)
    targets = [folder / f"{prefix}_z{k:0{width}d}.png" for k in range(pixels.shape[2])]
    for target in targets:
        check_output_path(target, overwrite=overwrite, protect=protect)
    written: list[Path] = []
    try:
        for k, target in enumerate(targets):
            written.append(_save_png(pixels[:, :, k], target, overwrite, protect))
    except BaseException:
        if not overwrite:
            for done in written:
                done.unlink(missing_ok=True)
        raise
    return written


def _ds(value: float) -> DSfloat:
    """A decimal string that fits DICOM's 16 characters; use ``float()`` of it for arithmetic."""
    return DSfloat(float(value), auto_format=True)


def _dicom_source(source: Any) -> DicomSource:
    """``source`` as a :class:`DicomSource`: as given, from a ``MetaTensor``'s metadata, or read from a path."""
    if isinstance(source, DicomSource):
        return source
    if isinstance(source, Mapping):
        found = DicomSource.from_meta(dict(source))
        if found is None:
            raise InputError(None, "source metadata do not come from a DICOM series (no dicom_* entries)")
        return found
    if isinstance(source, (str, os.PathLike)):
        from medtranslate.io.loading import LoadMedicalImage  # loading imports the readers, not the writers

        return DicomSource.from_meta(LoadMedicalImage(irregular_spacing="ignore")(source).meta)
    raise InputError(None, f"source must be a DICOM path, DicomSource or DICOM metadata, got {type(source).__name__}")


def _rescale(
    data: np.ndarray, pixel_dtype: np.dtype, rescale: tuple[float, float] | None
) -> tuple[np.ndarray, DSfloat, DSfloat]:
    """Stored integers and (slope, intercept) such that ``value ≈ stored * slope + intercept``."""
    info = np.iinfo(pixel_dtype)
    lo, hi = float(data.min()), float(data.max())
    if rescale is not None:
        slope, intercept = _ds(rescale[0]), _ds(rescale[1])
        if float(slope) <= 0:
            raise InputError(None, f"rescale slope must be positive, got {rescale[0]}")
    elif np.array_equal(data, np.rint(data)) and lo >= info.min and hi <= info.max:
        slope, intercept = _ds(1.0), _ds(0.0)
    else:
        slope = _ds((hi - lo) / (float(info.max) - float(info.min)) if hi > lo else 1.0)
        intercept = _ds(lo - float(info.min) * float(slope))
    stored = np.rint((data.astype(np.float64) - float(intercept)) / float(slope))
    return np.clip(stored, info.min, info.max).astype(pixel_dtype), slope, intercept


class _Grid(NamedTuple):
    """Where the slices of a series go (LPS, mm): direction cosines of rows and columns, PixelSpacing (between
    rows, between columns), each slice's ImagePositionPatient, the step between slices (``None`` when the
    positions are not evenly spaced), SliceThickness, and the source slice of each slice (or ``None``)."""

    row_dir: np.ndarray
    col_dir: np.ndarray
    pixel_spacing: tuple[float, float]
    positions: np.ndarray
    step: float | None
    thickness: float
    source_index: np.ndarray | None


def _slice_geometry(affine_lps: np.ndarray, name: PathLike) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Row/column direction cosines and spacings of an LPS affine; refuses shears DICOM cannot store."""
    col_x, col_y, col_z = (affine_lps[:3, i] for i in range(3))
    sx, sy, sz = (float(np.linalg.norm(c)) for c in (col_x, col_y, col_z))
    if min(sx, sy, sz) <= 0:
        raise InputError(name, "the affine has a zero-length axis")
    dir_x, dir_y, dir_z = col_x / sx, col_y / sy, col_z / sz
    if abs(float(dir_x @ dir_y)) > 1e-4 or abs(float(np.cross(dir_x, dir_y) @ dir_z)) < 1 - 1e-4:
        raise InputError(name, "the affine is sheared; a DICOM series cannot store it (resample first)")
    return dir_x, dir_y, sx, sy, sz


def _affine_grid(data: np.ndarray, affine_ras: np.ndarray, name: PathLike) -> tuple[np.ndarray, _Grid]:
    """The volume in the closest LPS voxel order (standard axial slices) and its grid, from the affine alone."""
    data, affine_ras = reorient_to(data, affine_ras, "LPS")
    affine_lps = _RAS_TO_LPS @ affine_ras
    dir_x, dir_y, sx, sy, sz = _slice_geometry(affine_lps, name)
    positions = affine_lps[:3, 3] + np.arange(data.shape[2])[:, None] * affine_lps[:3, 2]
    return data, _Grid(dir_x, dir_y, (sy, sx), positions, sz, sz, None)


def _source_grid(
    data: np.ndarray, affine_ras: np.ndarray, source: DicomSource, name: PathLike
) -> tuple[np.ndarray, _Grid]:
    """The volume in the source series' voxel order and its grid: every slice at its source slice's true position
    (:meth:`DicomSource.slice_positions`), with the source's orientation, spacing and thickness."""
    data, affine_ras = reorient_to(data, affine_ras, "".join(nio.aff2axcodes(source.affine)))
    index, positions = source.slice_positions(affine_ras, data.shape[2], name)
    lps = _RAS_TO_LPS @ source.affine
    sx, sy = (float(np.linalg.norm(lps[:3, i])) for i in range(2))
    row_dir, col_dir = lps[:3, 0] / sx, lps[:3, 1] / sy
    spacing = abs(float(lps[:3, 2] @ np.cross(row_dir, col_dir)))  # along the normal (a gantry tilt shifts in-plane)
    thickness = float(source.header.get("SliceThickness") or spacing)
    step = spacing if source.even else None
    return data, _Grid(row_dir, col_dir, (sy, sx), positions, step, thickness, index)


def _code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _add_series_references(base: Dataset, source: DicomSource) -> None:
    """RelatedSeriesSequence (General Series): the source series, as the source of an image processing operation."""
    related = Dataset()
    related.StudyInstanceUID = str(source.header.get("StudyInstanceUID", ""))
    related.SeriesInstanceUID = source.series_uid
    related.PurposeOfReferenceCodeSequence = [_code(*_SOURCE_PURPOSE)]
    base.RelatedSeriesSequence = [related]


def _add_slice_references(ds: Dataset, base: Dataset, source: DicomSource, k: int) -> None:
    """SourceImageSequence (the source slice ``k``) and its Common Instance Reference entry (same or other study)."""
    item = Dataset()
    item.ReferencedSOPClassUID = source.sop_class_uids[k]
    item.ReferencedSOPInstanceUID = source.sop_instance_uids[k]
    item.PurposeOfReferenceCodeSequence = [_code(*_SOURCE_PURPOSE)]
    ds.SourceImageSequence = [item]
    instance = Dataset()
    instance.ReferencedSOPClassUID = item.ReferencedSOPClassUID
    instance.ReferencedSOPInstanceUID = item.ReferencedSOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = source.series_uid
    series.ReferencedInstanceSequence = [instance]
    study_uid = str(source.header.get("StudyInstanceUID", ""))
    if study_uid == str(base.StudyInstanceUID):
        ds.ReferencedSeriesSequence = [series]
    else:
        study = Dataset()
        study.StudyInstanceUID = study_uid
        study.ReferencedSeriesSequence = [series]
        ds.StudiesContainingOtherReferencedInstancesSequence = [study]


def _laterality(source: DicomSource | None) -> str:
    """ImageLaterality: the source's (image or series laterality), else ``U`` (unpaired: a head)."""
    if source is not None:
        for keyword in ("ImageLaterality", "Laterality"):
            if source.header.get(keyword):
                return str(source.header.get(keyword))
    return "U"


def _value_mapping(slope: DSfloat, intercept: DSfloat, stored: np.ndarray) -> Dataset:
    """RealWorldValueMappingSequence item: how stored MR values map to intensities (the MR IOD has no rescale)."""
    item = Dataset()
    item.RealWorldValueFirstValueMapped = int(stored.min())
    item.RealWorldValueLastValueMapped = int(stored.max())
    item.RealWorldValueSlope, item.RealWorldValueIntercept = float(slope), float(intercept)
    item.LUTExplanation = f"intensity = stored value * {slope} + {intercept}"
    item.LUTLabel = "INTENSITY"
    item.MeasurementUnitsCodeSequence = [_code("1", "no units", "UCUM")]
    return item


def write_dicom_series(
    volume: Any,
    out_dir: PathLike,
    *,
    affine: Any = None,
    modality: str = "MR",
    series_description: str = "medtranslate output",
    source: Any = None,
    copy_patient_tags: bool = False,
    synthetic: bool = True,
    sop_class: str | None = None,
    pixel_dtype: str | None = None,
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    series_number: int = 1001,
    derivation: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    uid_entropy: Sequence[str] | None = None,
    content_datetime: _dt.datetime | None = None,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> list[Path]:
    """Write a volume as a single-frame DICOM series, one file per slice, in a folder that appears whole.

    Files are ``<out_dir>/slice_<NNNN>.dcm`` (ascending along the slice normal), Part 10 with explicit VR little
    endian, 16-bit ``MONOCHROME2``. Each call makes a new ``SeriesInstanceUID`` and new ``SOPInstanceUID``\\ s.

    Geometry: with a ``source`` series the volume keeps the source's voxel order and each slice is written at its
    source slice's ``ImagePositionPatient`` (also when the source's slices are unevenly spaced; then no
    ``SpacingBetweenSlices`` is written) with the source's orientation, PixelSpacing and SliceThickness. Without
    one the geometry comes from the RAS affine converted to LPS (module docstring), the volume reoriented to
    standard axial slices; oblique affines are kept, sheared ones refused.

    Values: CT and Secondary Capture store ``RescaleSlope``/``RescaleIntercept``; the MR Image IOD has no rescale,
    so MR values are stored so that ``value ≈ stored * slope + intercept`` is given by a
    ``RealWorldValueMappingSequence`` (and the ``ImageComments`` when not the identity).

    Honesty and references: with ``synthetic=True`` (default) ``ImageType`` is ``DERIVED\\SECONDARY`` (+
    ``OTHER`` for MR, ``AXIAL`` for CT), ``SeriesDescription`` starts with ``SYNTHETIC``, ``ImageComments`` and
    ``DerivationDescription`` say the image is computed, not acquired. With a ``source`` each slice lists its
    source slice in ``SourceImageSequence`` (purpose DCM 121322 "Source image for image processing operation")
    and in the Common Instance Reference module, and ``RelatedSeriesSequence`` names the source series.
    ``BurnedInAnnotation`` is ``NO``. Patient-identifying attributes are never copied unless
    ``copy_patient_tags=True``; otherwise the patient is ``ANONYMOUS`` and the study and frame of reference are
    new.

    Args:
        volume: ``(1, X, Y, Z)`` or ``(X, Y, Z)`` MetaTensor/tensor/array in real-world units (HU for CT).
        out_dir: the series folder to create.
        affine: RAS affine; default ``volume.affine``, else identity.
        modality: DICOM ``Modality`` (``"MR"``, ``"CT"``, ...).
        series_description: ``SeriesDescription`` (``"SYNTHETIC "`` is prepended when synthetic and missing).
        source: the DICOM series the volume was computed from, on its voxel grid: a
            :class:`~medtranslate.io.DicomSource`, the metadata of the image loaded from it (``image.meta``), or
            its folder/file (read again). Its folder is protected from writing.
        copy_patient_tags: copy :data:`PATIENT_STUDY_TAGS` from ``source`` (same patient, study and frame of
            reference); requires ``source``.
        synthetic: mark the series as synthetic (see above); False writes ``ORIGINAL\\PRIMARY``.
        sop_class: ``"MR"`` (MR Image Storage), ``"CT"`` (CT Image Storage) or ``"SC"`` (Secondary Capture);
            default from ``modality`` (``SC`` for other modalities).
        pixel_dtype: ``"int16"`` or ``"uint16"``; default ``int16`` for CT, ``uint16`` otherwise.
        rescale: ``(slope, intercept)`` with ``value = stored * slope + intercept``, e.g. ``(1, -1024)`` for CT in
            HU; values outside the stored range are clipped. Default: slope 1 / intercept 0 for integer data that
            fit, else the data range spread over the whole integer range (error ≤ slope / 2).
        window: ``(center, width)`` in value units for ``WindowCenter``/``WindowWidth`` (stored units for MR,
            converted); default the data range.
        series_number: ``SeriesNumber``.
        derivation: ``DerivationDescription`` (how the images were made); default says medtranslate made them.
        extra_tags: keyword → value set on every slice last (e.g. ``{"PatientID": "PHANTOM_001"}``).
        uid_entropy: strings from which all UIDs are derived deterministically (reproducible files); default
            random UIDs.
        content_datetime: ``SeriesDate``/``ContentDate``/times; default now (set it for reproducible files).
        overwrite: replace an existing ``out_dir``.
        protect: input paths that must never be written over.

    Returns:
        the written files in slice order.
    """
    matrix = _affine_4x4(_meta_affine(volume, affine))
    data, spatial = _channel_last(volume, matrix, out_dir)
    if spatial == 2 and data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise DimensionError(out_dir, f"expected a single-channel 3D volume, got shape {tuple(data.shape)}")
    _check_finite(data, out_dir)
    if data.size == 0:
        raise EmptyInputError(out_dir, "the volume is empty")
    sop_key = sop_class or (modality if modality in ("MR", "CT") else "SC")
    if sop_key not in _SOP_CLASSES:
        raise InputError(out_dir, f"sop_class must be one of {sorted(_SOP_CLASSES)}, got {sop_class!r}")
    if copy_patient_tags and source is None:
        raise InputError(out_dir, "copy_patient_tags=True needs a source series")
    dtype = np.dtype(pixel_dtype or ("int16" if modality == "CT" else "uint16"))
    if dtype not in (np.dtype("int16"), np.dtype("uint16")):
        raise InputError(out_dir, f"pixel_dtype must be int16 or uint16, got {pixel_dtype}")
    src = _dicom_source(source) if source is not None else None
    guarded = [*protect, *([src.folder] if src is not None else [])]
    data, grid = _affine_grid(data, matrix, out_dir) if src is None else _source_grid(data, matrix, src, out_dir)
    stored, slope, intercept = _rescale(data, dtype, rescale)

    def uid(*parts: str) -> str:
        return generate_uid(entropy_srcs=[*uid_entropy, *parts]) if uid_entropy is not None else generate_uid()

    when = content_datetime or _dt.datetime.now()
    base = _series_base(
        sop_key, modality, synthetic, series_description, series_number, src, copy_patient_tags, when, uid
    )
    base.DerivationDescription = derivation or _default_derivation(synthetic, src)
    _add_pixel_module(base, grid, stored, dtype, sop_key, modality, slope, intercept, data, window)
    for keyword, value in (extra_tags or {}).items():
        setattr(base, keyword, value)
    return _save_slices(base, grid, stored, dtype, src, out_dir, uid, overwrite, guarded)


def _default_derivation(synthetic: bool, source: DicomSource | None) -> str:
    made = f"{'SYNTHETIC image computed' if synthetic else 'Image written'} by medtranslate {version}"
    return made + (f" from series {source.series_uid}" if source is not None else "")


def _series_base(
    sop_key: str,
    modality: str,
    synthetic: bool,
    series_description: str,
    series_number: int,
    source: DicomSource | None,
    copy_patient_tags: bool,
    when: _dt.datetime,
    uid: Any,
) -> Dataset:
    """The attributes every slice shares except the image plane and pixels: SOP, patient, study, series, equipment."""
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S.%f")
    description = series_description
    if synthetic and "SYNTHETIC" not in description.upper():
        description = f"SYNTHETIC {description}"
    base = Dataset()
    base.SpecificCharacterSet = "ISO_IR 192"
    base.ImageType = ["DERIVED", "SECONDARY"] if synthetic else ["ORIGINAL", "PRIMARY"]
    if sop_key in _IMAGE_TYPE_VALUE3:
        base.ImageType = [*base.ImageType, _IMAGE_TYPE_VALUE3[sop_key]]
    base.SOPClassUID = _SOP_CLASSES[sop_key]
    base.InstanceCreationDate, base.InstanceCreationTime = date, time
    base.SeriesDate, base.SeriesTime = date, time
    base.ContentDate, base.ContentTime = date, time
    base.Modality = modality
    base.Manufacturer = "medtranslate"
    base.SoftwareVersions = f"medtranslate {version}"
    base.PatientName, base.PatientID = "ANONYMOUS", "ANONYMOUS"
    base.PatientBirthDate, base.PatientSex = "", ""
    base.StudyInstanceUID = uid("study")
    base.StudyDate, base.StudyTime, base.StudyID, base.AccessionNumber = date, time, "", ""
    base.ReferringPhysicianName = ""
    base.FrameOfReferenceUID = uid("frame")
    base.PositionReferenceIndicator = ""
    base.PatientPosition = ""
    if source is not None:
        if copy_patient_tags:
            for keyword in PATIENT_STUDY_TAGS:
                if keyword in source.header:
                    setattr(base, keyword, copy.deepcopy(source.header[keyword].value))
        for keyword in ("BodyPartExamined", "PatientPosition"):  # what was imaged and how: not who
            if source.header.get(keyword):
                setattr(base, keyword, source.header[keyword].value)
        _add_series_references(base, source)
    base.SeriesInstanceUID = uid("series")
    base.SeriesNumber = series_number
    base.SeriesDescription = description
    base.ImageLaterality = _laterality(source)
    if synthetic:
        base.ImageComments = "SYNTHETIC image computed by medtranslate; not an acquisition; not for diagnosis"
    if sop_key == "MR":
        base.ScanningSequence, base.SequenceVariant = "RM", "NONE"
        base.ScanOptions, base.MRAcquisitionType = "", ""
        base.RepetitionTime, base.EchoTime, base.EchoTrainLength = "", "", ""
    elif sop_key == "CT":
        base.KVP, base.AcquisitionNumber = "", ""
    else:
        base.ConversionType = "SYN" if synthetic else "WSD"
    return base


def _add_pixel_module(
    base: Dataset,
    grid: _Grid,
    stored: np.ndarray,
    dtype: np.dtype,
    sop_key: str,
    modality: str,
    slope: DSfloat,
    intercept: DSfloat,
    data: np.ndarray,
    window: tuple[float, float] | None,
) -> None:
    """Image plane (orientation, spacing, thickness), pixel description, value mapping and display window."""
    base.ImageOrientationPatient = [_ds(v) for v in (*grid.row_dir, *grid.col_dir)]
    base.PixelSpacing = [_ds(grid.pixel_spacing[0]), _ds(grid.pixel_spacing[1])]
    base.SliceThickness = _ds(grid.thickness)
    if grid.step is not None:
        base.SpacingBetweenSlices = _ds(grid.step)
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows, base.Columns = int(stored.shape[1]), int(stored.shape[0])
    base.BitsAllocated, base.BitsStored, base.HighBit = 16, 16, 15
    base.PixelRepresentation = 1 if dtype == np.dtype("int16") else 0
    lo, hi = float(data.min()), float(data.max())
    center, width = window if window is not None else ((lo + hi) / 2, max(hi - lo, 1.0))
    if sop_key == "MR":
        base.RealWorldValueMappingSequence = [_value_mapping(slope, intercept, stored)]
        if (float(slope), float(intercept)) != (1.0, 0.0):
            mapping = base.RealWorldValueMappingSequence[0].LUTExplanation
            base.ImageComments = f"{base.get('ImageComments', '')} Stored values: {mapping}".strip()
        center, width = (center - float(intercept)) / float(slope), width / float(slope)
    else:
        base.RescaleSlope, base.RescaleIntercept = slope, intercept
        base.RescaleType = "HU" if modality == "CT" else "US"
    base.WindowCenter, base.WindowWidth = _ds(center), _ds(max(width, 1.0))
    base.BurnedInAnnotation = "NO"
    base.RecognizableVisualFeatures = "NO"
    base.LossyImageCompression = "00"


def _save_slices(
    base: Dataset,
    grid: _Grid,
    stored: np.ndarray,
    dtype: np.dtype,
    source: DicomSource | None,
    out_dir: PathLike,
    uid: Any,
    overwrite: bool,
    protect: Iterable[PathLike],
) -> list[Path]:
    """One Part 10 file per slice, at its position, with its references, into a folder that appears whole."""
    normal = np.cross(grid.row_dir, grid.col_dir)
    n_slices = stored.shape[2]
    digits = max(4, len(str(n_slices - 1)))
    written: list[Path] = []
    with atomic_dir(out_dir, overwrite=overwrite, protect=protect) as tmp:
        for k in range(n_slices):
            ds = Dataset()
            ds.update(base)  # shares base's elements: only attributes absent from base are set below
            ds.SOPInstanceUID = uid("instance", str(k))
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [_ds(v) for v in grid.positions[k]]
            ds.SliceLocation = _ds(float(grid.positions[k] @ normal))
            if source is not None:
                _add_slice_references(ds, base, source, int(grid.source_index[k]))
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).astype(dtype.newbyteorder("<")).tobytes()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
            meta.ImplementationVersionName = f"MEDTR_{version}"[:16]
            ds.file_meta = meta
            name = f"slice_{k:0{digits}d}.dcm"
            ds.save_as(tmp / name, enforce_file_format=True)
            written.append(Path(out_dir) / name)
    return written
