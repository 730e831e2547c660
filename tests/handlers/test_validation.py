"""Validation handler: paired and unpaired metrics, grid PNG, TensorBoard image, modes restored."""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Events
from PIL import Image
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from medtranslate.handlers import CycleGANEvents, CycleGANValidationHandler


def _batches(paired: bool, n: int = 6, batch_size: int = 3) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(5)
    out = []
    for _ in range(0, n, batch_size):
        ct = torch.rand(batch_size, 1, 16, 16, generator=g) * 2 - 1
        out.append({"ct": ct, "mri": ct.clone() if paired else torch.rand(batch_size, 1, 16, 16, generator=g) * 2 - 1})
    return out


def test_identity_generator_on_identical_paired_set_is_perfect():
    handler = CycleGANValidationHandler(_batches(paired=True), paired=True, num_samples=0)
    metrics, samples = handler.evaluate(nn.Identity(), nn.Identity(), "cpu")
    assert samples is None
    assert metrics["val_mae"] == 0.0
    assert math.isinf(metrics["val_psnr"]) or metrics["val_psnr"] > 100
    assert metrics["val_ssim"] == pytest.approx(1.0, abs=1e-5)
    assert handler.key_metric_name == "val_mae"


def test_paired_values_on_the_unit_scale():
    shift = nn.Sequential()
    shift.forward = lambda x: x + 0.2  # +0.2 on [-1, 1] is +0.1 on [0, 1] (clamped at 1)
    batches = [{"ct": torch.full((2, 1, 16, 16), -0.5), "mri": torch.full((2, 1, 16, 16), -0.5)}]
    metrics, _ = CycleGANValidationHandler(batches, paired=True).evaluate(shift, nn.Identity(), "cpu")
    assert metrics["val_mae"] == pytest.approx(0.1, abs=1e-6)
    assert metrics["val_psnr"] == pytest.approx(20.0, abs=1e-3)  # 10·log10(1 / 0.1²)


def test_handler_on_trainer_writes_grid_tensorboard_and_metrics(make_run, tmp_path):
    trainer, _ = make_run(max_epochs=2)
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    handler = CycleGANValidationHandler(
        _batches(paired=False), interval=2, output_dir=tmp_path, num_samples=4, summary_writer=writer
    )
    handler.attach(trainer)
    fired = []
    trainer.add_event_handler(CycleGANEvents.VALIDATION_COMPLETED, lambda e: fired.append(e.state.epoch))
    modes = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda e: modes.append(e.g_a.training and e.g_b.training))
    trainer.run()
    writer.close()
    assert fired == [2] and all(modes)
    assert trainer.g_a.training and trainer.g_b.training
    assert trainer.state.metrics["val_swd"] > 0 and handler.key_metric_name == "val_swd"
    assert not (tmp_path / "samples" / "epoch_001.png").exists()
    png = tmp_path / "samples" / "epoch_002.png"
    with Image.open(png) as image:
        # 4 columns of 16 px + 5 gaps of 2 px; 14 px titles + 4 rows of 16 px + 5 gaps
        assert image.size == (4 * 128 + 5 * 2, 14 + 4 * 128 + 5 * 2) and image.mode == "L"  # 16 px tiles ×8
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
