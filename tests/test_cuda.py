"""What only a CUDA device can check (skipped without one; ``benchmarks/gpu_check.sh`` runs them on a lent GPU):
translation and the training fast paths agree with float32 on the CPU, within the documented tolerances."""

from __future__ import annotations

import copy

import pytest
import torch

from medtranslate.engines import LOSS_KEYS, CycleGANTrainer
from medtranslate.inference.volume import AMP_TOLERANCE, SliceTranslator
from medtranslate.networks import ResNetGenerator, build_discriminator

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu_check.sh)"),
]


def _net() -> ResNetGenerator:
    torch.manual_seed(0)
    return ResNetGenerator(channels=8, num_res_blocks=2).eval()


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    return torch.rand(1, 48, 40, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1


@pytest.fixture(scope="module")
def cpu_fp32(volume: torch.Tensor) -> torch.Tensor:
    return SliceTranslator(_net(), image_size=32, device="cpu", amp=False, backend="eager")(volume)


@pytest.mark.parametrize("backend", ["eager", "compile"])
@pytest.mark.parametrize("amp", [False, None])
def test_cuda_translation_agrees_with_cpu_fp32(volume, cpu_fp32, backend: str, amp: bool | None) -> None:
    translator = SliceTranslator(_net().cuda(), image_size=32, sw_batch_size=4, amp=amp, backend=backend)
    out = translator(volume)
    assert out.device.type == "cpu" and out.shape == volume.shape
    diff = (out - cpu_fp32).abs()
    if amp is False:
        assert diff.max() <= 1e-3  # TF32/cuDNN kernels
    else:
        assert diff.mean() <= AMP_TOLERANCE["mean"] and diff.max() <= AMP_TOLERANCE["max"]


def _losses(device: str, **fast) -> list[list[float]]:
    torch.manual_seed(0)
    nets = [ResNetGenerator(channels=4, num_res_blocks=1) for _ in range(2)]
    nets += [build_discriminator(channels=4, seed=s) for s in (2, 3)]
    nets = [copy.deepcopy(n).to(device) for n in nets]
    g = torch.Generator().manual_seed(1)
    batches = [
        {"ct": torch.rand(2, 1, 32, 32, generator=g) * 2 - 1, "mri": torch.rand(2, 1, 32, 32, generator=g) * 2 - 1}
        for _ in range(4)
    ]
    trainer = CycleGANTrainer(
        device=device,
        max_epochs=1,
        train_data_loader=batches,
        g_a=nets[0],
        g_b=nets[1],
        d_a=nets[2],
        d_b=nets[3],
        g_optimizer=torch.optim.Adam([*nets[0].parameters(), *nets[1].parameters()], 2e-3, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam([*nets[2].parameters(), *nets[3].parameters()], 2e-3, betas=(0.5, 0.999)),
        pool_seed=0,
        **fast,
    )
    losses: list[list[float]] = []
    from ignite.engine import Events

    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: losses.append([e.state.output[k] for k in LOSS_KEYS])
    )
    trainer.run()
    return losses


@pytest.mark.parametrize("fast", [{}, {"amp": True}, {"amp": True, "compile": True, "channels_last": True}])
def test_cuda_training_stays_within_ten_percent_of_cpu_fp32(fast: dict) -> None:
    for a, b in zip(_losses("cpu"), _losses("cuda", **fast), strict=True):
        assert b == pytest.approx(a, rel=0.1, abs=0.02)
