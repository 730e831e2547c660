"""Learning-rate schedules of CycleGAN."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["linear_decay_lambda"]


def linear_decay_lambda(n_epochs: int = 100, n_epochs_decay: int = 100) -> Callable[[int], float]:
    """
    CycleGAN's ``"linear"`` policy as a ``torch.optim.lr_scheduler.LambdaLR`` multiplier.

    The factor is 1 for the first ``n_epochs`` epochs, then falls linearly by ``1 / (n_epochs_decay + 1)`` per
    epoch, so it is ``1 / (n_epochs_decay + 1)`` in the last of the ``n_epochs + n_epochs_decay`` epochs and 0
    right after it (CycleGAN's formula with ``epoch_count=1``). Step the scheduler once per epoch, e.g. with
    ``monai.handlers.LrScheduleHandler(scheduler, epoch_level=True)``.

    Args:
        n_epochs: number of epochs at the initial learning rate.
        n_epochs_decay: number of epochs of linear decay.

    Returns:
        ``f(epoch) -> factor`` with ``epoch`` counted from 0 (``LambdaLR``'s ``last_epoch``).

    """
    if n_epochs < 0 or n_epochs_decay < 0:
        raise ValueError(f"n_epochs and n_epochs_decay must be >= 0, got {n_epochs}, {n_epochs_decay}.")

    def _factor(epoch: int) -> float:
        return max(0.0, 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1))

    return _factor
