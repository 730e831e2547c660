"""
The one preprocessing step that training, validation, evaluation and inference share: crop an axial slice to
the head and bring it to the network's square size.

:func:`find_head` takes the largest connected component of the slice above a low threshold (after a small
morphological opening, which cuts the thin bridges to a headrest or table), fills its holes and grows it by a
rim; :func:`crop_head` blanks everything outside it (headrest, table, frames, text), cuts a square box around it
with a margin (areas outside the image repeat its edge) and resizes that box to ``size`` with
:func:`resize_slices`. :func:`uncrop_head` puts a network output back into the slice's own grid.
:class:`HeadCrop` is the array transform of the training pipelines and
:class:`~medtranslate.inference.SliceTranslator` calls the same functions per slice, so a slice gives the
same tensor in training and at inference (``tests/transforms/test_head.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.transforms.transform import Transform
from monai.utils import TransformBackends
from scipy import ndimage

from medtranslate.transforms.utils import otsu_threshold

__all__ = [
    "HEAD_LEVEL",
    "HeadBox",
    "HeadCrop",
    "apply_head_crop",
    "crop_affine",
    "crop_head",
    "find_head",
    "locate_head",
    "resize_slices",
    "uncrop_head",
]

#: Intensity on the model's [-1, 1] scale above which a pixel may belong to the head (5 % of the range above
#: the background -1): air and scanner padding are -1 in windowed CT and below it in normalised MRI.
HEAD_LEVEL = -0.9

#: Fraction of the head's larger side added on every side of the crop box.
HEAD_MARGIN = 0.04


@dataclass(frozen=True)
class HeadBox:
    """Where a slice's head crop came from: the square box ``[x0, x0 + side) × [y0, y0 + side)`` in the slice's
    pixels (it may reach outside the slice) and the slice's in-plane shape."""

    x0: int
    y0: int
    side: int
    shape: tuple[int, int]


