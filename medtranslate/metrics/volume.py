"""Through-plane consistency of a volume translated slice by slice: how much it flickers along the slice axis.

A 2D model applied to each axial slice on its own can change its rendering from one slice to the next; a real
MRI varies smoothly through the plane wherever the anatomy does. :func:`slice_flicker` measures the mean absolute
second difference along the slice axis (0 for identical slices and for a linear ramp, large for slice-wise
changes) after an in-plane Gaussian smoothing (σ 2 voxels by default), which averages out voxel noise — present in
every real MRI — and keeps what flickers: regions whose rendering changes from one slice to the next;
:func:`through_plane_consistency` divides the synthetic volume's by the real MRI's on the same grid and
mask: 1.0 is as smooth as real, above 1 flickers more. :func:`volume_metrics` adds the 3D paired metrics of a
synthetic volume against a voxel-aligned real one inside the head.
"""

from __future__ import annotations

import torch
from monai.networks.layers import GaussianFilter
from monai.transforms import generate_spatial_bounding_box

from medtranslate.errors import DimensionError
from medtranslate.metrics.paired import paired_metrics

__all__ = ["SSIM_KERNEL", "slice_flicker", "through_plane_consistency", "volume_metrics"]

#: side in voxels of the SSIM window of :func:`~medtranslate.metrics.paired.paired_metrics` (Gaussian, σ 1.5).
SSIM_KERNEL = 11


def slice_flicker(
    volume: torch.Tensor, mask: torch.Tensor | None = None, axis: int = -1, in_plane_sigma: float = 2.0
) -> float:
    """Mean ``|v[k+1] - 2 v[k] + v[k-1]|`` along ``axis`` (the slice axis), over voxels whose three slices are all
    inside ``mask`` (every voxel without one).

    Args:
        volume: ``(X, Y, Z)`` or ``(1, X, Y, Z)``, on a stated intensity scale (e.g. [0, 1]).
        mask: boolean of the same spatial shape (e.g. the head), or ``None``.
        axis: the slice axis of the spatial dimensions (default the last, axial in RAS).
        in_plane_sigma: σ in voxels of the Gaussian applied to each slice first (0: none).

    Raises:
        DimensionError: not a volume of at least three slices, or a mask of another shape.
    """
    v = torch.as_tensor(volume).float()
    if v.ndim == 4 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 3 or v.shape[axis] < 3:
        raise DimensionError(None, f"slice_flicker needs an (X, Y, Z) volume of >= 3 slices, got {tuple(v.shape)}")
    spatial = v.shape
    v = v.movedim(axis, -1)
    if in_plane_sigma > 0:
        slices = v.permute(2, 0, 1)[:, None]  # (Z, 1, X, Y)
        v = GaussianFilter(2, in_plane_sigma)(slices)[:, 0].permute(1, 2, 0)
    second = (v[..., 2:] - 2 * v[..., 1:-1] + v[..., :-2]).abs()
    if mask is None:
        return float(second.mean())
    m = torch.as_tensor(mask).bool()
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.shape != spatial:
        raise DimensionError(None, f"mask shape {tuple(m.shape)} differs from the volume's {tuple(spatial)}")
    m = m.movedim(axis, -1)
    inside = m[..., 2:] & m[..., 1:-1] & m[..., :-2]
    return float(second[inside].mean()) if inside.any() else 0.0


def through_plane_consistency(
    synthetic: torch.Tensor,
    reference: torch.Tensor,
    mask: torch.Tensor | None = None,
    axis: int = -1,
    in_plane_sigma: float = 2.0,
) -> float:
    """:func:`slice_flicker` of ``synthetic`` ÷ that of ``reference`` (the real MRI on the same grid): 1.0 = as
    smooth through the plane as real; ``inf`` when the reference does not vary at all and the synthetic does."""
    real = slice_flicker(reference, mask, axis, in_plane_sigma)
    ours = slice_flicker(synthetic, mask, axis, in_plane_sigma)
    if real == 0.0:
        return 1.0 if ours == 0.0 else float("inf")
    return ours / real


def volume_metrics(
    synthetic: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0
) -> dict[str, float]:
    """3D MAE/MSE/PSNR/SSIM (:func:`~medtranslate.metrics.paired.paired_metrics`, MONAI's SSIM with
    ``spatial_dims=3``) and :func:`through_plane_consistency` of a synthetic volume against the real one.

    Both are cropped to the bounding box of ``mask`` plus half an SSIM window (so every voxel of the mask is the
    centre of a window where the volume allows), then scored inside ``mask``; SSIM is ``nan`` when the crop is
    thinner than :data:`SSIM_KERNEL` voxels along an axis.

    Args:
        synthetic: ``(1, X, Y, Z)`` on the scale of ``data_range`` (e.g. [0, 1]), axial slices along the last axis.
        reference: the real volume on the same grid and scale.
        mask: ``(1, X, Y, Z)`` boolean (the head).
        data_range: peak-to-peak range of the scale.

    Returns:
        ``{"MAE", "MSE", "PSNR", "SSIM", "through_plane_consistency"}``.

    Raises:
        DimensionError: the three differ in shape or are not ``(1, X, Y, Z)``.
    """
    shapes = {tuple(torch.as_tensor(t).shape) for t in (synthetic, reference, mask)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4:
        raise DimensionError(None, f"volume_metrics needs three (1, X, Y, Z) of one shape, got {sorted(shapes)}")
    mask = torch.as_tensor(mask).bool()
    start, end = generate_spatial_bounding_box(mask, margin=SSIM_KERNEL // 2, allow_smaller=True)
    box = (slice(None), *(slice(a, b) for a, b in zip(start, end, strict=True)))
    syn, ref, inside = torch.as_tensor(synthetic)[box], torch.as_tensor(reference)[box], mask[box]
    values = paired_metrics(syn, ref, inside, data_range, ssim=min(inside.shape[1:]) >= SSIM_KERNEL)
    values["through_plane_consistency"] = through_plane_consistency(syn, ref, inside)
    return values
