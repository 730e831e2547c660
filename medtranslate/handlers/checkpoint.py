"""Exact, safe checkpointing and resume of a :class:`~medtranslate.engines.CycleGANTrainer`.

A checkpoint is one ``torch.save`` file of a dict ``{name: obj.state_dict()}`` holding only tensors and plain
Python values, so it loads with ``torch.load(weights_only=True)``. With :func:`default_checkpoint_objects` the
names are ``g_a, g_b, d_a, d_b`` (network weights), ``g_optimizer, d_optimizer``, ``pool_a, pool_b`` (image
history + pool RNG), ``trainer`` (Ignite engine state: ``epoch_length``, ``iteration``, ``max_epochs``), ``rng``
(:class:`RNGState`), ``g_scaler, d_scaler`` with float16 amp, any extras given (learning-rate schedulers,
:class:`~medtranslate.handlers.LossHistoryHandler`), and the saver bookkeeping ``checkpointer`` /
``best_checkpointer`` (which files exist, so "keep the last K" and "keep the best" survive a resume).

Files are ``checkpoint_<iteration>.pt`` (the last ``n_saved``) and
``best_checkpoint_<iteration>_<metric>=<score>.pt``, written on rank 0 by :class:`DurableDiskSaver`: Ignite's
``DiskSaver`` writing through :func:`medtranslate.io.atomic.atomic_write` (synced to disk before the rename).
"""

from __future__ import annotations

import random
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from medtranslate.engines.trainer import CycleGANTrainer
from medtranslate.errors import CheckpointError
from medtranslate.handlers.data_order import DataOrderHandler
from medtranslate.handlers.validation import CycleGANEvents
from medtranslate.io.atomic import atomic_write

__all__ = [
    "CHECKPOINT_PATTERN",
    "Checkpointing",
    "DurableDiskSaver",
    "ImageShape",
    "RNGState",
    "attach_checkpointing",
    "default_checkpoint_objects",
    "find_checkpoints",
    "resume_from",
]

#: file names of the periodic ("last K") checkpoints; the number is the trainer iteration
CHECKPOINT_PATTERN = re.compile(r"^checkpoint_(\d+)\.pt$")


