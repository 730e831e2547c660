"""Side-by-side figure of one evaluated case: CT | each method's synthetic MRI | reconstructed CT | real MRI | |diff|.

Built on :func:`medtranslate.handlers.sample_grid.make_sample_grid` (one row, titled columns, 8-bit PNG written
atomically), so evaluation figures look like the training's sample grids.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from PIL import Image

from medtranslate.handlers.sample_grid import make_sample_grid
from medtranslate.io.atomic import atomic_write_bytes
from medtranslate.metrics.paired import symmetric_to_unit

__all__ = ["case_figure_columns", "save_case_figure"]


def case_figure_columns(
    ct: torch.Tensor,
    outputs: Mapping[str, torch.Tensor],
    real_mri: torch.Tensor | None = None,
    reconstructed_ct: torch.Tensor | None = None,
    difference_of: str | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[list[torch.Tensor], list[str]]:
    """The figure's columns, each (1, X, Y) on [-1, 1], and their titles.

    Args:
        ct: the input CT (1, X, Y) on [-1, 1].
        outputs: method name → synthetic MRI (1, X, Y) on [-1, 1], shown in this order.
        real_mri: the real MRI on the CT's grid (registered), when the case is paired.
        reconstructed_ct: ``G_B(G_A(ct))``, when ``G_B`` is given.
        difference_of: the method whose ``|synthetic - real|`` map is shown (needs ``real_mri``); on [0, 1],
            drawn black (0) to white (1).
        mask: the metric mask; the difference map is 0 outside it.
    """
    columns, titles = [ct], ["CT"]
    for name, image in outputs.items():
        columns.append(image)
        titles.append(name)
    if reconstructed_ct is not None:
        columns.append(reconstructed_ct)
        titles.append("reconstructed CT")
    if real_mri is not None:
        columns.append(real_mri)
        titles.append("real MRI")
        if difference_of is not None:
            diff = (symmetric_to_unit(outputs[difference_of]) - symmetric_to_unit(real_mri)).abs()
            if mask is not None:
                diff = diff * mask
            columns.append(diff * 2.0 - 1.0)
            titles.append(f"|{difference_of} - real|")
    return [torch.as_tensor(c).float().cpu() for c in columns], titles


def save_case_figure(
    path: str | os.PathLike,
    ct: torch.Tensor,
    outputs: Mapping[str, torch.Tensor],
    real_mri: torch.Tensor | None = None,
    reconstructed_ct: torch.Tensor | None = None,
    difference_of: str | None = None,
    mask: torch.Tensor | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Write the case's figure (see :func:`case_figure_columns`) as an 8-bit PNG, atomically.

    Args:
        path: destination ``.png`` (folders are created).
        ct: see :func:`case_figure_columns`.
        outputs: see :func:`case_figure_columns`.
        real_mri: see :func:`case_figure_columns`.
        reconstructed_ct: see :func:`case_figure_columns`.
        difference_of: see :func:`case_figure_columns`.
        mask: see :func:`case_figure_columns`.
        overwrite: replace an existing file.

    Returns:
        the column titles, left to right.
    """
    columns, titles = case_figure_columns(ct, outputs, real_mri, reconstructed_ct, difference_of, mask)
    grid = make_sample_grid([c[None] for c in columns], titles)
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), buffer.getvalue(), overwrite=overwrite)
    return titles
