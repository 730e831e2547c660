"""Losses of the CycleGAN objective, and the structure-preserving terms that can be added to it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "STRUCTURE_LOSSES",
    "head_mask_loss",
    "local_correlation_loss",
    "lsgan_loss",
    "mind_descriptor",
    "structure_loss",
]


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


#: ``structure_loss`` kinds of :func:`structure_loss`.
STRUCTURE_LOSSES = ("mind", "correlation")


def _shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``img`` moved by ``(dx, dy)`` pixels in its last two dimensions, edges replicated."""
    padded = F.pad(img, (max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0)), mode="replicate")
    h, w = img.shape[-2:]
    x0, y0 = max(-dx, 0), max(-dy, 0)
    return padded[..., x0 : x0 + h, y0 : y0 + w]


def mind_descriptor(img: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """MIND (Heinrich et al. 2012) of ``(B, 1, H, W)`` images over the 4-neighbourhood: ``(B, 4, H, W)`` in [0, 1].

    Each channel is ``exp(-D_r / V)`` with ``D_r`` the patch distance (a 3×3 box of squared differences) to the
    neighbour at offset ``r`` and ``V`` their mean: it describes local structure independently of the intensity
    mapping, so CT and MRI of the same anatomy have similar descriptors even where the contrast is inverted.
    """
    img = img.float()
    offsets = ((radius, 0), (-radius, 0), (0, radius), (0, -radius))
    dist = torch.cat(
        [F.avg_pool2d((img - _shift(img, dx, dy)) ** 2, 3, 1, 1, count_include_pad=False) for dx, dy in offsets], dim=1
    )
    variance = dist.mean(1, keepdim=True)
    mean_variance = variance.mean(dim=(1, 2, 3), keepdim=True)
    variance = variance.clamp(min=1e-3 * mean_variance + 1e-8, max=1e3 * mean_variance + 1e-8)
    mind = torch.exp(-dist / variance)
    return mind / mind.amax(1, keepdim=True).clamp_min(1e-8)


def local_correlation_loss(x: torch.Tensor, y: torch.Tensor, window: int = 7, eps: float = 1e-4) -> torch.Tensor:
    """``1 − r²`` of the local (``window``² box) Pearson correlation between ``x`` and ``y``, averaged where ``x``
    has structure: sign-invariant, so an inverted contrast (CT bone bright, T1 bone dark) costs nothing while
    structure that appears or vanishes does."""
    x, y = x.float(), y.float()
    pool = lambda t: F.avg_pool2d(t, window, 1, window // 2, count_include_pad=False)  # noqa: E731
    mx, my = pool(x), pool(y)
    vx, vy = (pool(x * x) - mx**2).clamp_min(0), (pool(y * y) - my**2).clamp_min(0)
    cov = pool(x * y) - mx * my
    r2 = cov**2 / (vx * vy + eps)
    weight = (vx > eps).float()
    return ((1 - r2.clamp(max=1)) * weight).sum() / weight.sum().clamp_min(1)


def structure_loss(kind: str, source: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
    """A modality-independent structure loss between an input and its translation (``STRUCTURE_LOSSES``):
    ``"mind"``, the L1 distance of their MIND descriptors (Yang et al. 2018), or ``"correlation"``,
    :func:`local_correlation_loss`."""
    if kind == "mind":
        return F.l1_loss(mind_descriptor(translated), mind_descriptor(source))
    if kind == "correlation":
        return local_correlation_loss(source, translated)
    raise ValueError(f"unknown structure loss {kind!r}; choose one of {', '.join(STRUCTURE_LOSSES)}")


def head_mask_loss(
    source: torch.Tensor, translated: torch.Tensor, level: float = -0.9, blur: int = 15, softness: float = 0.05
) -> torch.Tensor:
    """Head-mask consistency (after MaskGAN, Phan et al. 2023): the L1 distance between the head of the input
    (pixels above ``level``, closed by a ``blur``-pixel box so dark bone and CSF inside count) and the same,
    made differentiable with a sigmoid of ``softness``, of its translation: the head keeps its outline, nothing
    grows outside it and nothing inside turns into background."""
    close = lambda t: F.avg_pool2d(t.float(), blur, 1, blur // 2, count_include_pad=False)  # noqa: E731
    target = (close((source.float() > level).float()) > 0.5).float()
    soft = torch.sigmoid((close(translated) - level) / softness)
    return F.l1_loss(soft, target)
