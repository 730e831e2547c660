"""``LoadMedicalImage(d)``: MONAI's ``LoadImage`` with our readers, chosen by content, and input validation.

Every reader error a user can fix reaches the caller as the :mod:`medtranslate.errors` class the reader
raised (MONAI wraps reader exceptions in ``RuntimeError`` only when it tries several readers in turn; here
the reader is chosen first, from the file's bytes, and handed to ``LoadImage`` as its runtime reader).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Hashable, Mapping
from typing import ClassVar

import numpy as np
import torch
from monai.config import DtypeLike, KeysCollection, PathLike
from monai.data import ImageReader, MetaTensor
from monai.data.utils import is_no_channel
from monai.transforms import LoadImage, MapTransform, SqueezeDim, Transform
from monai.utils import TransformBackends

from medtranslate.errors import DimensionError, GeometryError, InputError, NonFiniteError
from medtranslate.io.formats import IMAGE_FORMATS, SITK_FORMATS, VOLUME_FORMATS, sniff_format
from medtranslate.io.readers import (
    DEFAULT_MAX_VOXELS,
    DicomSeriesReader,
    NiftiReader,
    SimpleITKReader,
    SniffingPILReader,
)

__all__ = ["LoadMedicalImage", "LoadMedicalImaged", "load_image"]


#: smallest ratio of the affine's smallest to largest singular value (its spatial columns) accepted as regular
_MIN_AXIS_RATIO = 1e-6


def _check_geometry(img: MetaTensor, path: str) -> None:
    """Refuse an affine whose spatial columns hold NaN/Inf, have zero length or do not span the image's axes."""
    rank = len(img.meta["spatial_shape"])
    affine = np.asarray(img.affine, dtype=np.float64)
    columns = affine[:3, :rank]
    if not np.all(np.isfinite(affine)):
        raise GeometryError(path, "the affine (voxel to world) holds NaN/Inf values")
    sizes = np.linalg.norm(columns, axis=0)
    if np.any(sizes == 0):
        raise GeometryError(path, f"zero voxel size in the affine (voxel sizes {sizes.tolist()})")
    singular = np.linalg.svd(columns / sizes, compute_uv=False)
    if singular[-1] < _MIN_AXIS_RATIO * singular[0]:
        raise GeometryError(path, "singular affine: its image axes are parallel (not invertible)")


