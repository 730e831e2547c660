"""Tiny CycleGAN parts for the engine tests: 2-conv networks, 16×16 random unpaired batches."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.utils import set_determinism
from torch import nn

from medtranslate.engines import CycleGANTrainer


def tiny_generator() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())


def tiny_discriminator() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))


def unpaired_items(n: int, size: int = 16) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1234)
    return [
        {"ct": torch.rand(1, size, size, generator=g) * 2 - 1, "mri": torch.rand(1, size, size, generator=g) * 2 - 1}
        for _ in range(n)
    ]


@pytest.fixture
def make_trainer() -> Callable[..., CycleGANTrainer]:
    """``make_trainer(seed=0, max_epochs=1, n_items=4, batch_size=2, **trainer_kwargs)``: a seeded tiny trainer."""

    def _make(seed: int = 0, max_epochs: int = 1, n_items: int = 4, batch_size: int = 2, **kwargs) -> CycleGANTrainer:
        set_determinism(seed)
        g_a, g_b, d_a, d_b = tiny_generator(), tiny_generator(), tiny_discriminator(), tiny_discriminator()
        loader = DataLoader(Dataset(unpaired_items(n_items)), batch_size=batch_size, shuffle=True)
        return CycleGANTrainer(
            device="cpu",
            max_epochs=max_epochs,
            train_data_loader=loader,
            g_a=g_a,
            g_b=g_b,
            d_a=d_a,
            d_b=d_b,
            g_optimizer=torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], 2e-3, betas=(0.5, 0.999)),
            d_optimizer=torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], 2e-3, betas=(0.5, 0.999)),
            **kwargs,
        )

    yield _make
    set_determinism(None)
