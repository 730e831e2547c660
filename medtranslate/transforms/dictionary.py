"""
Dictionary-based wrappers of :mod:`medtranslate.transforms.array`. Random wrappers keep one array transform per
key, each with its own random state, because the ``"ct"`` and ``"mri"`` images of a sample are unpaired.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import DtypeLike, KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.transform import MapTransform, Randomizable
from monai.utils import MAX_SEED, ensure_tuple

from medtranslate.errors import DimensionError
from medtranslate.transforms.array import (
    AxialOrientation,
    AxialSlices,
    CTWindow,
    EnsureGrayscale,
    HeadMask,
    MRINormalize,
    RandAxialSlice,
    RandCycleGANAugment,
    ResizeLongestPad,
    ScaleToSymmetric,
)
from medtranslate.transforms.head import HEAD_MARGIN, HeadCrop, locate_head
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW
from medtranslate.transforms.utils import eligible_slices, extract_axial_slab, extract_axial_slice, source_name

__all__ = [
    "AxialOrientationd",
    "AxialSlicesd",
    "CTWindowd",
    "EnsureGrayscaled",
    "HeadCropd",
    "HeadMaskd",
    "MRINormalized",
    "RandAxialSliced",
    "RandCycleGANAugmentd",
    "ResizeLongestPadd",
    "ScaleToSymmetricd",
    "default_mask_keys",
]


def default_mask_keys(keys: KeysCollection, mask_keys: KeysCollection | None = None) -> tuple[Hashable, ...]:
    """``mask_keys`` as a tuple matching ``keys``; ``None`` gives ``"<key>_mask"`` for every key."""
    keys = ensure_tuple(keys)
    masks = tuple(f"{key}_mask" for key in keys) if mask_keys is None else ensure_tuple(mask_keys)
    if len(masks) != len(keys):
        raise ValueError(f"need one mask key per key, got keys={keys}, mask_keys={masks}")
    return masks


class EnsureGrayscaled(MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.EnsureGrayscale`.

    Args:
        keys: keys of the corresponding items to be transformed.
        spatial_dims: required number of spatial dimensions, 2 or 3; ``None`` accepts either.
        dtype: output data type; ``None`` keeps the input's.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = EnsureGrayscale.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: int | None = None,
        dtype: DtypeLike | torch.dtype = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = EnsureGrayscale(spatial_dims=spatial_dims, dtype=dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class CTWindowd(MapTransform, InvertibleTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.CTWindow`.

    Args:
        keys: keys of the corresponding items to be transformed.
        window: a preset name of ``CT_WINDOW_PRESETS`` or ``(level, width)`` in HU.
        dtype: output data type.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = CTWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        window: str | Sequence[float] = DEFAULT_CT_WINDOW,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.windower = CTWindow(window=window, dtype=dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.windower(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.windower.inverse(d[key])
        return d


class MRINormalized(MapTransform, InvertibleTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.MRINormalize`.

    Args:
        keys: keys of the corresponding items to be transformed.
        mask_keys: keys of foreground masks (one per key, e.g. from :class:`HeadMaskd`); ``None`` computes an
            Otsu head mask for each image.
        mode: ``"percentile"`` or ``"zscore"``.
        lower: lower percentile (0–100).
        upper: upper percentile (0–100).
        zscore_range: standard deviations mapped onto ±1 in ``"zscore"`` mode.
        dtype: output data type.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = MRINormalize.backend

    def __init__(
        self,
        keys: KeysCollection,
        mask_keys: KeysCollection | None = None,
        mode: str = "percentile",
        lower: float = 0.5,
        upper: float = 99.5,
        zscore_range: float = 3.0,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_keys = None if mask_keys is None else default_mask_keys(self.keys, mask_keys)
        self.normalizer = MRINormalize(mode=mode, lower=lower, upper=upper, zscore_range=zscore_range, dtype=dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        masks = self.mask_keys or (None,) * len(self.keys)
        for key, mask_key in self.key_iterator(d, masks):
            d[key] = self.normalizer(d[key], None if mask_key is None else d[mask_key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer.inverse(d[key])
        return d


class ScaleToSymmetricd(MapTransform, InvertibleTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.ScaleToSymmetric`.

    Args:
        keys: keys of the corresponding items to be transformed.
        low: value mapped to -1.
        high: value mapped to 1.
        clip: clip the result to [-1, 1].
        dtype: output data type.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = ScaleToSymmetric.backend

    def __init__(
        self,
        keys: KeysCollection,
        low: float = 0.0,
        high: float = 1.0,
        clip: bool = True,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = ScaleToSymmetric(low=low, high=high, clip=clip, dtype=dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler.inverse(d[key])
        return d


class HeadMaskd(MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.HeadMask`: writes each mask to a new key.

    Args:
        keys: keys of the images to mask.
        mask_keys: output keys, one per key; ``None`` gives ``"<key>_mask"``.
        threshold: ``None`` for Otsu, else a fraction in [0, 1) of the intensity range above the minimum.
        fill_holes: fill enclosed holes.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = HeadMask.backend

    def __init__(
        self,
        keys: KeysCollection,
        mask_keys: KeysCollection | None = None,
        threshold: float | None = None,
        fill_holes: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_keys = default_mask_keys(self.keys, mask_keys)
        self.masker = HeadMask(threshold=threshold, fill_holes=fill_holes)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, mask_key in self.key_iterator(d, self.mask_keys):
            d[mask_key] = self.masker(d[key])
        return d


class AxialOrientationd(MapTransform, InvertibleTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.AxialOrientation`.

    Args:
        keys: keys of the corresponding items to be transformed.
        axcodes: target orientation codes of a volume.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = AxialOrientation.backend

    def __init__(self, keys: KeysCollection, axcodes: str = "RAS", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.orienter = AxialOrientation(axcodes=axcodes)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.orienter(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.orienter.inverse(d[key])
        return d


class RandAxialSliced(Randomizable, MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.RandAxialSlice` with one slicer (and one random
    state) per key, so unpaired keys get independent slice indices. A key's mask is cut at the key's slice.

    Args:
        keys: keys of the volumes to slice.
        mask_keys: foreground masks, one per key (cut at the same index); ``None`` computes an Otsu head mask.
        min_foreground: a slice is eligible when its foreground fraction is strictly greater than this.
        slab: adjacent slices around the drawn one as channels (2.5D); masks are cut at the centre slice.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = RandAxialSlice.backend

    def __init__(
        self,
        keys: KeysCollection,
        mask_keys: KeysCollection | None = None,
        min_foreground: float = 0.05,
        slab: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.mask_keys = None if mask_keys is None else default_mask_keys(self.keys, mask_keys)
        self.slicers = {key: RandAxialSlice(min_foreground=min_foreground, slab=slab) for key in self.keys}

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandAxialSliced:
        super().set_random_state(seed, state)
        for slicer in self.slicers.values():
            slicer.set_random_state(seed=int(self.R.randint(MAX_SEED, dtype="uint32")))
        return self

    def randomize(self, data: Mapping[Hashable, NdarrayOrTensor]) -> None:
        """Draw every present key's slice index independently (2D images draw nothing)."""
        masks = self.mask_keys or (None,) * len(self.keys)
        for key, mask_key in self.key_iterator(dict(data), masks):
            img = data[key]
            if img.ndim == 4:
                mask = None if mask_key is None else data[mask_key]
                slicer = self.slicers[key]
                slicer.randomize(eligible_slices(img, mask, slicer.min_foreground))

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(d)
        masks = self.mask_keys or (None,) * len(self.keys)
        for key, mask_key in self.key_iterator(d, masks):
            d[key] = self.slicers[key](d[key], randomize=False)
            if mask_key is not None:
                d[mask_key] = extract_axial_slice(d[mask_key], self.slicers[key].index)
        return d


