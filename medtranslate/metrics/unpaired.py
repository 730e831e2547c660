"""Distribution distances between a set of synthetic and a set of real images, needing no pretrained weights.

Without registered pairs, the honest question is whether synthetic MRI *looks like* real MRI as a population.
Two distances answer it, both from the images alone:

- :func:`sliced_wasserstein_distance`: the multi-scale sliced Wasserstein distance of Karras et al. (2018,
  "Progressive Growing of GANs"): local 7×7 patches at each level of a Laplacian pyramid, normalised per level,
  compared by the 1D Wasserstein distance along random directions. Lower is closer; 0 for identical sets.
- :func:`intensity_wasserstein`: the 1D Wasserstein distance of the intensity histograms (inside the head).

:func:`bootstrap_ci` puts a percentile confidence interval on either by resampling images with replacement.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["bootstrap_ci", "intensity_wasserstein", "laplacian_pyramid", "sliced_wasserstein_distance"]


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels of (N, C, H, W) images, finest first; the last level is the low-pass residual."""
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=images.dtype)
    kernel = (kernel[:, None] * kernel[None, :]) / 256.0
    weight = kernel.expand(images.shape[1], 1, 5, 5).contiguous()

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), weight, groups=x.shape[1])

    pyramid, current = [], images
    for _ in range(levels - 1):
        down = blur(current)[:, :, ::2, ::2]
        up = F.interpolate(down, size=current.shape[2:], mode="bilinear", align_corners=False)
        pyramid.append(current - up)
        current = down
    pyramid.append(current)
    return pyramid


def _patches(level: torch.Tensor, n_per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n_per_image`` random ``size``×``size`` patches of each image, flattened: (N·n, C·size²)."""
    n, _, h, w = level.shape
    if h < size or w < size:
        raise ValueError(f"pyramid level {h}×{w} is smaller than the {size}×{size} patch: use fewer levels")
    ys = torch.randint(0, h - size + 1, (n, n_per_image), generator=gen)
    xs = torch.randint(0, w - size + 1, (n, n_per_image), generator=gen)
    offs = torch.arange(size)
    rows = (ys[..., None] + offs)[..., :, None].expand(n, n_per_image, size, size)
    cols = (xs[..., None] + offs)[..., None, :].expand(n, n_per_image, size, size)
    batch = torch.arange(n)[:, None, None, None].expand_as(rows)
    patches = level.permute(0, 2, 3, 1)[batch, rows, cols]  # (N, n, size, size, C)
    return patches.reshape(n * n_per_image, -1)


def _sliced_w1(a: torch.Tensor, b: torch.Tensor, n_projections: int, gen: torch.Generator) -> float:
    """Mean over random unit directions of the 1D Wasserstein-1 distance of the projected samples."""
    dirs = torch.randn(a.shape[1], n_projections, generator=gen, dtype=a.dtype)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa, pb = (a @ dirs).sort(dim=0).values, (b @ dirs).sort(dim=0).values
    if pa.shape[0] != pb.shape[0]:  # compare quantiles when the sets differ in size
        q = torch.linspace(0, 1, min(pa.shape[0], pb.shape[0]), dtype=a.dtype)
        pa, pb = torch.quantile(pa, q, dim=0), torch.quantile(pb, q, dim=0)
    return float((pa - pb).abs().mean())


def sliced_wasserstein_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    levels: int = 3,
    patch_size: int = 7,
    patches_per_image: int = 64,
    n_projections: int = 128,
    seed: int = 0,
) -> float:
    """Multi-scale sliced Wasserstein distance between two image sets (mean over pyramid levels, ×10³).

    Args:
        x: images (N, C, H, W) on one scale, e.g. synthetic MRI in [-1, 1].
        y: images (M, C, H', W') on the same scale, e.g. real MRI; sizes may differ from ``x``.
        levels: Laplacian pyramid levels; fewer are used when the images are too small for the coarsest level
            to hold a ``patch_size`` patch.
        patch_size: side of the local patches compared.
        patches_per_image: random patches drawn per image and level.
        n_projections: random directions per level.
        seed: seeds the patch positions and directions, so the same inputs give the same number.
    """
    smallest = min(*x.shape[2:], *y.shape[2:])
    if smallest < patch_size:
        raise ValueError(f"images of side {smallest} are smaller than the {patch_size}×{patch_size} patch")
    while levels > 1 and smallest // 2 ** (levels - 1) < patch_size:
        levels -= 1
    gen = torch.Generator().manual_seed(seed)
    px, py = laplacian_pyramid(x.float(), levels), laplacian_pyramid(y.float(), levels)
    distances = []
    for lx, ly in zip(px, py, strict=True):
        a = _patches(lx, patches_per_image, patch_size, gen)
        b = _patches(ly, patches_per_image, patch_size, gen)
        both = torch.cat([a, b])
        mean, std = both.mean(dim=0), both.std(dim=0).clamp_min(1e-8)
        distances.append(_sliced_w1((a - mean) / std, (b - mean) / std, n_projections, gen))
    return 1e3 * float(np.mean(distances))


def intensity_wasserstein(x: torch.Tensor, y: torch.Tensor, threshold: float | None = -0.9) -> float:
    """1D Wasserstein-1 distance between the intensity distributions of two image sets (same scale).

    Args:
        x: images, any shape, e.g. synthetic MRI in [-1, 1].
        y: images on the same scale.
        threshold: keep only values above it (the head, for images in [-1, 1] with background -1); ``None``
            keeps every value.
    """
    a, b = torch.as_tensor(x).flatten().float(), torch.as_tensor(y).flatten().float()
    if threshold is not None:
        a, b = a[a > threshold], b[b > threshold]
    if a.numel() == 0 or b.numel() == 0:
        return float("nan")
    q = torch.linspace(0, 1, 1001)
    return float(
        (
            torch.quantile(a[:: max(1, a.numel() // 1_000_000)], q)
            - torch.quantile(b[:: max(1, b.numel() // 1_000_000)], q)
        )
        .abs()
        .mean()
    )


def bootstrap_ci(
    statistic: Callable[[torch.Tensor, torch.Tensor], float],
    x: torch.Tensor,
    y: torch.Tensor,
    n_boot: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap of ``statistic(x, y)`` over images (resampled with replacement in each set).

    Returns:
        ``{"value": statistic on the full sets, "ci_low", "ci_high", "n_boot", "confidence"}``.
    """
    rng = np.random.default_rng(seed)
    values = [
        statistic(
            x[torch.as_tensor(rng.integers(0, len(x), len(x)))], y[torch.as_tensor(rng.integers(0, len(y), len(y)))]
        )
        for _ in range(n_boot)
    ]
    lo, hi = np.nanpercentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
    return {
        "value": statistic(x, y),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_boot": n_boot,
        "confidence": confidence,
    }
