"""Functions behind the transforms: [-1, 1] scaling and its inverses, finiteness checks, head masks, slice picking."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.utils.type_conversion import convert_data_type, convert_to_numpy
from scipy import ndimage

from medtranslate.errors import EmptyInputError, InputError, NonFiniteError
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW, resolve_window

__all__ = [
    "DISPLAY_RANGES",
    "check_finite",
    "check_modality",
    "eligible_slices",
    "extract_axial_slab",
    "extract_axial_slice",
    "foreground_slices",
    "from_symmetric",
    "head_mask",
    "otsu_threshold",
    "source_name",
    "to_display_range",
    "to_symmetric",
    "window_to_hu",
]

#: Export scales for :func:`to_display_range`: name → the values that [-1, 1] maps onto.
DISPLAY_RANGES: dict[str, tuple[float, float]] = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "0-4095": (0.0, 4095.0)}


def source_name(img: Any) -> str | None:
    """The file an image came from (MONAI's ``filename_or_obj`` meta entry), or ``None`` for plain arrays."""
    if isinstance(img, MetaTensor):
        name = img.meta.get("filename_or_obj")
        if name is not None and str(name):
            return str(name)
    return None


def check_finite(img: NdarrayOrTensor, name: str | None = None) -> None:
    """
    Raise :class:`NonFiniteError` naming ``name`` when ``img`` holds NaN or Inf values.

    Args:
        img: array or tensor to check.
        name: file the data came from, for the message; defaults to the image's ``filename_or_obj``.
    """
    data = torch.as_tensor(img) if isinstance(img, np.ndarray) else img
    finite = torch.isfinite(data)
    if not bool(finite.all()):
        nan = int(torch.isnan(data).sum())
        inf = int((~finite).sum()) - nan
        raise NonFiniteError(name or source_name(img), f"the image holds {nan} NaN and {inf} Inf values")


#: the domain whose DICOM Modality tag is refused by each domain's intensity transform
_OTHER_DOMAIN = {"CT": ("MR", "MRI"), "MR": ("CT", "CT (domain A)")}


def check_modality(img: NdarrayOrTensor, expected: str, step: str) -> None:
    """
    Refuse an image tagged as the other domain; warn when untagged intensities do not fit ``expected``.

    The ``modality`` metadata (the DICOM Modality tag, set by the DICOM reader) is trusted: a CT step given an
    ``"MR"`` image, or an MRI step given a ``"CT"`` image, raises. Files without the tag (NIfTI, PNG) only get
    a heuristic, so they only warn: for CT, an image of unknown unit (``intensity_unit`` neither ``"HU"`` nor
    8/16-bit, e.g. a NIfTI) without any value below 0 has no air, as MRI (or CT stored with an offset such as
    +1024); for MRI, values near -1000 HU beside positive ones are CT air. Other tags and plain arrays pass.

    Args:
        img: the image; only a ``MetaTensor`` carries the metadata looked at.
        expected: ``"CT"`` or ``"MR"``, the domain of the step.
        step: the step's name for the message (e.g. ``"CT windowing"``).

    Raises:
        InputError: the image is tagged with the other domain's modality (names the file).
    """
    if not isinstance(img, MetaTensor):
        return
    name = source_name(img)
    tag = img.meta.get("modality")
    other, other_name = _OTHER_DOMAIN[expected]
    if tag is not None and str(tag).upper() == other:
        raise InputError(
            name,
            f"the DICOM Modality tag says {tag}, but the image was given to the {step}, which takes {expected}: "
            f"pass it as the {other_name} input",
        )
    if tag is not None or img.numel() == 0:
        return
    data = img.as_tensor().float()
    low, high = float(data.min()), float(data.max())
    if expected == "CT" and img.meta.get("intensity_unit") not in ("HU", "uint8", "uint16") and low >= 0:
        warnings.warn(
            f"{name or 'image'}: given to the {step} as CT, but no value is below 0 (no air): "
            "is it an MRI, or CT stored with an offset (e.g. +1024)?",
            stacklevel=3,
        )
    elif expected == "MR" and low < -500 and high > 0 and float(((data > -1100) & (data < -900)).float().mean()) > 0.01:
        warnings.warn(
            f"{name or 'image'}: given to the {step} as MRI, but it holds air at about -1000 (Hounsfield units): "
            "is it a CT?",
            stacklevel=3,
        )


def to_symmetric(img: NdarrayOrTensor, low: float, high: float, clip: bool = True) -> NdarrayOrTensor:
    """
    Map ``[low, high]`` linearly onto ``[-1, 1]`` (computed in float64, returned as float32).

    Args:
        img: array or tensor (a ``MetaTensor`` keeps its metadata).
        low: input value that becomes -1.
        high: input value that becomes 1; ``high == low`` maps everything to -1 (a constant image has no range).
        clip: clip the result to [-1, 1].
    """
    data = convert_data_type(img, dtype=torch.float64 if isinstance(img, torch.Tensor) else np.float64)[0]
    out = data * 0.0 - 1.0 if high == low else (data - low) * (2.0 / (high - low)) - 1.0
    if clip:
        out = out.clip(-1.0, 1.0)
    return convert_data_type(out, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[0]


def from_symmetric(img: NdarrayOrTensor, low: float, high: float) -> NdarrayOrTensor:
    """
    The exact inverse of :func:`to_symmetric` without clipping: ``[-1, 1]`` → ``[low, high]`` (float32 out).

    Args:
        img: array or tensor in [-1, 1] (values outside extrapolate linearly).
        low: value that -1 becomes.
        high: value that 1 becomes.
    """
    data = convert_data_type(img, dtype=torch.float64 if isinstance(img, torch.Tensor) else np.float64)[0]
    out = (data + 1.0) * ((high - low) / 2.0) + low
    return convert_data_type(out, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[0]


def to_display_range(img: NdarrayOrTensor, scale: str = "0-1") -> NdarrayOrTensor:
    """
    Map a network image in [-1, 1] onto an export scale, clipping first (values are not rounded).

    Args:
        img: array or tensor in [-1, 1].
        scale: ``"0-1"``, ``"0-255"`` (8-bit PNG) or ``"0-4095"`` (12-bit DICOM); see :data:`DISPLAY_RANGES`.

    Raises:
        InputError: unknown ``scale``.
    """
    if scale not in DISPLAY_RANGES:
        raise InputError(None, f"unknown display scale {scale!r}; choose one of {sorted(DISPLAY_RANGES)}")
    low, high = DISPLAY_RANGES[scale]
    return from_symmetric(img.clip(-1.0, 1.0), low, high)


def window_to_hu(img: NdarrayOrTensor, window: str | Sequence[float] = DEFAULT_CT_WINDOW) -> NdarrayOrTensor:
    """
    Hounsfield units of a [-1, 1] image made with a CT window (e.g. a synthetic CT from ``G_B``); the exact
    inverse of :class:`~medtranslate.transforms.CTWindow` inside the window, values outside [-1, 1] clipped.

    Args:
        img: array or tensor in [-1, 1].
        window: the preset name or ``(level, width)`` the model was trained with.
    """
    level, width = resolve_window(window)
    return from_symmetric(img.clip(-1.0, 1.0), level - width / 2.0, level + width / 2.0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """
    Otsu's threshold of ``values``: the histogram bin edge maximising the between-class variance.

    Args:
        values: intensities (any shape).
        bins: number of histogram bins over ``[min, max]``.

    Returns:
        the threshold; for a constant input, that constant (so ``values > threshold`` is empty).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    vmin, vmax = float(values.min()), float(values.max())
    if vmin == vmax:
        return vmin
    hist, edges = np.histogram(values, bins=bins, range=(vmin, vmax))
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(hist)[:-1].astype(np.float64)
    weight_high = hist.sum() - weight_low
    mass = np.cumsum(hist * centres)[:-1]
    mean_low = mass / np.maximum(weight_low, 1)
    mean_high = (np.sum(hist * centres) - mass) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:-1][int(np.argmax(between))])


def head_mask(img: NdarrayOrTensor, threshold: float | None = None, fill_holes: bool = True) -> np.ndarray:
    """
    Foreground (head) mask of a channel-first 2D or 3D image: threshold, largest connected component, holes filled.

    Args:
        img: ``(C, X, Y)`` or ``(C, X, Y, Z)``; channels are averaged.
        threshold: ``None`` for Otsu's threshold, else a fraction in [0, 1) of the image's intensity range
            above its minimum (e.g. 0.1 keeps voxels brighter than ``min + 0.1 * (max - min)``).
        fill_holes: fill enclosed holes (in 3D, also slice by slice along the last, axial, axis so cavities
            open towards the neck are filled too).

    Returns:
        a boolean array ``(1, *spatial)``; all False for a constant image.
    """
    data = convert_to_numpy(img, dtype=np.float64)
    if data.ndim not in (3, 4):
        raise ValueError(f"head_mask expects (C, X, Y) or (C, X, Y, Z), got shape {data.shape}")
    data = data.mean(axis=0)
    vmin, vmax = float(data.min()), float(data.max())
    if threshold is None:
        level = otsu_threshold(data)
    elif 0.0 <= threshold < 1.0:
        level = vmin + threshold * (vmax - vmin)
    else:
        raise ValueError(f"threshold must be None (Otsu) or a fraction in [0, 1), got {threshold}")
    foreground = data > level
    labels, count = ndimage.label(foreground)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        foreground = labels == int(np.argmax(sizes))
    if fill_holes and count:
        foreground = ndimage.binary_fill_holes(foreground)
        if foreground.ndim == 3:
            for k in range(foreground.shape[-1]):
                foreground[..., k] = ndimage.binary_fill_holes(foreground[..., k])
    return foreground[None]


def foreground_slices(mask: NdarrayOrTensor, min_fraction: float, name: str | None = None) -> list[int]:
    """
    Indices along the last (axial) axis whose foreground fraction exceeds ``min_fraction``.

    Args:
        mask: ``(C, X, Y, Z)`` mask (non-zero is foreground; channels are combined with "any").
        min_fraction: a slice counts when its foreground fraction is strictly greater than this.
        name: file name for the error message.

    Raises:
        EmptyInputError: no slice qualifies.
    """
    data = convert_to_numpy(mask) != 0
    fractions = data.any(axis=0).reshape(-1, data.shape[-1]).mean(axis=0)
    indices = [int(i) for i in np.flatnonzero(fractions > min_fraction)]
    if not indices:
        raise EmptyInputError(
            name or source_name(mask),
            f"no axial slice has a foreground fraction above {min_fraction} (largest: {fractions.max():.3g})",
        )
    return indices


def eligible_slices(img: NdarrayOrTensor, mask: NdarrayOrTensor | None, min_fraction: float) -> list[int]:
    """
    :func:`foreground_slices` of ``mask``, or of ``img``'s Otsu :func:`head_mask` when ``mask`` is ``None``.

    Args:
        img: ``(C, X, Y, Z)`` volume (names the file in errors).
        mask: its foreground mask, or ``None``.
        min_fraction: a slice counts when its foreground fraction is strictly greater than this.
    """
    return foreground_slices(head_mask(img) if mask is None else mask, min_fraction, source_name(img))


def extract_axial_slice(img: NdarrayOrTensor, index: int) -> NdarrayOrTensor:
    """
    Slice ``index`` along the last axis of ``(C, X, Y, Z)`` → ``(C, X, Y)``, as its own copy.

    A ``MetaTensor`` keeps its 4×4 affine with the translation moved to the slice (voxel ``(i, j)`` of the slice
    maps to the world position of voxel ``(i, j, index)`` of the volume) and gains ``meta["slice_index"]``.

    Args:
        img: channel-first volume.
        index: slice index along the last axis.
    """
    if isinstance(img, MetaTensor):
        out = img[..., index].clone()  # clone deep-copies the metadata: the (cached) volume stays as it is
        affine = img.affine.clone()
        affine[:-1, -1] += affine[:-1, -2] * index
        out.affine = affine
        out.meta["slice_index"] = int(index)
        return out
    return img[..., index].copy() if isinstance(img, np.ndarray) else img[..., index].clone()


def extract_axial_slab(img: NdarrayOrTensor, index: int, slab: int = 1) -> NdarrayOrTensor:
    """
    The ``slab`` adjacent axial slices centred on ``index`` of a one-channel ``(1, X, Y, Z)`` volume as the channels
    of ``(slab, X, Y)``; past the first or last slice the end slice repeats (the padding of 2.5D inference).

    Metadata as for :func:`extract_axial_slice` of the centre slice; ``slab=1`` is that function.

    Args:
        img: channel-first one-channel volume.
        index: the centre slice.
        slab: odd number of slices.
    """
    if slab == 1:
        return extract_axial_slice(img, index)
    if slab % 2 == 0 or img.shape[0] != 1:
        raise ValueError(f"a slab needs an odd number of slices and a one-channel volume, got {slab}, {img.shape}")
    depth, half = img.shape[-1], slab // 2
    indices = [min(max(i, 0), depth - 1) for i in range(index - half, index + half + 1)]
    if isinstance(img, np.ndarray):
        return np.stack([img[0, ..., i] for i in indices])
    plain = img.as_tensor() if isinstance(img, MetaTensor) else img
    data = torch.stack([plain[0, ..., i] for i in indices])
    if isinstance(img, MetaTensor):
        centre = extract_axial_slice(img, index)
        return MetaTensor(data, affine=centre.affine, meta={k: v for k, v in centre.meta.items() if k != "affine"})
    return data
