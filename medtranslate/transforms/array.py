"""
Array transforms for CT/MRI images loaded as channel-first ``MetaTensor``s: ``(C, X, Y)`` slices or
``(C, X, Y, Z)`` volumes. Intensity transforms map onto [-1, 1] and record the source range in the metadata
(``intensity_low`` → -1, ``intensity_high`` → 1, ``intensity_method``) so that exports can state their scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import DtypeLike
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Affine, Flip, Orientation, Resize, SpatialCrop, SpatialPad
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.transform import Randomizable, Transform
from monai.utils import TraceKeys, TransformBackends, ensure_tuple_rep
from monai.utils.type_conversion import convert_data_type, convert_to_numpy, convert_to_tensor

from medtranslate.errors import DimensionError, InputError
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW, resolve_window
from medtranslate.transforms.utils import (
    check_finite,
    check_modality,
    eligible_slices,
    extract_axial_slab,
    from_symmetric,
    head_mask,
    source_name,
    to_symmetric,
)

__all__ = [
    "RAS_LABELS",
    "AxialOrientation",
    "AxialSlices",
    "CTWindow",
    "EnsureGrayscale",
    "HeadMask",
    "MRINormalize",
    "RandAxialSlice",
    "RandCycleGANAugment",
    "ResizeLongestPad",
    "ScaleToSymmetric",
]

#: Axis labels of MONAI's RAS world (the affine convention of ``docs/design.md``), given explicitly to
#: ``Orientation`` so a ``space`` entry in the metadata cannot reinterpret the codes.
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))

#: ITU-R BT.601 luma weights, as PIL's ``convert("L")``.
_LUMA = (0.299, 0.587, 0.114)

_SCALE_KEYS = ("intensity_low", "intensity_high", "intensity_method")


def _record_scale(img: NdarrayOrTensor, low: float, high: float, method: str) -> None:
    if isinstance(img, MetaTensor):
        img.meta.update(dict(zip(_SCALE_KEYS, (float(low), float(high), method), strict=True)))


def _invert_scale(transform: InvertibleTransform, data: torch.Tensor) -> torch.Tensor:
    """Pop ``transform``'s trace from ``data`` and map [-1, 1] back onto the recorded source range."""
    info = transform.pop_transform(data)[TraceKeys.EXTRA_INFO]
    out = from_symmetric(data, info["low"], info["high"])
    if isinstance(out, MetaTensor):
        for key in _SCALE_KEYS:
            out.meta.pop(key, None)
    return out


class EnsureGrayscale(Transform):
    """
    Check a channel-first image and make it one grey channel.

    2D images: 1 channel passes, 2 (grey + alpha) keep the first, 3 or 4 (RGB, RGBA) become the ITU-R 601 luma
    ``0.299 R + 0.587 G + 0.114 B`` like PIL's ``convert("L")`` (alpha ignored, no rounding). Volumes must have
    one channel: a multi-channel volume is usually 4D data (echoes, time points) that a luma would hide.

    Args:
        spatial_dims: required number of spatial dimensions, 2 or 3; ``None`` accepts either.
        dtype: output data type; ``None`` keeps the input's.

    Raises:
        DimensionError: wrong number of spatial dimensions or channels (the message names the file).
        NonFiniteError: NaN or Inf values.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, spatial_dims: int | None = None, dtype: DtypeLike | torch.dtype = np.float32) -> None:
        if spatial_dims not in (None, 2, 3):
            raise ValueError(f"spatial_dims must be None, 2 or 3, got {spatial_dims}")
        self.spatial_dims = spatial_dims
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: ``(C, X, Y)`` or ``(C, X, Y, Z)``.
        """
        name = source_name(img)
        allowed = (2, 3) if self.spatial_dims is None else (self.spatial_dims,)
        shape = tuple(img.shape)
        if len(shape) - 1 not in allowed:
            wanted = " or ".join(str(n) for n in allowed)
            raise DimensionError(name, f"expected a channel-first image with {wanted} spatial dimensions, got {shape}")
        channels = shape[0]
        if len(shape) == 4 and channels != 1:
            raise DimensionError(name, f"a volume must have one channel, got shape {shape} (4D or multi-channel data)")
        if channels not in (1, 2, 3, 4):
            raise DimensionError(name, f"expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels, got {shape}")
        check_finite(img, name)
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if channels >= 3:
            img_t = img_t.to(torch.float64)
            out = img_t[0:1] * _LUMA[0] + img_t[1:2] * _LUMA[1] + img_t[2:3] * _LUMA[2]
        else:
            out = img_t[0:1]
        return convert_data_type(out, output_type=type(img), dtype=self.dtype or img.dtype)[0]