class RNGState:
    """
    The global random states (torch CPU, every CUDA device, NumPy's legacy global generator, Python's
    ``random``) as a ``state_dict`` of tensors and plain values, so a checkpoint stays ``weights_only``-loadable.
    """

    def state_dict(self) -> dict[str, Any]:
        """Current global RNG states."""
        _, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {
                "keys": torch.from_numpy(keys.astype(np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            },
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the global RNG states; CUDA states only when the device count matches (else a warning)."""
        torch.set_rng_state(state_dict["torch"].cpu())
        cuda = list(state_dict["cuda"])
        if cuda:
            if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
                torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
            else:
                warnings.warn(
                    "CUDA RNG states in the checkpoint do not match this machine's devices: not restored.", stacklevel=2
                )
        npy = state_dict["numpy"]
        keys = npy["keys"].numpy().astype(np.uint32)
        np.random.set_state(("MT19937", keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
        py = state_dict["python"]
        random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))


class DurableDiskSaver(DiskSaver):
    """
    Ignite's ``DiskSaver`` made safe against ``kill -9`` and power loss at any point of a save.

    - Writing goes through :func:`~medtranslate.io.atomic.atomic_write`: a hidden temporary file
      (``.tmp-<random>-checkpoint_<n>.pt``, never matched by :data:`CHECKPOINT_PATTERN`) is written, synced to
      disk, then renamed; Ignite's own atomic mode renames without syncing, so after a power cut the new name
      could point at an empty file.
    - Removing a file that is already gone is not an error. Ignite deletes the oldest of the last ``n_saved``
      checkpoints *before* writing the new one, so a run killed during that write resumes with bookkeeping that
      still lists the deleted file; the plain ``DiskSaver`` then fails on its next save.

    Args:
        dirname: the checkpoint folder (created when missing).
        kwargs: passed to ``ignite.handlers.DiskSaver`` (``require_empty``, ``save_on_rank``...); ``atomic`` is
            always on.
    """

    def __init__(self, dirname: str | Path, **kwargs: Any) -> None:
        kwargs["atomic"] = True
        super().__init__(dirname, **kwargs)

    def _save_func(self, checkpoint: Mapping, path: Path, func: Any) -> None:
        with atomic_write(path, overwrite=True) as tmp, open(tmp, "wb") as f:
            func(checkpoint, f, **self.kwargs)

    def remove(self, filename: str) -> None:
        """Delete ``filename`` from the folder (on the saving rank); a file already gone is fine."""
        if idist.get_rank() == self.save_on_rank:
            (self.dirname / filename).unlink(missing_ok=True)


class ImageShape:
    """
    The spatial shape of the training images, kept in every checkpoint (as ``image_shape``) so that a run resumed
    with another image size is refused at its first batch instead of going on at another resolution (the
    networks are fully convolutional, so their weights alone load at any size).

    Attach it to the trainer (``attach_checkpointing`` does); it reads ``engine.state.batch`` when a batch is
    fetched, records the shape of the first batch and checks every later one against it.

    Args:
        keys: batch keys of the images, the first one present is checked (the trainer's CT and MRI keys).

    Raises:
        CheckpointError: from the handler, when a batch's spatial shape differs from the recorded (checkpoint's)
            one; names the checkpoint loaded by :func:`resume_from`.
    """

    def __init__(self, keys: tuple[str, ...] = ("ct", "mri")) -> None:
        self.keys = keys
        self.shape: list[int] = []
        self.source: Path | None = None

    def attach(self, engine: Engine) -> None:
        """Check each batch of ``engine`` as soon as it is fetched."""
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        batch = engine.state.batch
        key = next((k for k in self.keys if isinstance(batch, Mapping) and k in batch), None)
        if key is None:
            return
        shape = [int(s) for s in batch[key].shape[2:]]
        if not self.shape:
            self.shape = shape
        elif shape != self.shape:
            where = "the checkpoint was" if self.source is not None else "this run was"
            raise CheckpointError(
                self.source,
                f"{where} trained on images of {tuple(self.shape)}, this run gives {tuple(shape)}: resume with the "
                "same image_size, or start a new run",
            )

    def state_dict(self) -> dict[str, Any]:
        """The recorded shape (empty before the first batch)."""
        return {"shape": list(self.shape)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Expect the saved shape from now on."""
        self.shape = [int(s) for s in state_dict["shape"]]


def default_checkpoint_objects(trainer: CycleGANTrainer, **extra: Any) -> dict[str, Any]:
    """
    Everything a :class:`CycleGANTrainer` needs to resume exactly: ``trainer.checkpoint_objects()`` plus
    ``rng`` (:class:`RNGState`) plus ``extra`` (e.g. ``g_scheduler=..., d_scheduler=..., loss_history=...``).

    Args:
        trainer: the trainer.
        extra: more objects with ``state_dict``/``load_state_dict``, keyed by their checkpoint name.

    """
    return {**trainer.checkpoint_objects(), "rng": RNGState(), **extra}


@dataclass
class Checkpointing:
    """
    What :func:`attach_checkpointing` set up.

    Attributes:
        last: Ignite ``Checkpoint`` keeping the last ``n_saved`` periodic checkpoints.
        best: Ignite ``Checkpoint`` keeping the best ones by the validation metric, or ``None``.
        objects: the objects to pass to :func:`resume_from` (the saved objects plus both savers' bookkeeping).
        save_dir: the checkpoint folder.

    """

    last: Checkpoint
    best: Checkpoint | None
    objects: dict[str, Any] = field(default_factory=dict)
    save_dir: Path = Path()


def _iteration_step(engine: Engine, event: Any) -> int:
    return int(engine.state.iteration)


def attach_checkpointing(
    trainer: CycleGANTrainer,
    save_dir: str | Path,
    objects: Mapping[str, Any] | None = None,
    every_n_iterations: int | None = None,
    every_n_epochs: int | None = None,
    n_saved: int | None = 3,
    key_metric_name: str | None = None,
    key_metric_greater_is_better: bool = False,
    key_metric_n_saved: int = 1,
    data_seed: int | None = 0,
) -> Checkpointing:
    """
    Save complete, atomically written checkpoints of ``trainer`` and keep the last ``n_saved`` and the best.

    Periodic checkpoints are saved every ``every_n_iterations`` iterations or every ``every_n_epochs`` epochs
    (one of the two; every epoch when neither is given). A save that falls on the last iteration of an epoch
    happens at ``EPOCH_COMPLETED`` instead, and the saver is registered when the run starts, so it comes after
    every handler attached before ``run()`` (learning-rate steps, validation, loss history): a checkpoint at an
    epoch boundary holds the state after the epoch's end-of-epoch work, which a resumed run does not repeat.
    With ``key_metric_name``, a checkpoint is also saved
    whenever the validation handler fires ``CycleGANEvents.VALIDATION_COMPLETED`` with a new best value of
    ``trainer.state.metrics[key_metric_name]``. Writing happens on rank 0 only; the handlers run on every rank.

    Unless ``data_seed`` is ``None``, a :class:`~medtranslate.handlers.DataOrderHandler` is attached too (if
    ``trainer.data_order`` is not set yet), so the data order is restored on a mid-epoch resume.

    Args:
        trainer: the trainer.
        save_dir: checkpoint folder (created when missing; existing files are kept).
        objects: objects to save, keyed by name; defaults to :func:`default_checkpoint_objects`. An
            :class:`ImageShape` is added (and attached) as ``image_shape`` unless one is given.
        every_n_iterations: save period in iterations.
        every_n_epochs: save period in epochs.
        n_saved: number of periodic checkpoints kept (``None``: all).
        key_metric_name: ``trainer.state.metrics`` key selecting the best checkpoints; ``None``: no "best".
        key_metric_greater_is_better: ``True`` for metrics such as PSNR/SSIM, ``False`` for MAE or distances.
        key_metric_n_saved: number of best checkpoints kept.
        data_seed: seed of the per-epoch data order (see ``DataOrderHandler``); ``None`` attaches none.

    Returns:
        a :class:`Checkpointing`; pass its ``objects`` to :func:`resume_from`.

    """
    if every_n_iterations is not None and every_n_epochs is not None:
        raise ValueError("give at most one of every_n_iterations and every_n_epochs.")
    if every_n_iterations is not None:
        every = every_n_iterations

        def _inside_epoch(engine: Engine, iteration: int) -> bool:
            length = engine.state.epoch_length
            return iteration % every == 0 and not (length and iteration % length == 0)

        def _at_epoch_end(engine: Engine, epoch: int) -> bool:
            return engine.state.iteration % every == 0

        events: Any = Events.ITERATION_COMPLETED(event_filter=_inside_epoch) | Events.EPOCH_COMPLETED(
            event_filter=_at_epoch_end
        )
    else:
        events = Events.EPOCH_COMPLETED(every=every_n_epochs or 1)
    to_save = dict(default_checkpoint_objects(trainer) if objects is None else objects)
    if "image_shape" not in to_save:
        keys = getattr(trainer, "to_kwargs", {})
        to_save["image_shape"] = ImageShape((keys.get("ct_key", "ct"), keys.get("mri_key", "mri")))
        to_save["image_shape"].attach(trainer)
    for reserved in ("checkpointer", "best_checkpointer"):
        if reserved in to_save:
            raise ValueError(f"the object name {reserved!r} is reserved for the savers' own state.")
    save_dir = Path(save_dir)

    best = None
    if key_metric_name is not None:
        sign = 1.0 if key_metric_greater_is_better else -1.0
        metric = key_metric_name
        best = Checkpoint(
            dict(to_save),
            DurableDiskSaver(save_dir, require_empty=False),
            filename_prefix="best",
            score_function=lambda engine: sign * float(engine.state.metrics[metric]),
            score_name=key_metric_name,
            n_saved=key_metric_n_saved,
            global_step_transform=_iteration_step,
        )
        if not trainer.has_registered_events(CycleGANEvents.VALIDATION_COMPLETED):
            trainer.register_events(*CycleGANEvents)
        trainer.add_event_handler(CycleGANEvents.VALIDATION_COMPLETED, best)
        to_save["best_checkpointer"] = best
    last = Checkpoint(
        to_save,
        DurableDiskSaver(save_dir, require_empty=False),
        n_saved=n_saved,
        global_step_transform=_iteration_step,
        include_self=True,
    )

    def _register_last(engine: Engine) -> None:
        if not engine.has_event_handler(last):
            engine.add_event_handler(events, last)

    trainer.add_event_handler(Events.STARTED, _register_last)
    if data_seed is not None and getattr(trainer, "data_order", None) is None:
        DataOrderHandler(seed=data_seed).attach(trainer)
    return Checkpointing(last=last, best=best, objects={**to_save, "checkpointer": last}, save_dir=save_dir)


def find_checkpoints(save_dir: str | Path) -> list[Path]:
    """Periodic checkpoints (``checkpoint_<iteration>.pt``) in ``save_dir``, newest (highest iteration) first."""
    found = []
    for path in Path(save_dir).iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found, key=lambda x: x[0], reverse=True)]


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        return obj.module
    return obj


