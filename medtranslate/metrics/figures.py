"""Evaluation figures: one case side by side, and reformats of whole volumes.

:func:`save_case_figure`: CT | each method's synthetic MRI | reconstructed CT | real MRI | |diff|, built on
:func:`medtranslate.handlers.sample_grid.make_sample_grid` (one row, titled columns, 8-bit PNG written atomically),
so evaluation figures look like the training's sample grids. :func:`reformat_figure`: axial, coronal and sagittal
planes through the centre of each volume (real MRI, 2D, 2.5D, 3D, ...), drawn at the voxels' true aspect, where a
slice-by-slice translation shows its stripes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure
from PIL import Image

from medtranslate.handlers.sample_grid import make_sample_grid
from medtranslate.io.atomic import atomic_write_bytes
from medtranslate.metrics.paired import symmetric_to_unit

__all__ = ["REFORMAT_PLANES", "case_figure_columns", "reformat_figure", "save_case_figure"]

#: columns of :func:`reformat_figure`: plane name → (horizontal axis, vertical axis) of the ``(X, Y, Z)`` volume.
REFORMAT_PLANES: dict[str, tuple[int, int]] = {"axial": (0, 1), "coronal": (0, 2), "sagittal": (1, 2)}


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


def reformat_figure(
    path: str | os.PathLike,
    volumes: Mapping[str, torch.Tensor],
    spacing: Sequence[float],
    title: str | None = None,
    centre: Sequence[int] | None = None,
    overwrite: bool = False,
    panel_inches: float = 2.4,
    dpi: int = 100,
) -> Path:
    """Write a PNG with one row per volume and the columns axial, coronal and sagittal through ``centre``.

    Each plane is drawn at the physical aspect of its voxels (``spacing``), in neurological orientation (the
    patient's right on the right), anterior/superior up, grey from -1 (black) to 1 (white).

    Args:
        path: destination ``.png`` (folders are created).
        volumes: row label → ``(X, Y, Z)`` or ``(1, X, Y, Z)`` volume on [-1, 1] in RAS voxel order (as
            :func:`~medtranslate.inference.translate_image` returns in ``mri_ras``), all of one shape; rows in order.
        spacing: voxel size ``(x, y, z)`` in mm (e.g. ``(2, 2, 3)`` for the phantom).
        title: a line above the figure.
        centre: the voxel the planes pass through; default the centre of the grid.
        overwrite: replace an existing file.
        panel_inches: side of one panel; the PNG is ``3 · panel_inches · dpi`` pixels wide and
            ``rows · panel_inches · dpi`` high (plus ``0.3 · dpi`` for a title).
        dpi: pixels per inch.

    Returns:
        ``path``.

    Raises:
        ValueError: no volume, volumes of different shapes, or not three spatial axes.
    """
    grids = {name: torch.as_tensor(v).detach().float().cpu().reshape(v.shape[-3:]) for name, v in volumes.items()}
    shapes = {tuple(v.shape) for v in grids.values()}
    if len(shapes) != 1 or any(v.ndim not in (3, 4) for v in volumes.values()):
        raise ValueError(f"reformat_figure needs volumes (X, Y, Z) of one shape, got {sorted(shapes)}")
    (shape,) = shapes
    point = [s // 2 for s in shape] if centre is None else [int(c) for c in centre]
    header = 0.3 if title else 0.0
    figure = Figure(figsize=(3 * panel_inches, len(grids) * panel_inches + header), dpi=dpi, layout="constrained")
    if title:
        figure.suptitle(title, fontsize=9)
    axes = figure.subplots(len(grids), len(REFORMAT_PLANES), squeeze=False)
    for row, (name, volume) in enumerate(grids.items()):
        for col, (plane, (h, v)) in enumerate(REFORMAT_PLANES.items()):
            (through,) = {0, 1, 2} - {h, v}
            image = volume.select(through, point[through])  # (h, v): the two remaining axes in order
            ax = axes[row][col]
            ax.imshow(image.T.numpy(), cmap="gray", vmin=-1, vmax=1, origin="lower", interpolation="nearest",
                      aspect=spacing[v] / spacing[h])  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(plane, fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), buffer.getvalue(), overwrite=overwrite)
    return Path(path)
