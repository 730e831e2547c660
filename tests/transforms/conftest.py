"""Tiny synthetic heads for the transform tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from monai.data import MetaTensor


def _disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> torch.Tensor:
    x, y = torch.meshgrid(
        torch.arange(shape[0], dtype=torch.float32), torch.arange(shape[1], dtype=torch.float32), indexing="ij"
    )
    return ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 < radius**2).float()


@pytest.fixture
def head_volume() -> Callable[..., MetaTensor]:
    """``make(modality, slices=range(...))``: a (1, 24, 20, 10) disc 'head' present only on the given slices."""

    def make(modality: str = "CT", slices: range = range(3, 8), seed: int = 0) -> MetaTensor:
        gen = torch.Generator().manual_seed(seed)
        disc = _disc((24, 20), (12, 9), 7)
        vol = torch.zeros(1, 24, 20, 10)
        for k in slices:
            vol[0, :, :, k] = disc
        noise = torch.rand(vol.shape, generator=gen)
        if modality == "CT":  # air -1000 HU, brain 35 HU
            data, meta = -1000 + vol * 1035 + noise * 5, {"intensity_unit": "HU", "modality": "CT"}
        else:  # MRI: dark noisy background, bright head
            data, meta = vol * 300 + noise * 20, {"intensity_unit": "raw", "modality": "MR"}
        affine = torch.tensor([[0.9, 0, 0, -10.0], [0, 0.9, 0, -8.0], [0, 0, 2.5, -12.0], [0, 0, 0, 1]])
        meta["filename_or_obj"] = f"/data/{modality.lower()}_head.nii.gz"
        return MetaTensor(data, affine=affine, meta=meta)

    return make


@pytest.fixture
def disc_image() -> Callable[..., MetaTensor]:
    """``make(shape, value, background)``: a 2D (1, X, Y) disc image with a little noise."""

    def make(shape: tuple[int, int] = (32, 32), value: float = 200.0, background: float = 0.0) -> MetaTensor:
        gen = torch.Generator().manual_seed(1)
        disc = _disc(shape, (shape[0] / 2, shape[1] / 2), min(shape) / 3)
        data = background + disc * (value - background) + torch.rand(shape, generator=gen) * 5
        return MetaTensor(data[None], meta={"filename_or_obj": "/data/slice.png", "intensity_unit": "raw"})

    return make