def _check_module(path: Path, name: str, module: torch.nn.Module, saved: Any) -> None:
    if not isinstance(saved, Mapping):
        raise CheckpointError(path, f"{name}: expected a state dict of tensors, found {type(saved).__name__}.")
    own = module.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    if missing or unexpected:
        raise CheckpointError(
            path,
            f"{name} was saved from another architecture: missing keys {missing}, unexpected keys {unexpected}.",
        )
    for key, value in own.items():
        if tuple(saved[key].shape) != tuple(value.shape):
            raise CheckpointError(
                path,
                f"{name}: shape mismatch for parameter {key!r}: checkpoint {tuple(saved[key].shape)} vs model "
                f"{tuple(value.shape)} (another architecture or channel count).",
            )


def _load_file(path: Path, map_location: Any) -> dict[str, Any]:
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"expected a dict of state dicts, found {type(checkpoint).__name__}")
    return checkpoint


def _load_objects(path: Path, checkpoint: Mapping[str, Any], trainer: Engine, objects: Mapping[str, Any]) -> None:
    # the savers' bookkeeping and the image shape (absent from checkpoints older than it) are optional
    required = [k for k, obj in objects.items() if not isinstance(obj, (Checkpoint, ImageShape))]
    missing = [k for k in required if k not in checkpoint]
    if missing:
        raise CheckpointError(path, f"missing objects {missing} (found {sorted(checkpoint)}).")
    for name in required:
        obj = _unwrap(objects[name])
        if isinstance(obj, torch.nn.Module):
            _check_module(path, name, obj, checkpoint[name])
    if "trainer" in required:
        saved_length = checkpoint["trainer"].get("epoch_length")
        if trainer.state.epoch_length is not None and saved_length != trainer.state.epoch_length:
            raise CheckpointError(
                path,
                f"epoch length {saved_length} in the checkpoint differs from the data loader's "
                f"{trainer.state.epoch_length}: the training data changed, the run cannot be resumed exactly.",
            )
    max_epochs = trainer.state.max_epochs
    for name, obj in objects.items():
        if name not in checkpoint:  # only the optional objects above may be absent (e.g. in a "best" checkpoint)
            continue
        try:
            _unwrap(obj).load_state_dict(checkpoint[name])
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(path, f"{name} cannot be restored: {e}") from e
        if isinstance(obj, ImageShape):
            obj.source = path
    if "trainer" in objects and max_epochs is not None:
        if trainer.state.epoch > max_epochs:
            raise CheckpointError(
                path, f"the checkpoint is at epoch {trainer.state.epoch}, beyond max_epochs={max_epochs}."
            )
        trainer.state.max_epochs = max_epochs  # a resumed run may be given more epochs than the saved one


