"""The seed paper's evaluation protocol, reproduced and put on consistent scales.

Jha & Iima (ICAART 2024) report MAE, MSE and PSNR of translated MRI against an *unpaired* reference MRI set.
Their PSNR 52.344 dB equals ``10·log10(255² / 0.37901)``: the peak of 8-bit images (255) with an MSE measured
on the model's [-1, 1] scale. On one scale the same MSE gives ``10·log10(2² / 0.379) ≈ 10.2 dB`` — and its CNN
baseline is near 10 dB as well. :func:`paper_protocol` computes the paper's mixed-scale figure next to the
consistent one so the difference is visible in every report.
"""

from __future__ import annotations

import math

import torch

__all__ = ["PAPER_PSNR_DB", "paper_protocol", "psnr"]

#: The figure reported by the paper for its CycleGAN (dB).
PAPER_PSNR_DB = 52.344


def psnr(mse: float, peak: float) -> float:
    """``10·log10(peak² / mse)`` in dB (``inf`` when ``mse`` is 0)."""
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def paper_protocol(fake: torch.Tensor, reference: torch.Tensor) -> dict[str, float | str]:
    """MAE/MSE/PSNR of synthetic MRI against an unpaired reference set, as the paper did and on one scale.

    Args:
        fake: synthetic MRI slices (N, 1, H, W) on the model's [-1, 1] scale.
        reference: real MRI slices (M, 1, H, W) on [-1, 1]; slice ``i`` of ``fake`` is compared with slice
            ``i % M`` of ``reference`` (an arbitrary pairing: the data are unpaired, as in the paper).

    Returns:
        ``MAE`` and ``MSE`` on [-1, 1]; ``PSNR_paper_scale_mix`` (peak 255 with that MSE, the paper's figure);
        ``PSNR_[-1,1]`` (peak 2, same MSE) and ``PSNR_0-255`` (both on 8-bit, equal to the previous one);
        and ``protocol``, a sentence naming what was compared.
    """
    fake = torch.as_tensor(fake).float()
    reference = torch.as_tensor(reference).float()
    ref = reference[torch.arange(len(fake)) % len(reference)]
    if ref.shape != fake.shape:
        raise ValueError(f"synthetic {tuple(fake.shape[1:])} and reference {tuple(ref.shape[1:])} slices differ")
    diff = fake - ref
    mse = float((diff**2).mean())
    mse_255 = float(((diff * 127.5) ** 2).mean())
    return {
        "MAE": float(diff.abs().mean()),
        "MSE": mse,
        "PSNR_paper_scale_mix": psnr(mse, 255.0),
        "PSNR_[-1,1]": psnr(mse, 2.0),
        "PSNR_0-255": psnr(mse_255, 255.0),
        "protocol": "paper (unpaired): synthetic MRI vs arbitrary real MRI slice; MAE/MSE on [-1, 1]",
    }