def resize_slices(slices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(N, C, X, Y)`` slices to ``size`` bilinearly, anti-aliased when shrinking (the one resize of the
    project's slices, training and inference alike)."""
    if tuple(slices.shape[-2:]) == tuple(size):
        return slices
    shrink = size[0] < slices.shape[-2] or size[1] < slices.shape[-1]
    return F.interpolate(slices, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def find_head(image: torch.Tensor, level: float = HEAD_LEVEL, opening: int = 2, rim: int = 2) -> np.ndarray | None:
    """The head of a ``(C, X, Y)`` slice on [-1, 1] as a boolean ``(X, Y)`` mask, or ``None`` when it has none.

    The largest component above ``level``; when that touches all four edges of the slice (a grey frame or
    screenshot background around the head), the largest component above Otsu's threshold instead.

    Args:
        image: the slice (channels are averaged).
        level: pixels above it may be head.
        opening: radius in pixels of the opening that separates the head from touching headrests, tables or text.
        rim: pixels the filled component is grown by, so the blanking keeps the skin's edge.
    """
    data = torch.as_tensor(image).detach().float().mean(0).cpu().numpy()
    head = _largest_component(data > level, opening)
    if head is not None and head[0].any() and head[-1].any() and head[:, 0].any() and head[:, -1].any():
        head = _largest_component(data > otsu_threshold(data), opening)
    if head is None:
        return None
    head = ndimage.binary_fill_holes(head)
    if rim:
        head = ndimage.binary_dilation(head, structure=np.ones((2 * rim + 1,) * 2, bool))
    return head


def _largest_component(foreground: np.ndarray, opening: int) -> np.ndarray | None:
    if opening:
        foreground = ndimage.binary_opening(foreground, structure=np.ones((2 * opening + 1,) * 2, bool))
    labels, count = ndimage.label(foreground)
    if not count:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _head_box(mask: np.ndarray | None, shape: tuple[int, int], margin: float) -> HeadBox:
    if mask is None:  # nothing above the level: the whole slice, as a centred square
        xs, ys = (0, shape[0] - 1), (0, shape[1] - 1)
    else:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        xs, ys = (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))
    extent = max(xs[1] - xs[0], ys[1] - ys[0]) + 1
    side = math.ceil(extent * (1 + 2 * margin)) if mask is not None else extent
    x0 = math.floor((xs[0] + xs[1] + 1 - side) / 2)
    y0 = math.floor((ys[0] + ys[1] + 1 - side) / 2)
    return HeadBox(x0, y0, side, shape)


def _window(image: torch.Tensor, box: HeadBox) -> torch.Tensor:
    """The ``box`` region of a ``(C, X, Y)`` image; parts outside the image repeat its edge (background where the
    edge is background; a head cut by the field of view is not given a dark rim)."""
    x, y = box.shape
    pads = (max(-box.y0, 0), max(box.y0 + box.side - y, 0), max(-box.x0, 0), max(box.x0 + box.side - x, 0))
    sx, sy = slice(max(box.x0, 0), min(box.x0 + box.side, x)), slice(max(box.y0, 0), min(box.y0 + box.side, y))
    inside = image[:, sx, sy]
    return F.pad(inside[None], pads, mode="replicate")[0] if any(pads) else inside


def locate_head(image: torch.Tensor, margin: float = HEAD_MARGIN) -> tuple[HeadBox, np.ndarray | None]:
    """The crop box and head mask of a ``(C, X, Y)`` slice on [-1, 1] (mask ``None``: no head, whole slice)."""
    mask = find_head(torch.as_tensor(image))
    return _head_box(mask, tuple(image.shape[1:3]), margin), mask


def apply_head_crop(
    image: torch.Tensor, box: HeadBox, mask: np.ndarray | None, size: int, background: float = -1.0, blank: bool = True
) -> torch.Tensor:
    """Cut ``box`` out of a ``(C, X, Y)`` slice (outside ``mask`` blanked when ``blank``) and resize it to
    ``(C, size, size)``; a plain float32 tensor."""
    plain = (image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)).float()
    if blank and mask is not None:
        plain = torch.where(
            torch.from_numpy(mask).to(plain.device), plain, torch.tensor(background, device=plain.device)
        )
    return resize_slices(_window(plain, box)[None], (size, size))[0]


def crop_head(
    image: torch.Tensor, size: int, background: float = -1.0, margin: float = HEAD_MARGIN, blank: bool = True
) -> tuple[torch.Tensor, HeadBox, np.ndarray | None]:
    """Crop a ``(C, X, Y)`` slice on [-1, 1] to its head and resize it to ``(C, size, size)``.

    Args:
        image: the slice.
        size: the output side.
        background: the value of blanked pixels.
        margin: fraction of the head's larger side added on every side of the box.
        blank: set pixels outside the head mask to ``background`` (headrest, table, text).

    Returns:
        ``(crop, box, mask)``: the resized crop, where it came from and the head mask (``None``: no head found;
        the whole slice is used).
    """
    box, mask = locate_head(image, margin)
    return apply_head_crop(image, box, mask, size, background, blank), box, mask


def uncrop_head(
    crop: torch.Tensor, box: HeadBox, mask: np.ndarray | None = None, background: float = -1.0
) -> torch.Tensor:
    """Put a ``(C, size, size)`` output of :func:`crop_head`'s crop back onto the slice's ``(C, X, Y)`` grid;
    outside the box and, when given, outside ``mask`` is ``background``."""
    window = resize_slices(crop[None].float(), (box.side, box.side))[0]
    out = crop.new_full((crop.shape[0], *box.shape), background, dtype=torch.float32)
    sx, sy = (
        slice(max(box.x0, 0), min(box.x0 + box.side, box.shape[0])),
        slice(max(box.y0, 0), min(box.y0 + box.side, box.shape[1])),
    )
    out[:, sx, sy] = window[:, sx.start - box.x0 : sx.stop - box.x0, sy.start - box.y0 : sy.stop - box.y0]
    if mask is not None:
        out = torch.where(torch.from_numpy(mask).to(out.device), out, torch.tensor(background, device=out.device))
    return out


class HeadCrop(Transform):
    """
    Crop a ``(C, X, Y)`` slice on [-1, 1] to the head, blank what is outside it and resize to ``spatial_size``
    (see :func:`crop_head`). A ``MetaTensor`` keeps its metadata, with the affine moved onto the crop's grid and
    the box in ``meta["head_box"]`` as ``[x0, y0, side, X, Y]`` (:func:`uncrop_head` undoes it).

    Args:
        spatial_size: output side.
        background: value of blanked pixels.
        margin: fraction of the head's larger side added around it.
        blank: blank pixels outside the head mask.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __init__(
        self, spatial_size: int = 256, background: float = -1.0, margin: float = HEAD_MARGIN, blank: bool = True
    ) -> None:
        self.spatial_size = spatial_size
        self.background = background
        self.margin = margin
        self.blank = blank

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """
        Args:
            img: channel-first 2D slice on [-1, 1].
        """
        if img.ndim != 3:
            raise ValueError(f"HeadCrop expects a (C, X, Y) slice, got shape {tuple(img.shape)}")
        return self.apply(img, *locate_head(img, self.margin))

    def apply(self, img: torch.Tensor, box: HeadBox, mask: np.ndarray | None) -> torch.Tensor:
        """Crop ``img`` with a given box and mask (e.g. a registered MRI with its CT's)."""
        crop = apply_head_crop(img, box, mask, self.spatial_size, self.background, self.blank)
        if isinstance(img, MetaTensor):
            meta = dict(img.meta)
            meta["head_box"] = [box.x0, box.y0, box.side, *box.shape]
            return MetaTensor(crop, affine=crop_affine(img.affine, box, self.spatial_size), meta=meta)
        return crop


def crop_affine(affine: torch.Tensor, box: HeadBox, size: int) -> torch.Tensor:
    """The affine of a ``size``² crop made from ``box``: crop pixel ``i`` samples the slice at
    ``x0 - 0.5 + (i + 0.5) · side / size`` (pixel centres, as :func:`resize_slices`)."""
    scale = box.side / size
    to_source = torch.eye(affine.shape[0], dtype=torch.float64)
    to_source[0, 0] = to_source[1, 1] = scale
    to_source[0, -1] = box.x0 - 0.5 + 0.5 * scale
    to_source[1, -1] = box.y0 - 0.5 + 0.5 * scale
    return torch.as_tensor(affine, dtype=torch.float64) @ to_source
