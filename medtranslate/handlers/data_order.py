"""Reproducible, resumable data order for Ignite/MONAI trainers."""

from __future__ import annotations

from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.data.utils import set_rnd
from torch.utils.data import DataLoader, RandomSampler

__all__ = ["DataOrderHandler"]


class DataOrderHandler:
    """
    Make each epoch's data order and data augmentation a function of ``(seed, epoch)`` only, and restore the
    position inside an epoch on a mid-epoch resume.

    How the data order is restored: at every ``EPOCH_STARTED`` the handler re-seeds the ``DataLoader``'s own
    generator (which draws the shuffling permutation and the workers' base seed) and, through
    ``monai.data.utils.set_rnd``, every MONAI ``Randomizable`` in the dataset (random transforms used with
    ``num_workers=0``; workers re-seed theirs from the base seed) with ``seed + epoch``, and calls
    ``sampler.set_epoch(epoch)`` where the sampler has it (``DistributedSampler``). So an epoch's batches do
    not depend on the global RNG or on what happened earlier. When a run resumes from an iteration-level
    checkpoint in the middle of an epoch (``iteration % epoch_length == k > 0``), Ignite restarts the data
    iterator at the epoch's beginning; the handler then draws and discards the first ``k`` batches before the
    first iteration, which replays the sampler and the augmentation RNGs exactly (at the cost of loading
    ``k`` batches once). The global torch/NumPy/Python RNGs are restored from the checkpoint separately
    (``RNGState``).

    Requirements for exactness: the loader's randomness must come from its generator or from MONAI
    ``Randomizable`` objects (not from the global RNGs inside workers), and ``persistent_workers`` must be
    ``False`` (persistent workers keep their RNG state across epochs).

    On :meth:`attach` a ``DataLoader`` without a generator is given one, and a ``RandomSampler`` without a
    generator is given the loader's. The handler registers itself as ``engine.data_order``.

    Args:
        seed: base seed of the per-epoch seeds.

    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._skip = 0

    def attach(self, engine: Engine) -> None:
        """
        Attach to ``engine`` (a MONAI ``Workflow`` whose ``data_loader`` is the training data).

        Args:
            engine: Ignite Engine, it can be a trainer, validator or evaluator.

        """
        loader = getattr(engine, "data_loader", None)
        if isinstance(loader, DataLoader):
            if loader.generator is None:
                loader.generator = torch.Generator()
            if isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is None:
                loader.sampler.generator = loader.generator
        engine.data_order = self
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self.skip_consumed)

    def epoch_started(self, engine: Engine) -> None:
        """Re-seed the loader and dataset for ``engine.state.epoch``; note the batches already consumed."""
        epoch = int(engine.state.epoch)
        epoch_seed = self.seed + epoch
        loader: Any = getattr(engine, "data_loader", None)
        if isinstance(loader, DataLoader):
            if loader.generator is not None:
                loader.generator.manual_seed(epoch_seed)
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            set_rnd(loader.dataset, epoch_seed)
        length = engine.state.epoch_length
        self._skip = int(engine.state.iteration) % length if length else 0

    def skip_consumed(self, engine: Engine) -> None:
        """On the first batch after a mid-epoch resume, discard the batches the saved run had consumed."""
        if self._skip:
            skip, self._skip = self._skip, 0
            for _ in range(skip):
                # Ignite restarts the epoch's iterator on resume; its iterator attribute is the only handle on it
                next(engine._dataloader_iter)
