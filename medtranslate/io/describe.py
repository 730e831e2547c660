"""``describe_image``: what ``medtranslate info`` prints about an input, as a JSON-serialisable dict."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import PathLike

from medtranslate.io.dicom import DicomSeriesReader
from medtranslate.io.formats import sniff_format
from medtranslate.io.loading import LoadMedicalImage

__all__ = ["describe_image", "guess_modality"]


def guess_modality(values: torch.Tensor | np.ndarray, intensity_unit: str | None) -> str | None:
    """Guess CT or MR from the intensities alone (a hint for files without a Modality tag).

    Air at about -1000 next to positive values means Hounsfield units, so CT. Anything else is ``None``:
    non-negative values fit MRI as well as shifted CT scales (e.g. the Cormack units of CT templates), and
    8-bit images (windowed exports) carry no clue either.

    Args:
        values: the image.
        intensity_unit: the ``intensity_unit`` metadata of the image (``"HU"`` answers at once).
    """
    if intensity_unit == "HU":
        return "CT"
    v = torch.as_tensor(values).float()
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        return None
    low, high = float(v.min()), float(v.max())
    air = float(((v > -1100) & (v < -900)).float().mean())
    return "CT" if low < -500 and high > 0 and air > 0.01 else None


def describe_image(path: PathLike, series_uid: str | None = None) -> dict[str, Any]:
    """Describe an image file or DICOM series folder without modifying it.

    Args:
        path: a file, or a folder holding DICOM.
        series_uid: the series to describe in a folder holding several; without it such a folder is
            described by the list of its series (no image is loaded).

    Returns:
        a JSON-serialisable dict: ``path``, ``format`` (by content), ``file_size`` (bytes, all files for a
        folder), ``modality`` (tag), ``modality_guess`` (from intensities), ``shape`` (spatial, MONAI order),
        ``channels``, ``spacing``, ``orientation`` (e.g. ``"RAS"``, from the affine), ``dtype`` (as stored),
        ``min``/``max`` (finite values), ``intensity_unit``; for DICOM ``series_uid``,
        ``series_description``, ``n_slices`` and ``series`` (every series of a folder); ``pil_mode`` for images.

    Raises:
        MedTranslateError: the subclasses :class:`~medtranslate.io.loading.LoadMedicalImage` raises.
    """
    p = Path(path)
    fmt = sniff_format(p)
    files = [f for f in p.iterdir() if f.is_file()] if p.is_dir() else [p]
    info: dict[str, Any] = {"path": os.fspath(p), "format": fmt, "file_size": sum(f.stat().st_size for f in files)}
    if fmt == "dicom" and p.is_dir():
        found = DicomSeriesReader().scan_folder(p)
        info["series"] = [
            {"series_uid": s.uid, "description": s.description, "modality": s.modality, "n_slices": len(s.files)}
            for s in found
        ]
        if len(found) > 1 and series_uid is None:
            return info
    img = LoadMedicalImage(series_uid=series_uid, dtype=None)(p)
    meta = img.meta
    finite = img[torch.isfinite(img)] if torch.is_floating_point(img) else img
    spatial = [int(s) for s in meta["spatial_shape"]]
    affine = np.asarray(img.affine, dtype=float)
    info.update(
        modality=meta.get("modality"),
        modality_guess=guess_modality(img, meta.get("intensity_unit")),
        shape=spatial,
        channels=int(img.shape[0]),
        spacing=[float(s) for s in np.sqrt((affine[:-1, : len(spatial)] ** 2).sum(axis=0))],
        orientation="".join(nib.aff2axcodes(affine)[: len(spatial)]),
        dtype=str(img.dtype).replace("torch.", ""),
        min=float(finite.min()) if finite.numel() else None,
        max=float(finite.max()) if finite.numel() else None,
        intensity_unit=meta.get("intensity_unit"),
    )
    if fmt == "dicom":
        info.update(
            series_uid=meta.get("series_uid"),
            series_description=meta.get("series_description"),
            n_slices=int(meta.get("n_slices", 1)),
        )
    if "pil_mode" in meta:
        info["pil_mode"] = meta["pil_mode"]
    return info
