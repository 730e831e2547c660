"""One call that wires the usual handlers of a CycleGAN training run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ignite.distributed as idist
from ignite.contrib.handlers import ProgressBar
from ignite.engine import Events
from monai.handlers import LrScheduleHandler, StatsHandler, TensorBoardStatsHandler
from torch.utils.tensorboard import SummaryWriter

from medtranslate.engines.trainer import LOSS_KEYS, CycleGANTrainer
from medtranslate.handlers.checkpoint import (
    Checkpointing,
    attach_checkpointing,
    default_checkpoint_objects,
    resume_from,
)
from medtranslate.handlers.loss_plot import LossHistoryHandler
from medtranslate.handlers.validation import CycleGANValidationHandler

__all__ = ["DefaultHandlers", "attach_default_handlers", "scalar_losses"]


def scalar_losses(output: Mapping[str, Any]) -> dict[str, float]:
    """The eight loss components and the two totals of a ``CycleGANTrainer`` output (for loggers)."""
    return {k: output[k] for k in (*LOSS_KEYS, "loss_G", "loss_D")}


@dataclass
class DefaultHandlers:
    """
    What :func:`attach_default_handlers` attached.

    Attributes:
        checkpointing: the savers and the objects a checkpoint holds.
        loss_history: the loss recorder/plotter.
        validation: the validation handler, or ``None`` without a validation loader.
        summary_writer: the TensorBoard writer (rank 0), or ``None``.
        resumed_from: the checkpoint loaded by ``resume``, or ``None``.

    """

    checkpointing: Checkpointing
    loss_history: LossHistoryHandler
    validation: CycleGANValidationHandler | None
    summary_writer: SummaryWriter | None
    resumed_from: Path | None


def attach_default_handlers(
    trainer: CycleGANTrainer,
    output_dir: str | Path,
    val_loader: Iterable | None = None,
    paired_validation: bool = False,
    val_interval: int = 1,
    num_samples: int = 4,
    lr_schedulers: Mapping[str, Any] | None = None,
    checkpoint_every_n_iterations: int | None = None,
    checkpoint_every_n_epochs: int | None = None,
    n_saved: int = 3,
    data_seed: int | None = 0,
    log_every_n_iterations: int = 10,
    tensorboard: bool = True,
    progress_bar: bool = True,
    resume: bool | str | Path = False,
) -> DefaultHandlers:
    """
    Attach validation, loss history, learning-rate schedules, checkpointing (last ``n_saved`` + best by the
    validation key metric), ``StatsHandler``, ``TensorBoardStatsHandler`` and a tqdm ``ProgressBar``; optionally
    resume. Output layout: ``output_dir/{checkpoints, samples, tensorboard}``, ``losses.csv``,
    ``losses.json``, ``loss_curves.png``.

    Loggers, progress bar, TensorBoard and file writing run on rank 0 only (``ignite.distributed.get_rank()``);
    schedulers, validation, history recording and the checkpoint handlers run on every rank (checkpoint files
    are written by rank 0), so nothing collective is skipped on any rank.

    Args:
        trainer: the trainer.
        output_dir: run folder.
        val_loader: validation batches (dicts with the trainer's CT/MRI keys); ``None``: no validation and no
            "best" checkpoint.
        paired_validation: whether the validation MRI is registered to the CT (paired metrics).
        val_interval: validate every ``val_interval`` epochs.
        num_samples: rows of the sample grid.
        lr_schedulers: name → scheduler stepped once per epoch (``LrScheduleHandler(epoch_level=True)``) and
            saved in checkpoints under that name, e.g. ``{"g_scheduler": ..., "d_scheduler": ...}``.
        checkpoint_every_n_iterations: periodic checkpoint interval in iterations.
        checkpoint_every_n_epochs: periodic checkpoint interval in epochs (default 1 when neither is given).
        n_saved: periodic checkpoints kept.
        data_seed: seed of the per-epoch data order (``DataOrderHandler``); ``None``: none.
        log_every_n_iterations: iteration period of the console and TensorBoard loss logs.
        tensorboard: write TensorBoard logs.
        progress_bar: show a tqdm progress bar.
        resume: ``True`` resumes from ``output_dir/checkpoints`` when it holds a checkpoint; a path resumes from
            that file or folder (which must hold one); ``False`` starts afresh.

    """
    output_dir = Path(output_dir)
    rank0 = idist.get_rank() == 0
    writer = SummaryWriter(log_dir=str(output_dir / "tensorboard")) if tensorboard and rank0 else None

    validation = None
    if val_loader is not None:
        validation = CycleGANValidationHandler(
            val_loader,
            interval=val_interval,
            paired=paired_validation,
            output_dir=output_dir,
            num_samples=num_samples,
            summary_writer=writer,
            ct_key=trainer.to_kwargs.get("ct_key", "ct"),
            mri_key=trainer.to_kwargs.get("mri_key", "mri"),
        )
        validation.attach(trainer)  # before the loggers, so the epoch logs show this epoch's metrics

    loss_history = LossHistoryHandler(output_dir)
    loss_history.attach(trainer)
    for scheduler in (lr_schedulers or {}).values():
        LrScheduleHandler(scheduler, print_lr=rank0, epoch_level=True).attach(trainer)
    objects = default_checkpoint_objects(trainer, **(lr_schedulers or {}), loss_history=loss_history)
    checkpointing = attach_checkpointing(
        trainer,
        output_dir / "checkpoints",
        objects,
        every_n_iterations=checkpoint_every_n_iterations,
        every_n_epochs=checkpoint_every_n_epochs,
        n_saved=n_saved,
        key_metric_name=None if validation is None else validation.key_metric_name,
        key_metric_greater_is_better=False,
        data_seed=data_seed,
    )

    if rank0:
        every = max(1, log_every_n_iterations)
        StatsHandler(
            iteration_log=lambda engine, event: event % every == 0,
            output_transform=scalar_losses,
            name=None,
        ).attach(trainer)
        if writer is not None:
            TensorBoardStatsHandler(summary_writer=writer, iteration_log=every, output_transform=scalar_losses).attach(
                trainer
            )
            trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: writer.flush())
            trainer.add_event_handler(Events.COMPLETED, lambda _: writer.close())
        if progress_bar:
            ProgressBar(persist=False).attach(
                trainer, output_transform=lambda o: {k: o[k] for k in ("loss_G", "loss_D")}
            )

    resumed_from = None
    if resume is True:
        resumed_from = resume_from(trainer, output_dir / "checkpoints", checkpointing.objects, missing_ok=True)
    elif resume:
        resumed_from = resume_from(trainer, Path(resume), checkpointing.objects)
    return DefaultHandlers(checkpointing, loss_history, validation, writer, resumed_from)
