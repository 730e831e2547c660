"""The seed paper's CNN baseline: an image-to-image CNN trained with L1 on *randomly* paired CT/MRI slices.

Jha & Iima (ICAART 2024) compare their CycleGAN with a supervised CNN trained on the unpaired Kaggle set by
pairing CT slice ``i`` with an arbitrary MRI slice. Nothing in such a pair relates the two images pixel by
pixel, so the L1-optimal output for a given CT is the per-pixel *median of the MRI set* (seen through what the
CT tells about the head's outline): the network learns to draw an average MRI inside the head. It is reported
here as the paper did, and its outputs show that averaging.

The network is a small :class:`~medtranslate.networks.ResNetGenerator` (CycleGAN's generator with fewer
channels and residual blocks) so that it trains on a CPU in seconds to minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from medtranslate.errors import EmptyInputError
from medtranslate.networks import ResNetGenerator
from medtranslate.networks.utils import init_weights

__all__ = ["CNNBaselineResult", "train_cnn_baseline"]


@dataclass
class CNNBaselineResult:
    """The trained network (in eval mode) and its L1 loss per iteration."""

    network: torch.nn.Module
    losses: list[float] = field(default_factory=list)
    protocol: str = ""


def train_cnn_baseline(
    ct_slices: torch.Tensor,
    mri_slices: torch.Tensor,
    iterations: int = 300,
    seed: int = 0,
    batch_size: int = 4,
    channels: int = 8,
    num_res_blocks: int = 2,
    lr: float = 2e-3,
) -> CNNBaselineResult:
    """Train the paper's CNN baseline: L1 between ``net(ct)`` and a randomly drawn, unrelated MRI slice.

    Each iteration draws ``batch_size`` CT slices and, independently, ``batch_size`` MRI slices (the random
    pairing of the paper); the network is trained with Adam (β = 0.5, 0.999) on the L1 loss.

    Args:
        ct_slices: CT slices (N, 1, S, S) on [-1, 1]; S divisible by 4.
        mri_slices: MRI slices (M, 1, S, S) on [-1, 1], unrelated to the CT slices.
        iterations: optimiser steps.
        seed: seeds the initialisation and the random pairing.
        batch_size: pairs per step.
        channels: filters of the first convolution of the ResNet generator.
        num_res_blocks: residual blocks of the generator.
        lr: Adam's learning rate.

    Returns:
        :class:`CNNBaselineResult` with the network in eval mode and the loss of every iteration.

    Raises:
        EmptyInputError: either set is empty.
    """
    ct = torch.as_tensor(ct_slices).float()
    mri = torch.as_tensor(mri_slices).float()
    if len(ct) == 0 or len(mri) == 0:
        raise EmptyInputError(None, f"the CNN baseline needs CT and MRI slices, got {len(ct)} and {len(mri)}")
    if ct.shape[1:] != mri.shape[1:]:
        raise ValueError(f"CT slices {tuple(ct.shape[1:])} and MRI slices {tuple(mri.shape[1:])} differ in shape")
    net = init_weights(
        ResNetGenerator(
            spatial_dims=2, in_channels=1, out_channels=1, channels=channels, num_res_blocks=num_res_blocks
        ),
        seed=seed,
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    net.train()
    for _ in range(iterations):
        a = ct[torch.randint(0, len(ct), (batch_size,), generator=gen)]
        b = mri[torch.randint(0, len(mri), (batch_size,), generator=gen)]  # drawn independently: random pairs
        loss = F.l1_loss(net(a), b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    net.eval()
    protocol = (
        f"paper's CNN baseline: ResNet generator ({channels} ch, {num_res_blocks} blocks) trained {iterations} "
        f"iterations with L1 on random CT/MRI pairs ({len(ct)} CT, {len(mri)} MRI slices, seed {seed})"
    )
    return CNNBaselineResult(network=net, losses=losses, protocol=protocol)