class AxialSlicesd(MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.AxialSlices`: returns a list of samples, one
    per kept axial slice, all ``keys`` cut at the same indices (e.g. a registered CT/MR pair for paired
    metrics); other entries are shared. A sample of 2D images gives a one-element list.

    Args:
        keys: keys of the volumes to slice (same depth).
        mask_key: key of the mask that selects the slices; ``None`` computes an Otsu head mask of the first key.
        min_foreground: a slice is kept when its foreground fraction is strictly greater than this.
        slab: each slice of ``keys`` with its neighbours as channels (2.5D); the mask is cut at the slice.
        allow_missing_keys: don't raise exception if key is missing.

    Raises:
        DimensionError: the keys have different depths.
        EmptyInputError: no slice qualifies.
    """

    backend = AxialSlices.backend

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: Hashable | None = None,
        min_foreground: float = 0.05,
        slab: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.slicer = AxialSlices(min_foreground=min_foreground, slab=slab)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> list[dict[Hashable, NdarrayOrTensor]]:
        d = dict(data)
        present = list(self.key_iterator(d))
        if not present or d[present[0]].ndim == 3:
            return [d]
        first = d[present[0]]
        for key in present[1:]:
            if d[key].shape[-1] != first.shape[-1]:
                raise DimensionError(
                    source_name(d[key]), f"depth {d[key].shape[-1]} differs from {key!r}'s {first.shape[-1]}"
                )
        masks = [self.mask_key] if self.mask_key in d else []
        indices = self.slicer.indices(first, None if self.mask_key is None else d[self.mask_key])
        slab = self.slicer.slab
        return [
            {
                **d,
                **{key: extract_axial_slab(d[key], k, slab) for key in present},
                **{key: extract_axial_slice(d[key], k) for key in masks},
            }
            for k in indices
        ]


class ResizeLongestPadd(MapTransform, InvertibleTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.ResizeLongestPad`.

    Args:
        keys: keys of the corresponding items to be transformed.
        spatial_size: output side length.
        background: pad value (-1 after scaling to [-1, 1]).
        mode: interpolation mode of ``Resize``.
        anti_aliasing: Gaussian smoothing before downsampling.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = ResizeLongestPad.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: int = 256,
        background: float = -1.0,
        mode: str = "bilinear",
        anti_aliasing: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.resizer = ResizeLongestPad(spatial_size, background=background, mode=mode, anti_aliasing=anti_aliasing)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resizer(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resizer.inverse(d[key])
        return d


class RandCycleGANAugmentd(Randomizable, MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.RandCycleGANAugment` with one augmenter (and one
    random state) per key: unlike MONAI's ``RandSpatialCropd``, two keys never share a crop, flip or affine.

    Args:
        keys: keys of the corresponding items to be transformed.
        roi_size: crop size.
        flip_prob: probability of the horizontal flip.
        affine_prob: probability of the random affine; 0 disables it.
        rotate_degrees: rotation range in degrees (±).
        scale_fraction: isotropic scale range (1 ±).
        background: value of areas moved in by the affine.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = RandCycleGANAugment.backend

    def __init__(
        self,
        keys: KeysCollection,
        roi_size: Sequence[int] | int = 256,
        flip_prob: float = 0.5,
        affine_prob: float = 0.0,
        rotate_degrees: float = 5.0,
        scale_fraction: float = 0.05,
        background: float = -1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.augmenters = {
            key: RandCycleGANAugment(roi_size, flip_prob, affine_prob, rotate_degrees, scale_fraction, background)
            for key in self.keys
        }

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandCycleGANAugmentd:
        super().set_random_state(seed, state)
        for augmenter in self.augmenters.values():
            augmenter.set_random_state(seed=int(self.R.randint(MAX_SEED, dtype="uint32")))
        return self

    def randomize(self, data: Mapping[Hashable, torch.Tensor]) -> None:
        """Draw every present key's parameters independently."""
        for key in self.key_iterator(dict(data)):
            self.augmenters[key].randomize(data[key].shape[1:])

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(d)
        for key in self.key_iterator(d):
            d[key] = self.augmenters[key](d[key], randomize=False)
        return d


class HeadCropd(MapTransform):
    """
    Dictionary-based wrapper of :py:class:`medtranslate.transforms.HeadCrop`.

    Args:
        keys: keys of the corresponding items to be transformed.
        spatial_size: output side.
        background: value of blanked pixels.
        margin: fraction of the head's larger side added around it.
        blank: blank pixels outside the head mask.
        joint: crop every key with the box and mask of the first one (voxel-aligned pairs stay aligned);
            otherwise each key is cropped to its own head.
        allow_missing_keys: don't raise exception if key is missing.
    """

    backend = HeadCrop.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: int = 256,
        background: float = -1.0,
        margin: float = HEAD_MARGIN,
        blank: bool = True,
        joint: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.cropper = HeadCrop(spatial_size, background=background, margin=margin, blank=blank)
        self.joint = joint

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        head = None
        for key in self.key_iterator(d):
            if not self.joint:
                d[key] = self.cropper(d[key])
                continue
            head = head or locate_head(d[key], self.cropper.margin)
            d[key] = self.cropper.apply(d[key], *head)
        return d