class LoadMedicalImage(Transform):
    """Load one DICOM file or series folder, NIfTI, MetaImage/NRRD or PNG/JPEG/BMP/TIFF file as a MetaTensor.

    The format is detected from the bytes (:func:`medtranslate.io.formats.sniff_format`), the matching reader
    (:class:`~medtranslate.io.readers.DicomSeriesReader`, :class:`~medtranslate.io.readers.NiftiReader`,
    :class:`~medtranslate.io.readers.SimpleITKReader`, :class:`~medtranslate.io.readers.SniffingPILReader`)
    is handed to :class:`monai.transforms.LoadImage`, and the result is checked:

    - zero-byte file, empty folder or folder without DICOM → ``EmptyInputError``;
    - bytes of no known format → ``UnsupportedFormatError``; damaged file → ``CorruptFileError``;
    - more voxels than ``max_voxels`` (from the header, before allocating) → ``DimensionError``;
    - a 4D file (several volumes) or a dimensionality other than ``spatial_ndim`` → ``DimensionError``;
      a volume of one slice is squeezed to 2D when ``spatial_ndim=2``;
    - an affine with NaN/Inf values, a zero voxel size or axes that do not span the image (singular) →
      ``GeometryError`` (the readers refuse NaN/Inf and zero or negative sizes in their headers first, with the
      header field in the message);
    - NaN or Inf voxels → ``NonFiniteError`` (with their count).

    The result is channel-first by default: ``(C, X, Y)`` for slices (PILReader's width-first order),
    ``(C, X, Y, Z)`` for volumes, affine in RAS (MONAI's convention) in ``.affine``.

    Args:
        spatial_ndim: 2 or 3 to require that many spatial dimensions; ``None`` accepts either.
        series_uid: SeriesInstanceUID to read from a DICOM folder that holds several series.
        series: ``"largest"`` reads the largest series of such a folder; ``None`` refuses to guess.
        max_voxels: the largest number of voxels accepted, checked on the header.
        ensure_channel_first: put the channel axis first (MONAI's ``EnsureChannelFirst``); default ``True``.
        dtype: data type of the result; default float32 (the stored scale is kept, see ``intensity_unit``).
        irregular_spacing: ``"warn"`` or ``"raise"`` for DICOM series with missing slices or uneven gaps.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        spatial_ndim: int | None = None,
        series_uid: str | None = None,
        series: str | None = None,
        max_voxels: int = DEFAULT_MAX_VOXELS,
        ensure_channel_first: bool = True,
        dtype: DtypeLike = np.float32,
        irregular_spacing: str = "warn",
    ) -> None:
        if spatial_ndim not in (None, 2, 3):
            raise ValueError(f"spatial_ndim must be 2, 3 or None, got {spatial_ndim!r}.")
        self.spatial_ndim = spatial_ndim
        self.ensure_channel_first = ensure_channel_first
        dicom = DicomSeriesReader(
            series_uid=series_uid, series=series, max_voxels=max_voxels, irregular_spacing=irregular_spacing
        )
        sitk_reader = SimpleITKReader(max_voxels=max_voxels)
        pil = SniffingPILReader(max_voxels=max_voxels)
        self.readers: dict[str, ImageReader] = {
            "dicom": dicom,
            "nifti": NiftiReader(max_voxels=max_voxels),
            **dict.fromkeys(SITK_FORMATS, sitk_reader),
            **dict.fromkeys(IMAGE_FORMATS, pil),
        }
        # LoadImage also registers MONAI's default readers; on machines without nvImageCodec its DICOM reader
        # warns at construction although it is never used here, so that warning is silenced
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader")
            nvimgcodec_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
            level = nvimgcodec_log.level
            nvimgcodec_log.setLevel(logging.ERROR)
            try:
                # registered in LoadImage's order (tried last to first)
                self.loader = LoadImage(
                    reader=[pil, sitk_reader, self.readers["nifti"], dicom],
                    image_only=True,
                    dtype=dtype,
                    ensure_channel_first=ensure_channel_first,
                )
            finally:
                nvimgcodec_log.setLevel(level)

    def __call__(self, filename: PathLike) -> MetaTensor:
        """Load and validate one image.

        Args:
            filename: a file, or a folder holding a DICOM series.

        Raises:
            MedTranslateError: a subclass naming the file and the cause (see the class doc).
        """
        if not isinstance(filename, (str, os.PathLike)):
            raise InputError(None, f"expected one file or folder path, got {type(filename).__name__}")
        path = os.fspath(os.path.expanduser(filename))
        fmt = sniff_format(path)
        img = self.loader(path, reader=self.readers[fmt])
        _check_geometry(img, path)
        img = self._check_dims(img, path, fmt)
        if torch.is_floating_point(img):
            bad = int((~torch.isfinite(img)).sum())
            if bad:
                raise NonFiniteError(path, f"{bad} NaN/Inf value(s) among {img.numel()} voxels")
        return img

    def _check_dims(self, img: MetaTensor, path: str, fmt: str) -> MetaTensor:
        """Refuse 4D data and dimensionalities other than ``spatial_ndim``; squeeze one-slice volumes to 2D."""
        spatial = [int(s) for s in img.meta["spatial_shape"]]
        channels = img.numel() // max(int(np.prod(spatial)), 1)
        if fmt in VOLUME_FORMATS and not is_no_channel(img.meta.get("original_channel_dim")) and channels > 1:
            raise DimensionError(
                path,
                f"{len(spatial) + 1}D data ({channels} images of shape {tuple(spatial)}); one 2D or 3D image is needed",
            )
        if self.spatial_ndim == 2 and len(spatial) == 3 and spatial[-1] == 1:
            img = SqueezeDim(dim=3 if self.ensure_channel_first else 2)(img)
            img.meta["spatial_shape"] = np.asarray(spatial[:2])
            spatial = spatial[:2]
        wanted = (2, 3) if self.spatial_ndim is None else (self.spatial_ndim,)
        if len(spatial) not in wanted:
            hint = " (pass the series folder, not one slice)" if fmt == "dicom" and len(spatial) == 2 else ""
            raise DimensionError(
                path,
                f"{len(spatial)}D image of shape {tuple(spatial)}, a {' or '.join(f'{n}D' for n in wanted)} image "
                f"is needed{hint}",
            )
        return img


class LoadMedicalImaged(MapTransform):
    """Dictionary wrapper of :class:`LoadMedicalImage`: replaces each path under ``keys`` by its image.

    Args:
        keys: keys of the paths to load (e.g. ``"ct"``, ``"mri"``).
        allow_missing_keys: do not fail when a key is absent.
        kwargs: passed to :class:`LoadMedicalImage` (``spatial_ndim``, ``series_uid``, ``series``,
            ``max_voxels``, ``ensure_channel_first``, ``dtype``, ``irregular_spacing``).
    """

    backend = LoadMedicalImage.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMedicalImage(**kwargs)

    def __call__(self, data: Mapping[Hashable, PathLike]) -> dict[Hashable, MetaTensor]:
        """Load every path under ``keys``.

        Args:
            data: a dictionary holding paths under ``keys``.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


def load_image(path: PathLike, **kwargs) -> MetaTensor:
    """Load one image as :class:`LoadMedicalImage` does (channel-first MetaTensor, RAS affine).

    Args:
        path: a file, or a folder holding a DICOM series.
        kwargs: passed to :class:`LoadMedicalImage`.
    """
    return LoadMedicalImage(**kwargs)(path)
