"""Through-plane consistency of a volume translated slice by slice: how much it flickers along the slice axis.

A 2D model applied to each axial slice on its own can change its rendering from one slice to the next; a real
MRI varies smoothly through the plane wherever the anatomy does. :func:`slice_flicker` measures the mean absolute
second difference along the slice axis (0 for identical slices and for a linear ramp, large for slice-wise
changes) after an in-plane Gaussian smoothing (σ 2 voxels by default), which averages out voxel noise — present in
every real MRI — and keeps what flickers: regions whose rendering changes from one slice to the next;
:func:`through_plane_consistency` divides the synthetic volume's by the real MRI's on the same grid and
mask: 1.0 is as smooth as real, above 1 flickers more.
"""

from __future__ import annotations

import torch
from monai.networks.layers import GaussianFilter

from medtranslate.errors import DimensionError

__all__ = ["slice_flicker", "through_plane_consistency"]


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
