"""attach_default_handlers: a tiny run writes every artefact; resume=True continues the run."""

from __future__ import annotations

import torch

from medtranslate.handlers import attach_default_handlers, find_checkpoints


def _val_batches() -> list[dict[str, torch.Tensor]]:
    ct = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    return [{"ct": ct, "mri": ct.clone()}]


def test_default_handlers_write_everything_and_resume(make_run, tmp_path):
    trainer, schedulers = make_run(max_epochs=2)
    handlers = attach_default_handlers(
        trainer,
        tmp_path,
        val_loader=_val_batches(),
        paired_validation=True,
        num_samples=2,
        lr_schedulers=schedulers,
        checkpoint_every_n_epochs=1,
        n_saved=1,
        progress_bar=False,
        resume=True,
    )
    assert handlers.resumed_from is None
    trainer.run()
    assert {"val_mae", "val_psnr", "val_ssim"} <= set(trainer.state.metrics)
    assert [p.name for p in find_checkpoints(tmp_path / "checkpoints")] == ["checkpoint_8.pt"]
    assert len(list((tmp_path / "checkpoints").glob("best_checkpoint_*_val_mae=*.pt"))) == 1
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert {"losses.csv", "losses.json", "loss_curves.png"} <= {p.name for p in tmp_path.iterdir()}
    lr_after_two_epochs = trainer.g_optimizer.param_groups[0]["lr"]

    again, schedulers = make_run(seed=9, max_epochs=3)
    resumed = attach_default_handlers(
        again, tmp_path, lr_schedulers=schedulers, progress_bar=False, tensorboard=False, resume=True
    )
    assert resumed.resumed_from == tmp_path / "checkpoints" / "checkpoint_8.pt"
    assert again.state.epoch == 2 and again.g_optimizer.param_groups[0]["lr"] == lr_after_two_epochs
    assert len(resumed.loss_history.values) == 8
    again.run()
    assert again.state.iteration == 12 and len(resumed.loss_history.values) == 12
