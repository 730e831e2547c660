"""Reproducible, resumable data order for Ignite/MONAI trainers."""

from __future__ import annotations

from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from monai.data.utils import set_rnd
from torch.utils.data import DataLoader, RandomSampler

__all__ = ["RANK_SEED_STRIDE", "DataOrderHandler"]

#: offset between the per-epoch seeds of consecutive distributed ranks (so ranks never share an epoch's seed)
RANK_SEED_STRIDE = 2**20


class DataOrderHandler:
    """
    Make each epoch's data order and data augmentation a function of ``(seed, epoch)`` only, and restore the
    position inside an epoch on a mid-epoch resume.

    How the data order is restored: at every ``EPOCH_STARTED`` the handler gives the ``DataLoader`` (and its
    ``RandomSampler``) a new generator seeded with ``seed + epoch`` (it draws the shuffling permutation and the
    workers' base seed) and re-seeds, through
    ``monai.data.utils.set_rnd``, every MONAI ``Randomizable`` in the dataset (random transforms used with
    ``num_workers=0``; workers re-seed theirs from the base seed) with ``seed + epoch``, and calls
    ``sampler.set_epoch(epoch)`` where the sampler has it (``DistributedSampler``). So an epoch's batches do
    not depend on the global RNG or on what happened earlier. Under ``torch.distributed`` rank ``r`` uses
    ``seed + epoch + r * RANK_SEED_STRIDE`` for the generator and the dataset, so ranks draw independent
    augmentations and worker seeds; a ``DistributedSampler`` shuffles with its own seed, the same on every rank.
    When a run resumes from an iteration-level checkpoint in the middle of an epoch
    (``iteration % epoch_length == k > 0``), Ignite restarts the data iterator at the epoch's beginning; the handler
    then draws and discards the first ``k`` batches before the first iteration, which replays the sampler and the
    augmentation RNGs exactly (at the cost of loading ``k`` batches once). The global torch/NumPy/Python RNGs are
    restored from the checkpoint separately (``RNGState``).

    Requirements for exactness: the loader's randomness must come from its generator or from MONAI
    ``Randomizable`` objects (not from the global RNGs inside workers), and ``persistent_workers`` must be
    ``False`` (persistent workers keep their RNG state across epochs).

    The loader's and its ``RandomSampler``'s generators are replaced by the handler's. The handler registers
    itself as ``engine.data_order``.

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
        engine.data_order = self
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self.skip_consumed)

    def epoch_started(self, engine: Engine) -> None:
        """Re-seed the loader and dataset for ``engine.state.epoch``; note the batches already consumed."""
        epoch = int(engine.state.epoch)
        epoch_seed = self.seed + epoch + RANK_SEED_STRIDE * idist.get_rank()
        loader: Any = getattr(engine, "data_loader", None)
        if isinstance(loader, DataLoader):
            # a new generator object: the previous epoch's exhausted sampler iterator may still draw from its own
            # generator (RandomSampler's remainder permutation) after this event, which must not shift this one
            generator = torch.Generator().manual_seed(epoch_seed)
            loader.generator = generator
            if isinstance(loader.sampler, RandomSampler):
                loader.sampler.generator = generator
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
