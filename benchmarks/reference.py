"""The baselines every benchmark figure is divided by: CycleGAN's training and test loops, written plainly.

This is the straightforward eager fp32 implementation of the original CycleGAN code (Zhu et al. 2017,
``models/cycle_gan_model.py``): one plain Python loop, per iteration a generator step (both generators, the
discriminators frozen) then a discriminator step (``D_A`` and ``D_B`` back-propagated one after the other,
fakes drawn from a history pool), every loss read back with ``.item()`` for logging; and the test loop that runs
a generator on one slice at a time. It uses the package's networks (``ResNetGenerator``, ``PatchDiscriminator``)
so that the comparison measures the loops, not the models. Nothing in ``medtranslate`` imports this module.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ReferencePool", "reference_test_loop", "reference_train_loop"]


class ReferencePool:
    """CycleGAN's ``ImagePool``: keep up to ``pool_size`` fakes, return a stored one with probability 1/2.

    Args:
        pool_size: number of images kept; 0 returns the queried images.
    """

    def __init__(self, pool_size: int = 50) -> None:
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape as ``images`` drawn from the history (CycleGAN's rule)."""
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                index = random.randint(0, self.pool_size - 1)
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def _set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


def _gan_loss(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
    return F.mse_loss(prediction, target)


def reference_train_loop(
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    iterations: int,
    g_a: nn.Module,
    g_b: nn.Module,
    d_a: nn.Module,
    d_b: nn.Module,
    lr: float = 2e-4,
    lambda_cycle: float = 10.0,
    lambda_identity: float = 0.0,
    pool_size: int = 50,
) -> list[dict[str, float]]:
    """Run ``iterations`` CycleGAN iterations on ``(real_A, real_B)`` batches; return the logged losses.

    Args:
        batches: yields ``(real_A, real_B)`` float32 batches in [-1, 1].
        iterations: number of iterations.
        g_a: generator A → B.
        g_b: generator B → A.
        d_a: discriminator of domain B (logits).
        d_b: discriminator of domain A (logits).
        lr: Adam learning rate (betas 0.5, 0.999, PyTorch's default implementation as CycleGAN builds it).
        lambda_cycle: weight of both cycle losses.
        lambda_identity: identity weight relative to ``lambda_cycle``; 0 skips the identity passes.
        pool_size: size of each history pool.
    """
    opt_g = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=lr, betas=(0.5, 0.999))
    pool_a, pool_b = ReferencePool(pool_size), ReferencePool(pool_size)
    log: list[dict[str, float]] = []
    for _ in range(iterations):
        real_a, real_b = next(batches)
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)

        _set_requires_grad([d_a, d_b], False)
        opt_g.zero_grad()
        if lambda_identity > 0:
            loss_idt_a = F.l1_loss(g_a(real_b), real_b) * lambda_cycle * lambda_identity
            loss_idt_b = F.l1_loss(g_b(real_a), real_a) * lambda_cycle * lambda_identity
        else:
            loss_idt_a = loss_idt_b = torch.zeros(())
        loss_g_a = _gan_loss(d_a(fake_b), True)
        loss_g_b = _gan_loss(d_b(fake_a), True)
        loss_cycle_a = F.l1_loss(rec_a, real_a) * lambda_cycle
        loss_cycle_b = F.l1_loss(rec_b, real_b) * lambda_cycle
        loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
        loss_g.backward()
        opt_g.step()

        _set_requires_grad([d_a, d_b], True)
        opt_d.zero_grad()
        fake_b_pooled = pool_b.query(fake_b)
        loss_d_a = 0.5 * (_gan_loss(d_a(real_b), True) + _gan_loss(d_a(fake_b_pooled.detach()), False))
        loss_d_a.backward()
        fake_a_pooled = pool_a.query(fake_a)
        loss_d_b = 0.5 * (_gan_loss(d_b(real_a), True) + _gan_loss(d_b(fake_a_pooled.detach()), False))
        loss_d_b.backward()
        opt_d.step()

        losses = {"G_A": loss_g_a, "G_B": loss_g_b, "cycle_A": loss_cycle_a, "cycle_B": loss_cycle_b}
        losses.update({"idt_A": loss_idt_a, "idt_B": loss_idt_b, "D_A": loss_d_a, "D_B": loss_d_b})
        log.append({k: float(v.item()) for k, v in losses.items()})
    return log


@torch.no_grad()
def reference_test_loop(generator: nn.Module, slices: torch.Tensor) -> torch.Tensor:
    """CycleGAN's test loop: the generator on one ``(1, 1, S, S)`` slice at a time, eager fp32.

    Args:
        generator: maps ``(1, 1, S, S)`` to ``(1, 1, S, S)``.
        slices: ``(N, 1, S, S)`` model-sized slices in [-1, 1].
    """
    generator.eval()
    return torch.cat([generator(slices[i : i + 1]) for i in range(slices.shape[0])], 0)