class CTWindow(InvertibleTransform):
    """
    Window a CT image onto [-1, 1] with clipping: ``level - width / 2`` → -1, ``level + width / 2`` → 1 (HU).

    An image CT whose metadata says ``intensity_unit`` ``"uint8"`` or ``"uint16"`` (a PNG/JPEG that is already
    windowed) is instead mapped linearly 0..255 (0..65535) → [-1, 1]; any other unit, or no metadata, is taken
    as HU. The source range is written to ``meta`` (``intensity_low``, ``intensity_high``,
    ``intensity_method`` = ``"ct_window"`` / ``"linear_uint8"`` / ``"linear_uint16"``). :meth:`inverse` maps back
    exactly (HU, or 0..255/0..65535) for values that were inside the window; clipped values come back at the
    window's edge.

    Args:
        window: a preset name of :data:`~medtranslate.transforms.CT_WINDOW_PRESETS` or ``(level, width)`` in HU.
        dtype: output data type.

    An image whose ``modality`` metadata (DICOM tag) is ``"MR"`` is refused; an untagged image in Hounsfield
    units without any value below 0 warns (see :func:`~medtranslate.transforms.utils.check_modality`).

    Raises:
        InputError: unknown preset or invalid window; an image tagged MR.
        NonFiniteError: NaN or Inf values.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, window: str | Sequence[float] = DEFAULT_CT_WINDOW, dtype: DtypeLike = np.float32) -> None:
        self.level, self.width = resolve_window(window)
        self.dtype = dtype

    def source_range(self, img: NdarrayOrTensor) -> tuple[float, float, str]:
        """``(low, high, method)`` used for ``img``: the HU window, or the full 8/16-bit range of an image CT."""
        unit = img.meta.get("intensity_unit") if isinstance(img, MetaTensor) else None
        if unit == "uint8":
            return 0.0, 255.0, "linear_uint8"
        if unit == "uint16":
            return 0.0, 65535.0, "linear_uint16"
        return self.level - self.width / 2.0, self.level + self.width / 2.0, "ct_window"

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: CT image in HU (or 8/16-bit values, see above), any shape.
        """
        check_finite(img)
        check_modality(img, "CT", "CT windowing")
        low, high, method = self.source_range(img)
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        out = convert_data_type(to_symmetric(img_t, low, high, clip=True), dtype=self.dtype)[0]
        _record_scale(out, low, high, method)
        self.push_transform(out, extra_info={"low": low, "high": high})
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        return _invert_scale(self, data)