def resume_from(
    trainer: Engine,
    path_or_dir: str | Path,
    objects: Mapping[str, Any],
    map_location: str | torch.device | None = None,
    missing_ok: bool = False,
) -> Path | None:
    """
    Restore ``objects`` (and so ``trainer``) from a checkpoint; the next ``trainer.run()`` continues exactly
    where the saved run was.

    A folder resumes from its newest periodic checkpoint that loads: a corrupt, truncated or unsafe file (one
    that needs unpickling of arbitrary objects) is skipped with a warning and the previous one is tried. Files
    are read with ``torch.load(weights_only=True)``. Nothing is loaded until every network's keys and shapes
    have been checked. The trainer keeps its own ``max_epochs`` (so a run can be extended).

    Args:
        trainer: the engine whose state is restored (also the ``"trainer"`` entry of ``objects``, if present).
        path_or_dir: a checkpoint file, or a folder of ``checkpoint_<iteration>.pt`` files.
        objects: name → object with ``load_state_dict``, e.g. ``Checkpointing.objects`` or
            :func:`default_checkpoint_objects`; Ignite ``Checkpoint`` savers are restored when present.
        map_location: ``torch.load``'s ``map_location``; defaults to ``trainer.state.device`` if set, else CPU.
        missing_ok: return ``None`` instead of raising when a folder holds no checkpoint at all.

    Returns:
        the file loaded, or ``None`` (``missing_ok`` and no checkpoint).

    Raises:
        CheckpointError: no loadable checkpoint; a checkpoint made for another architecture or shape (names the
            network and the missing/unexpected keys or the parameter with the shape mismatch); an object that
            cannot be restored; a different epoch length.

    """
    path_or_dir = Path(path_or_dir)
    if map_location is None:
        map_location = getattr(trainer.state, "device", None) or "cpu"
    if path_or_dir.is_dir():
        candidates = find_checkpoints(path_or_dir)
        if not candidates:
            if missing_ok:
                return None
            raise CheckpointError(path_or_dir, "no checkpoint_<iteration>.pt file to resume from.")
    elif path_or_dir.is_file():
        candidates = [path_or_dir]
    else:
        if missing_ok:
            return None
        raise CheckpointError(path_or_dir, "no such checkpoint file or folder.")
    skipped = []
    for path in candidates:
        try:
            checkpoint = _load_file(path, map_location)
        except Exception as e:  # any failure to read means an unusable file: never load it
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if len(candidates) == 1:
                raise CheckpointError(path, f"unreadable or unsafe checkpoint ({reason}).") from e
            warnings.warn(f"{path}: skipped, unreadable or unsafe checkpoint ({reason}).", stacklevel=2)
            skipped.append(path.name)
            continue
        _load_objects(path, checkpoint, trainer, objects)
        return path
    raise CheckpointError(path_or_dir, f"no loadable checkpoint (skipped {skipped}).")
