"""Paired image metrics (MAE, MSE, PSNR, SSIM, MS-SSIM) on a stated intensity scale, optionally inside a mask.

Paired metrics only mean something when prediction and reference show the same anatomy at the same place:
registered slices of one subject (see :mod:`medtranslate.metrics.registration`). The scale is explicit:
``data_range`` is the peak-to-peak range of the scale the inputs are on (1.0 for [0, 1], 2.0 for [-1, 1],
255 for 8-bit), and PSNR is ``10·log10(data_range² / MSE)``.
"""

from __future__ import annotations

import math

import torch
from monai.metrics import MAEMetric, MSEMetric, MultiScaleSSIMMetric
from monai.metrics.regression import compute_ssim_and_cs

from medtranslate.transforms.utils import head_mask

__all__ = ["HEAD_FRACTION", "MS_SSIM_MIN_SIDE", "ct_head_mask", "paired_metrics", "symmetric_to_unit"]

#: The CT head mask keeps the largest connected region above 5 % of the image's range (air and padding are -1;
#: Otsu would split bone from soft tissue on a head-windowed CT), holes filled.
HEAD_FRACTION = 0.05

#: MONAI's MS-SSIM with its default 11-pixel kernel and 5 scales needs every side larger than this.
MS_SSIM_MIN_SIDE = 161


def symmetric_to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map the model's [-1, 1] scale to [0, 1] (clipped), the scale metrics are reported on by default."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def ct_head_mask(ct: torch.Tensor) -> torch.Tensor:
    """The mask paired metrics are scored in: the head of a windowed CT ``(1, X, Y[, Z])`` on [-1, 1] (bool)."""
    return torch.from_numpy(head_mask(ct, threshold=HEAD_FRACTION))


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    """(H, W) / (C, H, W) / (B, C, H, W) → (B, C, H, W) float32 (3D analogously with a leading batch)."""
    x = torch.as_tensor(x).float()
    if x.ndim == 2:
        return x[None, None]
    if x.ndim == 3:
        return x[None]
    return x


def _masked_ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, data_range: float) -> float:
    """Mean SSIM map (11-pixel Gaussian window, σ 1.5) over the mask, or over the whole image without one.

    With a mask, both images are set to 0 outside it first, so windows at the edge of the mask see the same
    background in both and only differences inside the mask count.
    """
    spatial_dims = pred.ndim - 2
    if mask is not None:
        pred, target = pred.where(mask, 0.0), target.where(mask, 0.0)
    ssim_map, _ = compute_ssim_and_cs(
        pred,
        target,
        spatial_dims=spatial_dims,
        kernel_size=[11] * spatial_dims,
        kernel_sigma=[1.5] * spatial_dims,
        data_range=data_range,
    )
    if mask is None:
        return float(ssim_map.mean())
    # the SSIM map is the 'valid' part of the convolution: crop the mask the same way (centre of each window)
    crop = tuple(slice(5, 5 + s) for s in ssim_map.shape[2:])
    inner = mask[(slice(None), slice(None), *crop)].expand_as(ssim_map)
    return float(ssim_map[inner].mean()) if inner.any() else float("nan")


def paired_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    data_range: float = 1.0,
    ssim: bool = True,
) -> dict[str, float]:
    """MAE, MSE, PSNR and SSIM of ``pred`` against ``target`` (and MS-SSIM when every side is ≥ 161).

    Args:
        pred: prediction, (H, W), (C, H, W) or (B, C, H, W); 3D volumes with one more axis.
        target: reference of the same shape and on the same scale.
        mask: optional boolean mask of the same spatial shape (broadcast over batch/channels); MAE, MSE and PSNR
            use the voxels inside, SSIM averages its map inside. MS-SSIM ignores the mask (it needs whole images).
        data_range: peak-to-peak range of the scale ``pred`` and ``target`` are on (1.0 for [0, 1]).
        ssim: compute SSIM (and MS-SSIM); ``False`` reports SSIM as ``nan`` (images thinner than its window).

    Returns:
        ``{"MAE", "MSE", "PSNR", "SSIM"}`` (+ ``"MS-SSIM"``) as floats; PSNR is ``inf`` for identical inputs.
    """
    pred, target = _as_batch(pred), _as_batch(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    bool_mask = None
    if mask is not None:
        bool_mask = _as_batch(torch.as_tensor(mask)).bool().expand_as(pred)
        p, t = pred[bool_mask][None, None], target[bool_mask][None, None]
    else:
        p, t = pred.flatten()[None, None], target.flatten()[None, None]
    mae = float(MAEMetric()(p, t).mean())
    mse = float(MSEMetric()(p, t).mean())
    result = {
        "MAE": mae,
        "MSE": mse,
        "PSNR": math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse),
        "SSIM": _masked_ssim(pred, target, bool_mask, data_range) if ssim else math.nan,
    }
    if ssim and min(pred.shape[2:]) >= MS_SSIM_MIN_SIDE:
        ms_ssim = MultiScaleSSIMMetric(spatial_dims=pred.ndim - 2, data_range=data_range)
        result["MS-SSIM"] = float(ms_ssim(pred, target).mean())
    return result