class MRINormalize(InvertibleTransform):
    """
    Robust MRI intensity normalisation onto [-1, 1] with clipping, statistics taken inside a foreground mask.

    ``mode="percentile"``: the ``lower`` and ``upper`` percentiles inside the mask map to -1 and 1, so a few
    outliers (vessels, fat, artefacts) saturate instead of compressing the brain's contrast.
    ``mode="zscore"``: ``mean ± zscore_range * std`` inside the mask map to -1 and 1.

    The source range is written to ``meta`` (``intensity_low``, ``intensity_high``, ``intensity_method`` =
    ``"mri_percentile"`` / ``"mri_zscore"``); :meth:`inverse` maps back to raw intensities (exact inside the
    range). An image without dynamic range inside the mask (constant) becomes -1 everywhere with a warning;
    an empty mask falls back to the whole image with a warning.

    Args:
        mode: ``"percentile"`` or ``"zscore"``.
        lower: lower percentile (0–100) for ``"percentile"``.
        upper: upper percentile (0–100) for ``"percentile"``.
        zscore_range: number of standard deviations mapped onto ±1 for ``"zscore"``.
        dtype: output data type.

    An image whose ``modality`` metadata (DICOM tag) is ``"CT"`` is refused; an untagged image holding air at
    about -1000 warns (see :func:`~medtranslate.transforms.utils.check_modality`).

    Raises:
        InputError: unknown ``mode``; an image tagged CT.
        NonFiniteError: NaN or Inf values.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]
    modes = ("percentile", "zscore")

    def __init__(
        self,
        mode: str = "percentile",
        lower: float = 0.5,
        upper: float = 99.5,
        zscore_range: float = 3.0,
        dtype: DtypeLike = np.float32,
    ) -> None:
        if mode not in self.modes:
            raise InputError(None, f"unknown MRI normalisation {mode!r}; choose one of {list(self.modes)}")
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"percentiles need 0 <= lower < upper <= 100, got {lower}, {upper}")
        if not zscore_range > 0:
            raise ValueError(f"zscore_range must be positive, got {zscore_range}")
        self.mode = mode
        self.lower = lower
        self.upper = upper
        self.zscore_range = zscore_range
        self.dtype = dtype

    def source_range(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> tuple[float, float]:
        """
        ``(low, high)`` raw intensities that map to -1 and 1.

        Args:
            img: the image.
            mask: foreground mask broadcastable to ``img``; ``None`` computes :func:`head_mask` (Otsu).
        """
        data = convert_to_numpy(img, dtype=np.float64)
        mask_np = head_mask(data) if mask is None else convert_to_numpy(mask) != 0
        values = data[np.broadcast_to(mask_np, data.shape)]
        if values.size == 0:
            warnings.warn(f"{source_name(img) or 'image'}: empty foreground mask, using the whole image", stacklevel=2)
            values = data.ravel()
        if self.mode == "percentile":
            low, high = np.percentile(values, [self.lower, self.upper])
        else:
            mean, std = values.mean(), values.std()
            low, high = mean - self.zscore_range * std, mean + self.zscore_range * std
        return float(low), float(high)

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> NdarrayOrTensor:
        """
        Args:
            img: MRI image, any channel-first shape.
            mask: foreground mask broadcastable to ``img``; ``None`` computes :func:`head_mask` (Otsu).
        """
        check_finite(img)
        check_modality(img, "MR", "MRI normalisation")
        low, high = self.source_range(img, mask)
        if not high - low > 1e-6 * max(1.0, abs(low), abs(high)):
            warnings.warn(
                f"{source_name(img) or 'image'}: no intensity range inside the mask (constant image), mapped to -1",
                stacklevel=2,
            )
            high = low
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        out = convert_data_type(to_symmetric(img_t, low, high, clip=True), dtype=self.dtype)[0]
        _record_scale(out, low, high, f"mri_{self.mode}")
        self.push_transform(out, extra_info={"low": low, "high": high})
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        return _invert_scale(self, data)


class ScaleToSymmetric(InvertibleTransform):
    """
    Map ``[low, high]`` linearly onto [-1, 1] (e.g. [0, 1] or 0–255 images), optionally clipping; exact inverse.

    Records ``intensity_low``/``intensity_high``/``intensity_method="linear"`` in the metadata like the other
    intensity transforms. For exporting a network output use :func:`~medtranslate.transforms.to_display_range`.

    Args:
        low: value mapped to -1.
        high: value mapped to 1 (must differ from ``low``).
        clip: clip the result to [-1, 1].
        dtype: output data type.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, low: float = 0.0, high: float = 1.0, clip: bool = True, dtype: DtypeLike = np.float32) -> None:
        if not (math.isfinite(low) and math.isfinite(high) and low != high):
            raise ValueError(f"need finite low != high, got {low}, {high}")
        self.low = float(low)
        self.high = float(high)
        self.clip = clip
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: image in ``[low, high]``.
        """
        check_finite(img)
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        out = convert_data_type(to_symmetric(img_t, self.low, self.high, clip=self.clip), dtype=self.dtype)[0]
        _record_scale(out, self.low, self.high, "linear")
        self.push_transform(out, extra_info={"low": self.low, "high": self.high})
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        return _invert_scale(self, data)


class HeadMask(Transform):
    """
    Foreground (head) mask: threshold (Otsu or a fraction of the range), largest connected component, holes
    filled; 2D and 3D. Returns a boolean image of shape ``(1, *spatial)`` with the input's metadata.

    Args:
        threshold: ``None`` for Otsu, else a fraction in [0, 1) of the intensity range above the minimum.
        fill_holes: fill enclosed holes (3D: also per axial slice).
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.NUMPY]

    def __init__(self, threshold: float | None = None, fill_holes: bool = True) -> None:
        self.threshold = threshold
        self.fill_holes = fill_holes

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: ``(C, X, Y)`` or ``(C, X, Y, Z)``.
        """
        check_finite(img)
        mask = torch.as_tensor(head_mask(img, self.threshold, self.fill_holes))
        if isinstance(img, MetaTensor) and get_track_meta():
            return MetaTensor(mask, meta=dict(img.meta), applied_operations=list(img.applied_operations))
        return mask.numpy() if isinstance(img, np.ndarray) else mask


class AxialOrientation(InvertibleTransform):
    """
    Reorient volumes so the last axis is axial (MONAI ``Orientation``, RAS by default); 2D slices, already
    axial images, pass through unchanged.

    Args:
        axcodes: target orientation codes of a volume.
    """

    backend = Orientation.backend

    def __init__(self, axcodes: str = "RAS") -> None:
        self.orientation = Orientation(axcodes=axcodes, labels=RAS_LABELS)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """
        Args:
            img: ``(C, X, Y)`` or ``(C, X, Y, Z)``.
        """
        return self.orientation(img) if img.ndim == 4 else img

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        return self.orientation.inverse(data) if data.ndim == 4 else data


class RandAxialSlice(Randomizable, Transform):
    """
    Pick one random axial slice (last spatial axis) whose foreground fraction is above ``min_foreground``.

    A 2D ``(C, X, Y)`` input passes through unchanged. The slice keeps a 4×4 affine placed at the slice and
    ``meta["slice_index"]`` (see :func:`~medtranslate.transforms.utils.extract_axial_slice`).

    Args:
        min_foreground: a slice is eligible when its foreground fraction is strictly greater than this.
        slab: return that many adjacent slices centred on the drawn one as channels (2.5D training; see
            :func:`~medtranslate.transforms.utils.extract_axial_slab`); 1: the slice.

    Raises:
        EmptyInputError: no slice is eligible.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, min_foreground: float = 0.05, slab: int = 1) -> None:
        self.min_foreground = min_foreground
        self.slab = slab
        self.index = 0

    def randomize(self, data: Sequence[int]) -> None:
        """Draw the slice index among the eligible indices ``data``."""
        self.index = int(self.R.choice(np.asarray(data)))

    def __call__(
        self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None, randomize: bool = True
    ) -> NdarrayOrTensor:
        """
        Args:
            img: ``(C, X, Y, Z)`` volume (or a 2D slice, returned as is).
            mask: foreground mask of ``img``; ``None`` computes :func:`head_mask` (Otsu).
            randomize: draw a new index; ``False`` reuses the last one (to cut a mask at the image's slice).
        """
        if img.ndim == 3:
            return img
        if randomize:
            self.randomize(eligible_slices(img, mask, self.min_foreground))
        return extract_axial_slab(img, self.index, self.slab)


