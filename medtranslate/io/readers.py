"""Image readers for MONAI's ``LoadImage``: NIfTI, SimpleITK formats (MetaImage, NRRD), sniffing PIL, DICOM.

Each reader chooses its files by content (``verify_suffix`` sniffs the bytes), refuses oversized images
from the header before allocating, raises :mod:`medtranslate.errors` for what a user can fix, and adds
the metadata keys of ``docs/design.md`` (``source_format``, ``modality``, ``intensity_unit``...).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from collections.abc import Sequence

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from monai.config import PathLike
from monai.data import ImageReader, NibabelReader, PILReader
from monai.data.image_reader import _copy_compatible_dict, _stack_images
from monai.data.utils import affine_to_spacing, orientation_ras_lps
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from PIL import Image, UnidentifiedImageError

from medtranslate.errors import CorruptFileError, DimensionError, GeometryError, InputError, UnsupportedFormatError
from medtranslate.io.dicom import DEFAULT_MAX_VOXELS, DicomSeriesReader, SeriesInfo, codec_install_hint
from medtranslate.io.formats import IMAGE_FORMATS, SITK_FORMATS, sniff_format

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "DicomSeriesReader",
    "NiftiReader",
    "SeriesInfo",
    "SimpleITKReader",
    "SniffingPILReader",
    "codec_install_hint",
]


def _sniffs_as(filename: Sequence[PathLike] | PathLike, formats: Sequence[str]) -> bool:
    """Whether every path's content is one of ``formats`` (unreadable paths are not)."""
    try:
        return all(sniff_format(f) in formats for f in ensure_tuple(filename))
    except InputError:
        return False


def _check_voxels(path: PathLike, shape: Sequence[int], max_voxels: int) -> None:
    """Refuse an image whose header announces more than ``max_voxels`` voxels, before reading its data."""
    voxels = int(np.prod([int(s) for s in shape], dtype=np.float64))
    if voxels > max_voxels:
        raise DimensionError(
            path,
            f"shape {tuple(int(s) for s in shape)} has {voxels} voxels, over the limit of {max_voxels} (max_voxels)",
        )


def _open_nifti(path: PathLike):
    """``gzip.open`` or ``open``, chosen by the gzip magic bytes."""
    with open(path, "rb") as f:
        return gzip.open if f.read(2) == b"\x1f\x8b" else open


def _raw_nifti_header(path: PathLike) -> nib.Nifti1Header | nib.Nifti2Header:
    """The header exactly as stored: nibabel's ``load`` silently replaces zero or negative ``pixdim`` and bad
    ``qfac`` values, which :func:`_check_nifti_geometry` must see."""
    with _open_nifti(path)(path, "rb") as f:
        head = f.read(540)
    nifti2 = 540 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    klass = nib.Nifti2Header if nifti2 else nib.Nifti1Header
    return klass.from_fileobj(io.BytesIO(head), check=False)


