"""Volume evaluation: whole CT volumes translated as ``medtranslate translate`` does, scored in 3D against their
voxel-aligned real MRI.

The slice-wise paired evaluation (:func:`~medtranslate.metrics.evaluate.paired_evaluation`) scores a few axial
slices; it cannot see whether neighbouring slices agree, and it cannot score a 3D model. Here each CT volume of a
registered pair (the phantom's ``paired/{ct,mri}``) goes through :func:`medtranslate.inference.translate_image`
with the translator users get (:func:`medtranslate.inference.make_translator`: head crop, slab neighbours or 3D
patches as in the product), and the whole synthetic volume is scored against the real MRI on the same grid:
3D MAE/MSE/PSNR/SSIM (MONAI, ``spatial_dims=3``) and the through-plane consistency
(:mod:`medtranslate.metrics.volume`), inside the CT's head mask, on [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing

from medtranslate.data.datalist import paired_datalist
from medtranslate.inference import translate_image
from medtranslate.io import LoadMedicalImage
from medtranslate.metrics.figures import reformat_figure
from medtranslate.metrics.paired import HEAD_FRACTION, ct_head_mask, symmetric_to_unit
from medtranslate.metrics.report import VOLUME_METRICS, summarise
from medtranslate.metrics.volume import SSIM_KERNEL, volume_metrics
from medtranslate.transforms import AxialOrientation, CTWindow, EnsureGrayscale, MRINormalize
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW

__all__ = ["PairedVolume", "load_paired_volumes", "volume_evaluation"]

PathLike = str | os.PathLike
#: maps a windowed CT ``(1, X, Y, Z)`` on [-1, 1] to the synthetic MRI on its grid (a SliceTranslator or
#: VolumeTranslator from :func:`medtranslate.inference.make_translator`, or any such callable).
VolumeTranslatorLike = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PairedVolume:
    """One voxel-aligned CT/MRI pair: the CT as loaded (HU, for :func:`translate_image`), and in RAS voxel order
    the windowed CT and the normalised real MRI ``(1, X, Y, Z)`` on [-1, 1], the CT's head ``mask`` and the voxel
    ``spacing`` in mm."""

    case_id: str
    image: MetaTensor
    ct: torch.Tensor
    mri: torch.Tensor
    mask: torch.Tensor
    spacing: tuple[float, float, float]


def _ras(image: MetaTensor) -> MetaTensor:
    return AxialOrientation("RAS")(EnsureGrayscale()(image))


def load_paired_volumes(
    paired_dir: PathLike, window: str | Sequence[float] = DEFAULT_CT_WINDOW, max_volumes: int | None = None
) -> list[PairedVolume]:
    """The voxel-aligned volume pairs of ``paired_dir`` (see :func:`~medtranslate.data.paired_datalist`).

    Args:
        paired_dir: a data folder or manifest with ``paired`` items (the phantom's ``paired/``).
        window: the CT window the model was trained with.
        max_volumes: at most this many pairs, the first in name order (``None``: all).

    Returns:
        the pairs whose CT is a volume (2D slice pairs are left out); empty when there are none.

    Raises:
        InputError/EmptyInputError: see :func:`~medtranslate.data.paired_datalist`.
    """
    pairs = paired_datalist(paired_dir)[:max_volumes]
    load = LoadMedicalImage()
    volumes = []
    for pair in pairs:
        image = load(pair["ct"])
        if EnsureGrayscale()(image).ndim != 4:
            continue
        ct_ras = _ras(image)
        ct = CTWindow(window)(ct_ras).as_tensor().float()
        mri = MRINormalize()(_ras(load(pair["mri"]))).as_tensor().float()
        if mri.shape != ct.shape:
            continue  # not on the CT's grid: nothing to compare voxel by voxel
        spacing = tuple(float(s) for s in affine_to_spacing(ct_ras.affine, r=3))
        case_id = Path(pair["ct"]).name.split(".")[0]
        volumes.append(PairedVolume(case_id, image, ct, mri, ct_head_mask(ct), spacing))  # type: ignore[arg-type]
    return volumes


def volume_evaluation(
    volumes: Sequence[PairedVolume],
    translators: Mapping[str, VolumeTranslatorLike],
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    figure_dir: PathLike | None = None,
    figure_method: str | None = "model",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Translate every CT volume with each translator and score it in 3D against its real MRI.

    Besides the translators, ``identity`` (the windowed CT itself) is scored: what doing nothing scores, and the
    through-plane consistency of a real (CT) volume.

    Args:
        volumes: from :func:`load_paired_volumes`.
        translators: method name → translator, run through :func:`~medtranslate.inference.translate_image`.
        window: the CT window of :func:`translate_image`.
        figure_dir: where ``volume_<case>.png`` reformats (:func:`~medtranslate.metrics.figures.reformat_figure`:
            CT, ``figure_method``'s synthetic MRI, real MRI) go; ``None``: no figures.
        figure_method: the method drawn (the identity's row would repeat the CT); missing: CT and real MRI only.
        overwrite: replace existing figures.

    Returns:
        ``{"protocol", "n", "rows": [per volume and method], "summary": {method: {metric: mean/std/n}},
        "figures": [paths]}``; rows carry ``case_id``, ``spacing_mm``, ``shape`` and :data:`VOLUME_METRICS`.
    """
    rows, figures = [], []
    for volume in volumes:
        outputs = {
            name: translate_image(volume.image, translator, window=window).mri_ras.as_tensor().float()
            for name, translator in translators.items()
        }
        outputs["identity"] = volume.ct
        real = symmetric_to_unit(volume.mri)
        for name, synthetic in outputs.items():
            values = volume_metrics(symmetric_to_unit(synthetic), real, volume.mask, data_range=1.0)
            rows.append(
                {"evaluation": "volume", "method": name, "case_id": volume.case_id, "spacing_mm": list(volume.spacing),
                 "shape": list(volume.ct.shape[1:]), **values}
            )  # fmt: skip
        if figure_dir is not None:
            shown = {"CT": volume.ct}
            if figure_method in outputs:
                shown[figure_method] = outputs[figure_method]
            shown["real MRI"] = volume.mri
            voxels = "×".join(f"{s:g}" for s in volume.spacing)
            title = f"{volume.case_id}: reformats through the centre, voxels {voxels} mm"
            path = Path(figure_dir) / f"volume_{volume.case_id}.png"
            figures.append(str(reformat_figure(path, shown, volume.spacing, title, overwrite=overwrite)))
    protocol = (
        "volume: each whole CT volume translated by translate_image (the product's preprocessing, head crop and "
        "translator for the model's kind) vs the voxel-aligned real MRI of the same subject, no registration, "
        "on the data's voxel grid (no resampling); intensities on [0, 1] ((x + 1) / 2), data_range 1; "
        f"3D MAE/MSE/PSNR inside the CT head mask (> {HEAD_FRACTION:.0%} of the windowed range, largest region, "
        f"holes filled); 3D SSIM (MONAI, {SSIM_KERNEL}-voxel Gaussian window σ 1.5) on the head's bounding box "
        f"+ {SSIM_KERNEL // 2} voxels, both volumes 0 outside the mask, mean map inside it (nan for boxes thinner "
        "than the window); through_plane_consistency = slice flicker (mean |second difference| along the axial "
        "axis after in-plane Gaussian σ 2 voxels) of the synthetic ÷ that of the real MRI inside the mask "
        "(1.0 = as smooth as real)"
    )
    return {
        "protocol": protocol,
        "n": len(volumes),
        "rows": rows,
        "summary": summarise(rows, VOLUME_METRICS),
        "figures": figures,
    }