class AxialSlices(Transform):
    """
    All axial slices (last spatial axis) whose foreground fraction is above ``min_foreground``, in order, as a
    list; deterministic, for evaluation. A 2D input gives a one-element list.

    Args:
        min_foreground: a slice is kept when its foreground fraction is strictly greater than this.
        slab: each kept slice with its neighbours as channels (see :class:`RandAxialSlice`); 1: the slice.

    Raises:
        EmptyInputError: no slice qualifies.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, min_foreground: float = 0.05, slab: int = 1) -> None:
        self.min_foreground = min_foreground
        self.slab = slab

    def indices(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> list[int]:
        """
        Indices of the kept slices of the volume ``img``.

        Args:
            img: ``(C, X, Y, Z)`` volume.
            mask: foreground mask; ``None`` computes :func:`head_mask` (Otsu).
        """
        return eligible_slices(img, mask, self.min_foreground)

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> list[NdarrayOrTensor]:
        """
        Args:
            img: ``(C, X, Y, Z)`` volume or ``(C, X, Y)`` slice.
            mask: foreground mask; ``None`` computes :func:`head_mask` (Otsu).
        """
        if img.ndim == 3:
            return [img]
        return [extract_axial_slab(img, k, self.slab) for k in self.indices(img, mask)]


class ResizeLongestPad(InvertibleTransform):
    """
    Resize so the longest side is ``spatial_size`` (aspect ratio kept; MONAI ``Resize(size_mode="longest")``),
    then pad symmetrically to ``spatial_size`` in every dimension with ``background``. Spacing in the affine
    is updated by MONAI. The resize runs on ``img - background`` so that anti-aliasing at the border blends in
    background rather than zeros. Invertible (pad, then resize, undone in reverse).

    Args:
        spatial_size: output side length.
        background: pad value (-1 after scaling to [-1, 1]).
        mode: interpolation mode of ``Resize``.
        anti_aliasing: Gaussian smoothing before downsampling (``Resize``'s option).
    """

    backend = Resize.backend

    def __init__(
        self, spatial_size: int = 256, background: float = -1.0, mode: str = "bilinear", anti_aliasing: bool = True
    ) -> None:
        self.background = background
        self.resizer = Resize(spatial_size, size_mode="longest", mode=mode, anti_aliasing=anti_aliasing)
        self.padder = SpatialPad(spatial_size, method="symmetric", mode="constant", value=background)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """
        Args:
            img: channel-first image.
        """
        return self.padder(self.resizer(img - self.background) + self.background)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        return self.resizer.inverse(self.padder.inverse(data) - self.background) + self.background


class RandCycleGANAugment(Randomizable, Transform):
    """
    CycleGAN's training augmentation on one image: optional small random affine (rotation in the axial plane,
    isotropic scale; ``affine_prob``), random crop to ``roi_size`` and random horizontal flip (first spatial
    axis, left-right in RAS and in ``(C, X, Y)`` images). Areas moved in by the affine are ``background``.
    Give every unpaired key its own instance (see :class:`~medtranslate.transforms.RandCycleGANAugmentd`).

    Args:
        roi_size: crop size (int for every spatial dimension, or a sequence); dimensions smaller are not cropped.
        flip_prob: probability of the horizontal flip.
        affine_prob: probability of the random affine; 0 disables it.
        rotate_degrees: rotation drawn from ``[-rotate_degrees, rotate_degrees]``.
        scale_fraction: isotropic scale drawn from ``1 ± scale_fraction``.
        background: value of areas moved in by the affine.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __init__(
        self,
        roi_size: Sequence[int] | int = 256,
        flip_prob: float = 0.5,
        affine_prob: float = 0.0,
        rotate_degrees: float = 5.0,
        scale_fraction: float = 0.05,
        background: float = -1.0,
    ) -> None:
        self.roi_size = roi_size
        self.flip_prob = flip_prob
        self.affine_prob = affine_prob
        self.rotate_degrees = rotate_degrees
        self.scale_fraction = scale_fraction
        self.background = background
        self.flipper = Flip(spatial_axis=0)
        self.start: tuple[int, ...] = ()
        self.size: tuple[int, ...] = ()
        self.flip = False
        self.affine: dict[str, Any] | None = None

    def randomize(self, data: Sequence[int]) -> None:
        """Draw the affine, crop start and flip for an image of spatial shape ``data``."""
        self.affine = None
        if self.R.rand() < self.affine_prob:
            angle = math.radians(self.R.uniform(-self.rotate_degrees, self.rotate_degrees))
            scale = 1.0 + self.R.uniform(-self.scale_fraction, self.scale_fraction)
            self.affine = {
                "rotate_params": angle if len(data) == 2 else (0.0, 0.0, angle),
                "scale_params": (scale,) * len(data),
            }
        roi = ensure_tuple_rep(self.roi_size, len(data))
        self.size = tuple(min(int(r), int(s)) for r, s in zip(roi, data, strict=True))
        self.start = tuple(int(self.R.randint(0, s - r + 1)) for r, s in zip(self.size, data, strict=True))
        self.flip = bool(self.R.rand() < self.flip_prob)

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """
        Args:
            img: channel-first image.
            randomize: draw new parameters; ``False`` reuses the last draw.
        """
        if randomize:
            self.randomize(img.shape[1:])
        if self.affine is not None:
            warp = Affine(**self.affine, mode="bilinear", padding_mode="zeros", image_only=True)
            img = warp(img - self.background) + self.background
        end = [s + r for s, r in zip(self.start, self.size, strict=True)]
        img = SpatialCrop(roi_start=self.start, roi_end=end)(img)
        return self.flipper(img) if self.flip else img
