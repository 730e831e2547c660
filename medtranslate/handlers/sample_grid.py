"""Sample grids of translations (the paper's Figure 5 layout): rows are cases, columns are images."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from medtranslate.io.atomic import atomic_write_bytes

__all__ = ["GRID_COLUMNS", "HEADER_HEIGHT", "make_sample_grid", "save_sample_grid"]

#: the columns of a validation grid
GRID_COLUMNS: tuple[str, ...] = ("CT", "synthetic MRI", "reconstructed CT", "real MRI")
#: height in pixels of the title strip drawn when titles are given
HEADER_HEIGHT = 14


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(1, X, Y)`` in [-1, 1] → ``(Y, X)`` uint8 for display (MONAI's arrays are width first)."""
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"expected a (1, X, Y) single-channel image, got shape {tuple(image.shape)}.")
    scaled = ((image[0].detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.numpy().T


def make_sample_grid(columns: Sequence[torch.Tensor], titles: Sequence[str] | None = None, pad: int = 2) -> np.ndarray:
    """
    Tile images into a grayscale grid: row ``i`` shows case ``i`` of every column tensor.

    Args:
        columns: tensors ``(N, 1, X, Y)`` in [-1, 1] (MONAI's spatial order, so ``X`` becomes the width), one
            per column, all of the same shape.
        titles: column titles drawn in a white strip of :data:`HEADER_HEIGHT` pixels on top (``None``: none).
        pad: white margin between and around tiles, in pixels.

    Returns:
        a ``uint8`` array of shape ``(header + N·Y + (N+1)·pad, C·X + (C+1)·pad)``.

    """
    if not columns:
        raise ValueError("at least one column is needed.")
    shape = tuple(columns[0].shape)
    if any(tuple(c.shape) != shape for c in columns) or len(shape) != 4:
        raise ValueError(f"all columns must be (N, 1, X, Y) of one shape, got {[tuple(c.shape) for c in columns]}.")
    if titles is not None and len(titles) != len(columns):
        raise ValueError(f"{len(titles)} titles for {len(columns)} columns.")
    n, _, width, height = shape
    header = HEADER_HEIGHT if titles is not None else 0
    grid = np.full(
        (header + n * height + (n + 1) * pad, len(columns) * width + (len(columns) + 1) * pad), 255, np.uint8
    )
    for c, column in enumerate(columns):
        x0 = pad + c * (width + pad)
        for r in range(n):
            y0 = header + pad + r * (height + pad)
            grid[y0 : y0 + height, x0 : x0 + width] = _to_uint8(column[r])
    if titles is not None:
        image = Image.fromarray(grid)
        draw = ImageDraw.Draw(image)
        for c, title in enumerate(titles):
            draw.text((pad + c * (width + pad), 1), title, fill=0)
        grid = np.asarray(image)
    return grid


def save_sample_grid(
    path: str | os.PathLike,
    columns: Sequence[torch.Tensor],
    titles: Sequence[str] | None = GRID_COLUMNS,
    pad: int = 2,
    min_tile: int = 128,
) -> np.ndarray:
    """
    Write :func:`make_sample_grid`'s output as an 8-bit grayscale PNG, atomically.

    Args:
        path: destination ``.png`` (folders are created).
        columns: see :func:`make_sample_grid`.
        titles: see :func:`make_sample_grid`; defaults to :data:`GRID_COLUMNS`.
        pad: see :func:`make_sample_grid`.
        min_tile: small images are enlarged by an integer factor (nearest neighbour, so pixels stay visible as
            pixels) until each tile is at least this many pixels wide, so titles fit and details can be seen.

    Returns:
        the grid array written.

    """
    factor = max(1, -(-min_tile // min(columns[0].shape[2:]))) if columns else 1
    if factor > 1:
        columns = [c.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3) for c in columns]
    grid = make_sample_grid(columns, titles, pad)
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue(), overwrite=True)
    return grid
