"""Tiny CycleGAN runs for the handler tests: 2-conv networks, 16×16 unpaired items with a random flip."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import RandFlipd
from monai.utils import set_determinism
from torch import nn

from medtranslate.engines import CycleGANTrainer, linear_decay_lambda


def tiny_generator() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())


def tiny_discriminator() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))


def items(n: int, size: int = 16, paired: bool = False) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(4321)
    out = []
    for _ in range(n):
        ct = torch.rand(1, size, size, generator=g) * 2 - 1
        out.append({"ct": ct, "mri": ct.clone() if paired else torch.rand(1, size, size, generator=g) * 2 - 1})
    return out


@pytest.fixture
def make_run() -> Callable[..., tuple[CycleGANTrainer, dict]]:
    """``make_run(seed, max_epochs, n_items=8, batch_size=2)`` → ``(trainer, schedulers)``, data with random flips."""

    def _make(seed: int = 0, max_epochs: int = 3, n_items: int = 8, batch_size: int = 2, **kwargs):
        set_determinism(seed)
        g_a, g_b, d_a, d_b = tiny_generator(), tiny_generator(), tiny_discriminator(), tiny_discriminator()
        dataset = Dataset(items(n_items), transform=RandFlipd(keys=["ct", "mri"], prob=0.5, spatial_axis=0))
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        g_opt = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], 2e-3, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], 2e-3, betas=(0.5, 0.999))
        trainer = CycleGANTrainer("cpu", max_epochs, loader, g_a, g_b, d_a, d_b, g_opt, d_opt, pool_size=3, **kwargs)
        schedulers = {
            "g_scheduler": torch.optim.lr_scheduler.LambdaLR(g_opt, linear_decay_lambda(1, 2)),
            "d_scheduler": torch.optim.lr_scheduler.LambdaLR(d_opt, linear_decay_lambda(1, 2)),
        }
        return trainer, schedulers

    yield _make
    set_determinism(None)
