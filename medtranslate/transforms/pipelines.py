"""
Post-load pipelines for each domain, used by the datasets and the bundle configs.

Order: grayscale/channel check → RAS orientation (volumes) → intensity onto [-1, 1] (+ head mask) →
axial slice sampling (volumes) → crop to the head (headrest, table, text blanked) and resize
(:mod:`medtranslate.transforms.head`, as at inference) → CycleGAN augmentation (training) →
float32. Everything before the first random transform is deterministic, so ``CacheDataset`` caches it.
Output: float32 ``(1, image_size, image_size)`` in [-1, 1].

3D models (:func:`volume_transforms`): the same grey channel, RAS orientation and intensity, then isotropic
resampling (MONAI ``Spacing``), a crop to the head's bounding box and, for training, random patches.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import (
    Compose,
    CropForegroundd,
    DeleteItemsd,
    DivisiblePadd,
    EnsureTyped,
    Lambdad,
    MapTransform,
    RandFlipd,
    RandSpatialCropd,
    Spacing,
    SpatialPadd,
)
from monai.utils import ensure_tuple

from medtranslate.errors import InputError
from medtranslate.transforms.dictionary import (
    AxialOrientationd,
    AxialSlicesd,
    CTWindowd,
    EnsureGrayscaled,
    HeadCropd,
    HeadMaskd,
    MRINormalized,
    RandAxialSliced,
    RandCycleGANAugmentd,
    default_mask_keys,
)
from medtranslate.transforms.head import HEAD_LEVEL
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW

__all__ = ["MODALITIES", "ct_transforms", "intensity_transform", "mri_transforms", "volume_transforms"]

#: Accepted modality names → canonical DICOM modality.
MODALITIES: dict[str, str] = {"CT": "CT", "MR": "MR", "MRI": "MR"}


def intensity_transform(
    modality: str,
    keys: KeysCollection,
    mask_keys: KeysCollection | None = None,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    mri_mode: str = "percentile",
    lower: float = 0.5,
    upper: float = 99.5,
) -> MapTransform:
    """
    The intensity transform onto [-1, 1] for a modality: :class:`CTWindowd` for CT, :class:`MRINormalized` for MR.

    Args:
        modality: ``"CT"`` or ``"MR"`` (``"MRI"`` accepted; case-insensitive).
        keys: keys of the images.
        mask_keys: foreground masks for MRI statistics (``None``: an Otsu head mask is computed); unused for CT.
        window: CT window preset or ``(level, width)`` in HU.
        mri_mode: ``"percentile"`` or ``"zscore"``.
        lower: lower MRI percentile.
        upper: upper MRI percentile.

    Raises:
        InputError: unknown modality (or window/mode).
    """
    canonical = MODALITIES.get(str(modality).upper())
    if canonical == "CT":
        return CTWindowd(keys, window=window)
    if canonical == "MR":
        return MRINormalized(keys, mask_keys=mask_keys, mode=mri_mode, lower=lower, upper=upper)
    raise InputError(None, f"unknown modality {modality!r}; expected one of {sorted(MODALITIES)}")


def _domain_transforms(
    modality: str,
    keys: KeysCollection,
    image_size: int,
    load_size: int,
    augment: bool,
    volume: bool | None,
    random_slice: bool | None,
    min_foreground: float,
    flip_prob: float,
    affine_prob: float,
    track_meta: bool,
    window: str | Sequence[float],
    mri_mode: str,
    lower: float,
    upper: float,
    slab: int = 1,
) -> Compose:
    if image_size < 1 or load_size < image_size:
        raise ValueError(f"need 1 <= image_size <= load_size, got image_size={image_size}, load_size={load_size}")
    mask_keys: tuple[Hashable, ...] = default_mask_keys(keys)
    spatial_dims = {None: None, False: 2, True: 3}[volume]
    transforms: list = [EnsureGrayscaled(keys, spatial_dims=spatial_dims)]
    if volume is not False:
        transforms.append(AxialOrientationd(keys, axcodes="RAS"))
    intensity = intensity_transform(modality, keys, mask_keys, window, mri_mode, lower, upper)
    if isinstance(intensity, CTWindowd):
        # CT: mask the windowed image, where air and scanner padding are both -1
        transforms += [intensity, HeadMaskd(keys, mask_keys)] if volume is not False else [intensity]
    else:
        transforms += [HeadMaskd(keys, mask_keys), intensity]
    if volume is not False:
        if augment if random_slice is None else random_slice:
            transforms.append(RandAxialSliced(keys, mask_keys, min_foreground=min_foreground, slab=slab))
        else:
            transforms.append(AxialSlicesd(keys, mask_key=mask_keys[0], min_foreground=min_foreground, slab=slab))
    if volume is not False or not isinstance(intensity, CTWindowd):
        transforms.append(DeleteItemsd(mask_keys))
    # the head crop of inference (SliceTranslator) too: same function, same tensor for the same slice
    transforms.append(HeadCropd(keys, spatial_size=load_size if augment else image_size, background=-1.0))
    if augment:
        transforms.append(RandCycleGANAugmentd(keys, roi_size=image_size, flip_prob=flip_prob, affine_prob=affine_prob))
    transforms.append(EnsureTyped(keys, data_type="tensor", dtype=torch.float32, track_meta=track_meta))
    return Compose(transforms)


def ct_transforms(
    keys: KeysCollection = "ct",
    image_size: int = 256,
    load_size: int = 286,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    augment: bool = True,
    volume: bool | None = None,
    random_slice: bool | None = None,
    min_foreground: float = 0.05,
    flip_prob: float = 0.5,
    affine_prob: float = 0.0,
    track_meta: bool = True,
    slab: int = 1,
) -> Compose:
    """
    Post-load pipeline for CT (domain A) → float32 ``(1, image_size, image_size)`` in [-1, 1] (``(slab, ...)``
    with ``slab``).

    Args:
        keys: keys of the CT images (loaded channel-first, HU or 8/16-bit image CT).
        image_size: output side length.
        load_size: with ``augment``, images are resized/padded to this then randomly cropped to ``image_size``.
        window: CT window preset or ``(level, width)`` in HU.
        augment: training augmentation (resize to ``load_size``, random crop, flip, optional affine); ``False``
            resizes/pads straight to ``image_size`` and is deterministic.
        volume: ``True`` requires volumes, ``False`` requires 2D slices, ``None`` accepts either.
        random_slice: volumes give one random non-empty axial slice (``True``) or a list of samples, one per
            non-empty slice (``False``; then a 2D input gives a one-element list unless ``volume=False``);
            ``None`` follows ``augment``.
        min_foreground: foreground fraction above which an axial slice counts as non-empty.
        flip_prob: probability of the horizontal flip.
        affine_prob: probability of the small random affine (±5°, ±5 %); 0 disables it.
        track_meta: keep ``MetaTensor`` outputs (``False``: plain tensors).
        slab: volumes give that many adjacent axial slices (centred on the drawn one, end slices repeated) as the
            channels of one sample, cropped to the head together (2.5D); 1: one slice.
    """
    return _domain_transforms(
        "CT",
        keys,
        image_size,
        load_size,
        augment,
        volume,
        random_slice,
        min_foreground,
        flip_prob,
        affine_prob,
        track_meta,
        window=window,
        mri_mode="percentile",
        lower=0.5,
        upper=99.5,
        slab=slab,
    )


def mri_transforms(
    keys: KeysCollection = "mri",
    image_size: int = 256,
    load_size: int = 286,
    mode: str = "percentile",
    lower: float = 0.5,
    upper: float = 99.5,
    augment: bool = True,
    volume: bool | None = None,
    random_slice: bool | None = None,
    min_foreground: float = 0.05,
    flip_prob: float = 0.5,
    affine_prob: float = 0.0,
    track_meta: bool = True,
    slab: int = 1,
) -> Compose:
    """
    Post-load pipeline for MRI (domain B) → float32 ``(1, image_size, image_size)`` in [-1, 1] (``(slab, ...)``
    with ``slab``).

    Args:
        keys: keys of the MRI images (loaded channel-first, raw intensities or 8/16-bit images).
        image_size: output side length.
        load_size: with ``augment``, images are resized/padded to this then randomly cropped to ``image_size``.
        mode: ``"percentile"`` or ``"zscore"`` normalisation inside the Otsu head mask.
        lower: lower percentile.
        upper: upper percentile.
        augment: training augmentation; ``False`` is deterministic.
        volume: ``True`` requires volumes, ``False`` requires 2D slices, ``None`` accepts either.
        random_slice: one random non-empty slice (``True``) or all of them as a list (``False``; a 2D input
            then gives a one-element list unless ``volume=False``); ``None`` follows ``augment``.
        min_foreground: foreground fraction above which an axial slice counts as non-empty.
        flip_prob: probability of the horizontal flip.
        affine_prob: probability of the small random affine; 0 disables it.
        track_meta: keep ``MetaTensor`` outputs.
        slab: adjacent axial slices per sample as channels (2.5D; see :func:`ct_transforms`).
    """
    return _domain_transforms(
        "MR",
        keys,
        image_size,
        load_size,
        augment,
        volume,
        random_slice,
        min_foreground,
        flip_prob,
        affine_prob,
        track_meta,
        window=DEFAULT_CT_WINDOW,
        mri_mode=mode,
        lower=lower,
        upper=upper,
        slab=slab,
    )


def _is_head(x: torch.Tensor) -> torch.Tensor:
    return x > HEAD_LEVEL


def volume_transforms(
    keys: KeysCollection,
    modalities: str | Sequence[str],
    patch_size: int | None = 32,
    spacing: float = 2.0,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    flip_prob: float = 0.5,
    track_meta: bool = False,
) -> Compose:
    """
    Post-load pipeline of a 3D model: ``(1, X, Y, Z)`` volumes → float32 patches ``(1, P, P, P)`` in [-1, 1] (or,
    with ``patch_size=None``, the whole head padded to a multiple of 4 voxels, for validation).

    Per key: grey channel, RAS, the intensity of :func:`intensity_transform` (the CT window; MRI percentiles in its
    head mask). Then all keys together: resampled to ``spacing`` mm isotropic (trilinear), cropped to the head's
    bounding box (voxels above :data:`HEAD_LEVEL` of the first key, so a registered pair stays aligned), padded
    with background to at least one patch, one random patch and a random left-right flip. Everything before the
    patch is deterministic (cached by ``CacheDataset``).

    Args:
        keys: keys of the volumes.
        modalities: ``"CT"`` or ``"MR"`` for every key, or one per key.
        patch_size: side of the random cubic patches; ``None``: no patch, no flip.
        spacing: voxel size in mm after resampling.
        window: CT window preset or ``(level, width)`` in HU.
        flip_prob: probability of the left-right flip of a patch.
        track_meta: keep ``MetaTensor`` outputs.
    """
    keys = ensure_tuple(keys)
    modalities = (modalities,) * len(keys) if isinstance(modalities, str) else tuple(modalities)
    transforms: list = [EnsureGrayscaled(keys, spatial_dims=3), AxialOrientationd(keys, axcodes="RAS")]
    for key, modality in zip(keys, modalities, strict=True):
        mask_key = f"{key}_mask"
        intensity = intensity_transform(modality, key, mask_key, window, "percentile", 0.5, 99.5)
        if isinstance(intensity, CTWindowd):
            transforms.append(intensity)
        else:
            transforms += [HeadMaskd(key, mask_key), intensity, DeleteItemsd(mask_key)]
    transforms += [
        # the array transform: Spacingd would update every "<key>_*" entry of a NIfTI item as if it were a meta
        # dict, and UnpairedDataset items carry "<key>_path" strings
        Lambdad(keys, Spacing(pixdim=(spacing,) * 3, mode="bilinear", padding_mode="border")),
        CropForegroundd(
            keys, keys[0], _is_head, margin=2, allow_smaller=True, start_coord_key=None, end_coord_key=None
        ),
    ]
    if patch_size is None:
        transforms.append(DivisiblePadd(keys, k=4, mode="constant", value=-1.0))
    else:
        transforms += [
            SpatialPadd(keys, spatial_size=(patch_size,) * 3, mode="constant", value=-1.0),
            RandSpatialCropd(keys, roi_size=(patch_size,) * 3, random_size=False),
            RandFlipd(keys, prob=flip_prob, spatial_axis=0),
        ]
    transforms.append(EnsureTyped(keys, data_type="tensor", dtype=torch.float32, track_meta=track_meta))
    return Compose(transforms)
