"""Checkpoint/resume: exact continuation (epoch boundary and mid-epoch), corrupt files, unsafe files, mismatches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.handlers import LrScheduleHandler
from torch import nn

from medtranslate.engines import LOSS_KEYS
from medtranslate.errors import CheckpointError
from medtranslate.handlers import (
    CycleGANEvents,
    RNGState,
    attach_checkpointing,
    default_checkpoint_objects,
    find_checkpoints,
    resume_from,
)


def _record(trainer) -> list[list[float]]:
    losses: list[list[float]] = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: losses.append([e.state.output[k] for k in LOSS_KEYS])
    )
    return losses


def _setup(make_run, seed: int, save_dir: Path, every: int, n_saved: int | None = None):
    trainer, schedulers = make_run(seed=seed)
    for s in schedulers.values():
        LrScheduleHandler(s, print_lr=False).attach(trainer)
    losses = _record(trainer)
    ckpt = attach_checkpointing(
        trainer,
        save_dir,
        default_checkpoint_objects(trainer, **schedulers),
        every_n_iterations=every,
        n_saved=n_saved,
    )
    return trainer, losses, ckpt


@pytest.mark.parametrize("stop_at", [6, 8])  # epoch length 4: 6 is mid-epoch, 8 an epoch boundary
def test_resume_continues_exactly(make_run, tmp_path, stop_at):
    reference, ref_losses, _ = _setup(make_run, 0, tmp_path / "ref", every=100)
    reference.run()
    assert len(ref_losses) == 12

    first, first_losses, _ = _setup(make_run, 0, tmp_path / "run", every=2)
    # stop as a killed process would, right after the checkpoint (saved at EPOCH_COMPLETED on an epoch boundary)
    stop = Events.ITERATION_COMPLETED(once=stop_at) if stop_at % 4 else Events.EPOCH_COMPLETED(once=stop_at // 4)
    first.add_event_handler(stop, lambda e: e.terminate())
    first.run()
    assert first_losses == ref_losses[:stop_at]

    # a "new process": other seeds and weights everywhere until the checkpoint is loaded
    np.random.seed(7)
    resumed, resumed_losses, ckpt = _setup(make_run, 99, tmp_path / "resumed", every=100)
    loaded = resume_from(resumed, tmp_path / "run", ckpt.objects)
    assert loaded == tmp_path / "run" / f"checkpoint_{stop_at}.pt"
    assert resumed.state.iteration == stop_at and resumed.state.epoch == stop_at // 4
    resumed.run()
    assert resumed_losses == ref_losses[stop_at:]
    for name in ("g_a", "g_b", "d_a", "d_b"):
        for p, q in zip(getattr(reference, name).parameters(), getattr(resumed, name).parameters(), strict=True):
            assert torch.equal(p, q)
    assert resumed.g_optimizer.param_groups[0]["lr"] == reference.g_optimizer.param_groups[0]["lr"]


def test_last_k_kept_and_corrupt_newest_skipped(make_run, tmp_path):
    trainer, _, ckpt = _setup(make_run, 0, tmp_path, every=2, n_saved=2)
    trainer.run()
    files = find_checkpoints(tmp_path)
    assert [f.name for f in files] == ["checkpoint_12.pt", "checkpoint_10.pt"]
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".pt"]  # no temporary leftovers
    files[0].write_bytes(files[0].read_bytes()[:1000])  # truncated newest file

    fresh, _, ckpt = _setup(make_run, 5, tmp_path / "other", every=100)
    with pytest.warns(UserWarning, match="checkpoint_12.pt: skipped"):
        loaded = resume_from(fresh, tmp_path, ckpt.objects)
    assert loaded.name == "checkpoint_10.pt" and fresh.state.iteration == 10

    files[1].write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no loadable checkpoint"):
        resume_from(fresh, tmp_path, ckpt.objects)
    with pytest.raises(CheckpointError, match="unreadable or unsafe"):
        resume_from(fresh, files[1], ckpt.objects)
    assert resume_from(fresh, tmp_path / "empty_dir_missing", ckpt.objects, missing_ok=True) is None
    with pytest.raises(CheckpointError, match="no such"):
        resume_from(fresh, tmp_path / "empty_dir_missing", ckpt.objects)


def test_checkpoint_holds_only_weights_only_values(make_run, tmp_path):
    trainer, _, ckpt = _setup(make_run, 0, tmp_path, every=4)
    trainer.state.max_epochs = 1
    trainer.run()
    data = torch.load(tmp_path / "checkpoint_4.pt", weights_only=True)
    assert {"g_a", "g_b", "d_a", "d_b", "g_optimizer", "d_optimizer", "pool_a", "pool_b", "trainer", "rng"} <= set(data)
    assert {"g_scheduler", "d_scheduler", "checkpointer"} <= set(data)
    assert data["trainer"]["iteration"] == 4 and data["pool_a"]["images"].shape == (3, 1, 16, 16)

    unsafe = tmp_path / "unsafe" / "checkpoint_1.pt"
    unsafe.parent.mkdir()
    torch.save({**data, "extra": Path("any/pickled/object")}, unsafe)
    with pytest.raises(CheckpointError, match="unsafe"):
        resume_from(trainer, unsafe, ckpt.objects)


def test_architecture_mismatch_names_the_problem(make_run, tmp_path):
    trainer, _, _ = _setup(make_run, 0, tmp_path, every=4)
    trainer.state.max_epochs = 1
    trainer.run()
    path = tmp_path / "checkpoint_4.pt"

    other, _ = make_run(seed=1)
    other.g_a = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1), nn.Tanh())
    with pytest.raises(CheckpointError, match=r"g_a: shape mismatch for parameter '0.weight'.*\(4, 1, 3, 3\)"):
        resume_from(other, path, default_checkpoint_objects(other))
    other.g_a = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh())
    message = r"g_a was saved from another architecture: missing keys \[\], unexpected keys \['2.weight', '2.bias'\]"
    with pytest.raises(CheckpointError, match=message):
        resume_from(other, path, default_checkpoint_objects(other))
    # nothing was loaded by the refused attempts
    assert other.state.iteration == 0

    short, _ = make_run(seed=1, n_items=4)
    with pytest.raises(CheckpointError, match="epoch length 4 in the checkpoint differs"):
        resume_from(short, path, default_checkpoint_objects(short))


def test_best_checkpoint_follows_the_validation_metric(make_run, tmp_path):
    trainer, _ = make_run(seed=0, max_epochs=3)
    ckpt = attach_checkpointing(trainer, tmp_path, every_n_epochs=1, n_saved=1, key_metric_name="val_mae")
    values = iter([0.5, 0.2, 0.3])

    @trainer.on(Events.EPOCH_COMPLETED)
    def fake_validation(engine):
        engine.state.metrics["val_mae"] = next(values)
        engine.fire_event(CycleGANEvents.VALIDATION_COMPLETED)

    trainer.run()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best_checkpoint_8_val_mae=-0.2000.pt", "checkpoint_12.pt"]
    saved = torch.load(tmp_path / "checkpoint_12.pt", weights_only=True)
    assert saved["best_checkpointer"]["_saved"][0][1] == "best_checkpoint_8_val_mae=-0.2000.pt"
    assert ckpt.best is not None and "best_checkpointer" in ckpt.objects


def test_rng_state_round_trip():
    import random

    rng = RNGState()
    state = rng.state_dict()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    rng.load_state_dict(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
