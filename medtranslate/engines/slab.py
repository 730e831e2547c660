"""2.5D mechanics: a generator that sees ``k`` adjacent axial slices as channels and predicts the centre slice.

Training and validation batches of a 2.5D model hold ``2k - 1`` adjacent slices per item, ``(B, 2k-1, H, W)``:
the cycle ``A → B → A`` needs the synthetic *neighbours* of the centre slice too, so ``G_A`` runs on each of
the ``k`` windows around the centre (:func:`translate_slab`) and ``G_B`` on the ``k`` synthetic slices it made.
A 2D model is the case ``k = 1``: windows are the slices themselves and nothing is reshaped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["centre_slice", "slab_windows", "translate_slab"]


def centre_slice(x: torch.Tensor) -> torch.Tensor:
    """The middle channel of a ``(B, n, H, W)`` slab as ``(B, 1, H, W)``; one-channel inputs as they are."""
    if x.shape[1] == 1:
        return x
    mid = x.shape[1] // 2
    return x[:, mid : mid + 1]


def slab_windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``n - k + 1`` windows of ``k`` adjacent slices of a ``(B, n, H, W)`` slab, as ``(B·(n-k+1), k, H, W)``
    (item-major: the windows of item 0 first)."""
    b, n = x.shape[:2]
    if n < k:
        raise ValueError(f"a slab of {n} slices has no window of {k}")
    windows = x.unfold(1, k, 1)  # (B, n-k+1, H, W, k)
    return windows.movedim(-1, 2).reshape(b * (n - k + 1), k, *x.shape[2:])


def translate_slab(
    generator: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, k: int, centre_only: bool = False
) -> torch.Tensor:
    """Translate every slice of ``x`` that has ``k // 2`` neighbours on both sides: ``(B, n, H, W)`` →
    ``(B, n-k+1, H, W)`` (``centre_only``: the middle one, ``(B, 1, H, W)``); ``k = 1`` calls ``generator(x)``
    (any spatial dimensionality)."""
    if k == 1:
        return generator(x)
    if centre_only:
        h = x.shape[1] // 2
        return generator(x[:, h - k // 2 : h + k // 2 + 1])
    b, n = x.shape[:2]
    out = generator(slab_windows(x, k))  # (B·(n-k+1), 1, H, W)
    return out.reshape(b, n - k + 1, *out.shape[2:])