def _listed(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def _finite_positive(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


def _check_nifti_geometry(path: PathLike, header: nib.Nifti1Header) -> None:
    """Refuse the header transform nibabel would use (sform if coded, else qform if coded, else ``pixdim``) when
    it holds NaN/Inf, zero or negative voxel sizes or an invalid ``qfac``; a singular sform is refused later, with
    every other affine (:class:`medtranslate.io.loading.LoadMedicalImage`)."""
    ndim = min(int(header["dim"][0]), 3)
    if int(header["sform_code"]) != 0:
        srows = np.stack([header["srow_x"], header["srow_y"], header["srow_z"]]).astype(np.float64)
        if not np.all(np.isfinite(srows)):
            raise GeometryError(path, f"the sform (sform_code {int(header['sform_code'])}) holds NaN/Inf values")
        return
    zooms = np.asarray(header["pixdim"][1 : ndim + 1], np.float64)
    if not _finite_positive(zooms):
        raise GeometryError(path, f"voxel sizes pixdim[1:{ndim + 1}] = {_listed(zooms)} must be finite and positive")
    if int(header["qform_code"]) != 0:
        quaternion = [float(header[k]) for k in ("quatern_b", "quatern_c", "quatern_d")]
        offset = [float(header[k]) for k in ("qoffset_x", "qoffset_y", "qoffset_z")]
        if not np.all(np.isfinite(quaternion + offset)):
            values = f"quaternion {_listed(quaternion)}, offset {_listed(offset)}"
            raise GeometryError(path, f"the qform holds NaN/Inf values ({values})")
        if sum(q * q for q in quaternion) > 1.0 + 1e-6:
            raise GeometryError(path, f"the qform quaternion {_listed(quaternion)} is longer than 1: not a rotation")
        qfac = float(header["pixdim"][0])
        if qfac not in (-1.0, 0.0, 1.0):
            raise GeometryError(path, f"the qform's qfac (pixdim[0]) is {qfac}, it must be 1 or -1")


def _load_nifti(path: PathLike, **kwargs) -> nib.Nifti1Image | nib.Nifti2Image:
    """``nibabel.load``; NIfTI bytes under a name without the ``.nii``/``.nii.gz`` suffix it needs are read whole
    (after the header's size check)."""
    if os.fspath(path).lower().endswith((".nii", ".nii.gz")):
        return nib.load(path, **kwargs)
    klass = nib.Nifti2Image if isinstance(_raw_nifti_header(path), nib.Nifti2Header) else nib.Nifti1Image
    with _open_nifti(path)(path, "rb") as f:
        return klass.from_bytes(f.read())


class NiftiReader(NibabelReader):
    """MONAI's :class:`monai.data.NibabelReader`, chosen by content, with header checks and clear errors.

    NIfTI bytes under another name (``scan.png``, ``scan.dat``) are read too, although ``nibabel.load`` chooses
    by suffix. The affine is nibabel's choice (sform if its code is set, else qform if its code is set, else
    ``pixdim``; RAS, as MONAI), untouched: MONAI's ``correct_nifti_header_if_necessary``, which swaps an sform
    that disagrees with ``pixdim`` for the qform, is not applied. A transform with NaN/Inf values, zero or
    negative voxel sizes or an invalid ``qfac`` is refused (``GeometryError``) from the raw header, before
    nibabel would silently repair it. Adds ``source_format="nifti"``, ``modality=None``,
    ``intensity_unit="raw"`` to the metadata.

    Args:
        max_voxels: refuse (``DimensionError``) files whose header announces more voxels than this.
        kwargs: passed to :class:`monai.data.NibabelReader`.
    """

    def __init__(self, max_voxels: int = DEFAULT_MAX_VOXELS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_voxels = int(max_voxels)

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Whether every file is NIfTI (plain or gzipped) by content.

        Args:
            filename: file name(s).
        """
        return _sniffs_as(filename, ("nifti",))

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs):
        """Open the file(s) lazily (header only) and check the announced size.

        Args:
            data: file name(s).
            kwargs: passed to ``nibabel.load``.
        """
        names = ensure_tuple(data)
        self.filenames = names
        loaded = []
        for name in names:
            try:
                header = _raw_nifti_header(name)
                _check_voxels(name, header.get_data_shape(), self.max_voxels)
                _check_nifti_geometry(name, header)
                loaded.append(_load_nifti(name, **{**self.kwargs, **kwargs}))
            except (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error) as e:
                raise CorruptFileError(name, f"unreadable NIfTI header ({type(e).__name__}: {e})") from e
        return loaded if len(loaded) > 1 else loaded[0]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        """Read the voxels (MONAI's ``NibabelReader.get_data``) and add our metadata keys.

        Args:
            img: what :meth:`read` returned.
        """
        try:
            array, meta = super().get_data(img)
        except (OSError, EOFError, ValueError, zlib.error) as e:
            reason = f"truncated or damaged NIfTI data ({type(e).__name__}: {e})"
            raise CorruptFileError(self.filenames[0], reason) from e
        meta.update(source_format="nifti", modality=None, intensity_unit="raw")
        return array, meta


def _check_sitk_geometry(path: PathLike, reader: sitk.ImageFileReader) -> None:
    """Refuse a header whose spacing is not finite and positive, or whose origin or direction holds NaN/Inf."""
    spacing = np.asarray(reader.GetSpacing(), np.float64)
    if not _finite_positive(spacing):
        raise GeometryError(path, f"voxel sizes (spacing) {_listed(spacing)} must be finite and positive")
    if not np.all(np.isfinite(np.concatenate([reader.GetOrigin(), reader.GetDirection()]))):
        raise GeometryError(path, "the origin or the direction matrix holds NaN/Inf values")


class SimpleITKReader(ImageReader):
    """Read MetaImage (``.mha``/``.mhd``), NRRD and other SimpleITK formats, in MONAI's RAS convention.

    MONAI's :class:`monai.data.ITKReader` needs the ``itk`` package; this reader does the same with
    SimpleITK: the array is in ``(X, Y[, Z])`` order (ITK index order, like ``ITKReader(reverse_indexing=False)``)
    and the affine ``direction @ diag(spacing)`` plus origin, converted from ITK's LPS to RAS as MONAI does.
    Vector pixels become a last channel axis. Spacing that is not finite and positive, and NaN/Inf in the origin or
    direction, are refused (``GeometryError``) from the header. Adds ``source_format``, ``modality=None``,
    ``intensity_unit="raw"`` to the metadata.

    Args:
        max_voxels: refuse (``DimensionError``) files whose header announces more voxels than this.
        affine_lps_to_ras: convert ITK's LPS affine to RAS (MONAI's convention); default ``True``.
    """

    def __init__(self, max_voxels: int = DEFAULT_MAX_VOXELS, affine_lps_to_ras: bool = True) -> None:
        super().__init__()
        self.max_voxels = int(max_voxels)
        self.affine_lps_to_ras = affine_lps_to_ras
        self.filenames: list[str] = []

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Whether every file is MetaImage or NRRD by content.

        Args:
            filename: file name(s).
        """
        return _sniffs_as(filename, SITK_FORMATS)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs):
        """Read the header(s), check the announced size, then the image(s).

        Args:
            data: file name(s).
            kwargs: unused; kept for MONAI's ``ImageReader.read`` signature.
        """
        self.filenames = [os.fspath(f) for f in ensure_tuple(data)]
        images = []
        for name in self.filenames:
            reader = sitk.ImageFileReader()
            reader.SetFileName(name)
            try:
                reader.ReadImageInformation()
                _check_voxels(name, reader.GetSize(), self.max_voxels)
                _check_sitk_geometry(name, reader)
                images.append(reader.Execute())
            except RuntimeError as e:
                reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                raise CorruptFileError(name, f"SimpleITK cannot read it ({reason})") from e
        return images if len(images) > 1 else images[0]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        """Array in ``(X, Y[, Z][, C])`` order and metadata with a RAS affine.

        Args:
            img: a SimpleITK image or a list of them (stacked as channels).
        """
        arrays: list[np.ndarray] = []
        compatible: dict = {}
        images = img if isinstance(img, (list, tuple)) else [img]  # ensure_tuple would iterate the pixels
        for image, name in zip(images, self.filenames, strict=True):
            array = sitk.GetArrayFromImage(image)  # (Z, Y, X[, C])
            vector = image.GetNumberOfComponentsPerPixel() > 1
            array = np.moveaxis(array.T, 0, -1) if vector else array.T
            ndim = image.GetDimension()
            affine = np.eye(ndim + 1)
            affine[:ndim, :ndim] = np.reshape(image.GetDirection(), (ndim, ndim)) @ np.diag(image.GetSpacing())
            affine[:ndim, ndim] = image.GetOrigin()
            if self.affine_lps_to_ras:
                affine = orientation_ras_lps(affine)
            meta = {
                MetaKeys.AFFINE: affine,
                MetaKeys.ORIGINAL_AFFINE: affine.copy(),
                MetaKeys.SPATIAL_SHAPE: np.asarray(image.GetSize()),
                MetaKeys.SPACE: SpaceKeys.RAS if self.affine_lps_to_ras else SpaceKeys.LPS,
                MetaKeys.ORIGINAL_CHANNEL_DIM: -1 if vector else float("nan"),
                "spacing": affine_to_spacing(affine, r=ndim),
                "source_format": sniff_format(name),
                "modality": None,
                "intensity_unit": "raw",
            }
            arrays.append(np.ascontiguousarray(array))
            _copy_compatible_dict(meta, compatible)
        return _stack_images(arrays, compatible), compatible


def _composite_on_black(array: np.ndarray) -> np.ndarray:
    """Drop the last (alpha) channel of an ``(H, W, C+1)`` uint8 array, compositing the colour onto black."""
    alpha = array[..., -1:].astype(np.float32) / 255.0
    return np.rint(array[..., :-1].astype(np.float32) * alpha).astype(np.uint8)


def _normalise_mode(img: Image.Image) -> tuple[Image.Image, str]:
    """Convert any PIL mode to one of L, RGB (uint8), I;16 (uint16) or F (float32); return it and its unit.

    Palette images become RGB(A), alpha is composited onto black (LA → L, RGBA → RGB), 16-bit stays 16-bit,
    32-bit integers within 0..65535 become uint16, other integers and floats float32 (``"raw"``).
    """
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("L", "RGB"):
        return img, "uint8"
    if mode == "1":
        return img.convert("L"), "uint8"
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        target = "LA" if mode in ("LA", "La") else "RGBA"
        flat = _composite_on_black(np.asarray(img.convert(target)))
        return Image.fromarray(flat[..., 0] if target == "LA" else flat), "uint8"
    if mode.startswith("I;16"):
        return Image.fromarray(np.asarray(img).astype(np.uint16)), "uint16"
    if mode == "I":
        values = np.asarray(img)
        if values.size and values.min() >= 0 and values.max() <= 65535:
            return Image.fromarray(values.astype(np.uint16)), "uint16"
        return Image.fromarray(values.astype(np.float32)), "raw"
    if mode == "F":
        return img, "raw"
    return img.convert("RGB"), "uint8"  # CMYK, YCbCr, LAB, HSV...


class SniffingPILReader(PILReader):
    """MONAI's :class:`monai.data.PILReader` that picks files by content and normalises every PIL mode.

    PNG, JPEG, BMP and TIFF are recognised from their magic bytes (a PNG named ``.jpg`` reads as PNG).
    Modes: palette → RGB, alpha composited onto black (LA → L, RGBA → RGB), 16-bit kept as uint16, 32-bit
    integer → uint16 when it fits, float kept. The spatial order is PILReader's (width first,
    ``reverse_indexing=True``); colour is channel-last so ``EnsureChannelFirst`` gives ``(3, X, Y)``.
    Adds ``source_format`` (``"png"``/``"jpeg"``/``"bmp"``/``"tiff"``), ``pil_mode`` (the file's mode),
    ``modality=None`` and ``intensity_unit`` (``"uint8"``/``"uint16"``/``"raw"``) to the metadata.

    Args:
        max_voxels: refuse (``DimensionError``) images with more pixels than this, checked before decoding.
        kwargs: passed to :class:`monai.data.PILReader` (e.g. ``reverse_indexing``).
    """

    def __init__(self, max_voxels: int = DEFAULT_MAX_VOXELS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_voxels = int(max_voxels)
        self._file_meta: list[dict] = []

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Whether every file is PNG, JPEG, BMP or TIFF by content.

        Args:
            filename: file name(s).
        """
        return _sniffs_as(filename, IMAGE_FORMATS)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs):
        """Open, size-check, decode and mode-normalise the image(s).

        Args:
            data: file name(s).
            kwargs: passed to ``PIL.Image.open``.
        """
        images, self._file_meta = [], []
        for name in ensure_tuple(data):
            fmt = sniff_format(name)
            try:
                with Image.open(name, **{**self.kwargs, **kwargs}) as img:
                    _check_voxels(name, img.size, self.max_voxels)
                    img.load()
                    original = img.mode
                    normalised, unit = _normalise_mode(img)
                    normalised.load()
            except Image.DecompressionBombError as e:
                raise DimensionError(name, f"image too large to decode safely ({e})") from e
            except UnidentifiedImageError as e:
                raise UnsupportedFormatError(name, f"{fmt} bytes that Pillow cannot identify") from e
            except (OSError, SyntaxError, ValueError) as e:
                raise CorruptFileError(name, f"damaged or truncated {fmt} file ({e})") from e
            if callable(self.converter):
                normalised = self.converter(normalised)
            images.append(normalised)
            self._file_meta.append(
                {"source_format": fmt, "pil_mode": original, "modality": None, "intensity_unit": unit}
            )
        return images if len(images) > 1 else images[0]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        """MONAI's ``PILReader.get_data`` plus our metadata keys (those of the first file).

        Args:
            img: what :meth:`read` returned.
        """
        array, meta = super().get_data(img)
        meta.update(self._file_meta[0])
        return array, meta
