"""Losses of the CycleGAN objective."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["lsgan_loss"]


def lsgan_loss(logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """
    Least-squares GAN loss (Mao et al. 2017) as CycleGAN uses it: the mean squared error of raw discriminator
    logits against a constant 1 (real) or 0 (fake) target, without any activation.

    Args:
        logits: discriminator output (any shape, e.g. PatchGAN's ``(B, 1, h, w)``).
        target_is_real: whether the target is 1 (real) or 0 (fake).

    """
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    return F.mse_loss(logits.float(), target.float())
