"""Validation of a CycleGAN during training: translation metrics, sample grid, best-checkpoint event."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import ignite.distributed as idist
import torch
from ignite.engine import Engine, EventEnum, Events

from medtranslate.engines.slab import centre_slice, translate_slab
from medtranslate.engines.trainer import prepare_cyclegan_batch
from medtranslate.handlers.sample_grid import GRID_COLUMNS, make_sample_grid, save_sample_grid
from medtranslate.metrics.paired import paired_metrics
from medtranslate.metrics.unpaired import sliced_wasserstein_distance
from medtranslate.networks.kind import kind_of_network

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["CycleGANEvents", "CycleGANValidationHandler"]


class CycleGANEvents(EventEnum):
    """Events fired by the medtranslate handlers on the trainer."""

    VALIDATION_COMPLETED = "validation_completed"


#: Values above this on the [-1, 1] scale are head (background, air and padding are -1).
HEAD_MIN_VALUE = -0.95


def axial_view(images: torch.Tensor) -> torch.Tensor:
    """What a sample grid shows of a batch: 2D ``(n, 1, X, Y)`` as it is, 3D ``(n, 1, X, Y, Z)`` its middle axial
    slice."""
    return images[..., images.shape[-1] // 2] if images.ndim == 5 else images


def axial_slices(images: torch.Tensor) -> torch.Tensor:
    """Every axial slice of a 3D batch ``(n, 1, X, Y, Z)`` as a 2D batch ``(n·Z, 1, X, Y)``; 2D batches as they
    are (the slice-based distribution distances compare slices)."""
    return images.movedim(-1, 1).reshape(-1, 1, *images.shape[2:4]) if images.ndim == 5 else images


def _to_unit(image: torch.Tensor) -> torch.Tensor:
    return ((image.float() + 1) / 2).clamp(0, 1)


class CycleGANValidationHandler:
    """
    Every ``interval`` epochs, translate a fixed validation set with the trainer's ``g_a`` (CT → MRI, eval
    mode, no gradients; ``g_b`` gives the reconstructed CT for the grid), store metrics in
    ``engine.state.metrics``, write a sample grid, and fire ``CycleGANEvents.VALIDATION_COMPLETED`` (which the
    "best" checkpoint saver of ``attach_checkpointing`` listens to).

    Paired metrics are computed on a [0, 1] scale, ``(x + 1) / 2`` of the networks' [-1, 1] intensities; the
    unpaired distance on [-1, 1], as ``medtranslate evaluate`` computes it:

        - ``paired=True`` (the batches' MRI is registered to their CT): ``val_mae`` (mean absolute error),
          ``val_psnr`` (``10·log10(1 / MSE)``, ``inf`` for identical images) and ``val_ssim`` (11-pixel Gaussian
          window) of the synthetic MRI, and ``val_mae_identity``, the MAE of the CT itself (the "do nothing"
          baseline), all inside the head (voxels above :data:`HEAD_MIN_VALUE` in the CT or the MRI; the
          background would otherwise dominate); key metric ``val_mae`` (lower is better).
        - ``paired=False``: ``val_swd``, the sliced Wasserstein distance between patch distributions of the
          synthetic and the real MRI of the whole set (:func:`sliced_wasserstein_distance`); key metric
          ``val_swd`` (lower is better).

    The grid (rows = the first ``num_samples`` cases; columns CT | synthetic MRI | reconstructed CT | real MRI,
    the paper's Figure 5) is written atomically to ``output_dir/samples/epoch_XXX.png`` and, with a
    ``summary_writer``, to TensorBoard as ``validation/samples``, on rank 0 only; the translation and metrics
    run on every rank. Networks are put back in their previous train/eval mode afterwards.

    Every kind of model validates the same way: a 2.5D model's items are slabs of ``2k - 1`` slices and are
    scored at their centre slice (:mod:`medtranslate.engines.slab`); a 3D model's are volumes (metrics in 3D, the
    grid shows the middle axial slice, the unpaired distance compares axial slices).

    Args:
        val_data_loader: iterable of dict batches with ``ct_key`` and ``mri_key`` in [-1, 1], same order each time.
        interval: validate every ``interval`` epochs.
        paired: whether ``mri_key`` holds the registered MRI of the same case.
        output_dir: folder of the ``samples`` folder; ``None``: no PNG.
        num_samples: rows of the grid; ``0``: no grid.
        summary_writer: TensorBoard ``SummaryWriter`` for the grid image.
        ct_key: batch key of domain A.
        mri_key: batch key of domain B.

    """

    def __init__(
        self,
        val_data_loader: Iterable,
        interval: int = 1,
        paired: bool = False,
        output_dir: str | Path | None = None,
        num_samples: int = 4,
        summary_writer: SummaryWriter | None = None,
        ct_key: str = "ct",
        mri_key: str = "mri",
    ) -> None:
        self.val_data_loader = val_data_loader
        self.interval = interval
        self.paired = paired
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.num_samples = num_samples
        self.summary_writer = summary_writer
        self.ct_key = ct_key
        self.mri_key = mri_key

    @property
    def key_metric_name(self) -> str:
        """The metric selecting the best checkpoint (lower is better for both)."""
        return "val_mae" if self.paired else "val_swd"

    def attach(self, engine: Engine) -> None:
        """
        Attach to a :class:`~medtranslate.engines.CycleGANTrainer`.

        Args:
            engine: the trainer (must have ``g_a`` and ``g_b``).

        """
        if not engine.has_registered_events(CycleGANEvents.VALIDATION_COMPLETED):
            engine.register_events(*CycleGANEvents)
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    def __call__(self, engine: Engine) -> None:
        """Validate now (see the class docstring) and fire ``CycleGANEvents.VALIDATION_COMPLETED``."""
        metrics, samples = self.evaluate(engine.g_a, engine.g_b, engine.state.device)
        engine.state.metrics.update(metrics)
        if samples is not None and idist.get_rank() == 0:
            epoch = int(engine.state.epoch)
            if self.output_dir is not None:
                save_sample_grid(self.output_dir / "samples" / f"epoch_{epoch:03d}.png", samples)
            if self.summary_writer is not None:
                grid = make_sample_grid(samples, GRID_COLUMNS)
                self.summary_writer.add_image("validation/samples", grid[None], epoch)
                self.summary_writer.flush()
        engine.fire_event(CycleGANEvents.VALIDATION_COMPLETED)

    def evaluate(
        self, g_a: torch.nn.Module, g_b: torch.nn.Module, device: torch.device | str | None = None
    ) -> tuple[dict[str, float], list[torch.Tensor] | None]:
        """
        Translate the validation set and compute the metrics.

        Args:
            g_a: generator CT → MRI.
            g_b: generator MRI → CT (for the reconstructed CT of the grid).
            device: device of the computation.

        Returns:
            ``(metrics, samples)``: metric name → float, and the grid columns (CT, synthetic MRI,
            reconstructed CT, real MRI; each ``(n, 1, X, Y)`` on the CPU) or ``None`` when ``num_samples`` is 0.

        """
        modes = (g_a.training, g_b.training)
        g_a.eval()
        g_b.eval()
        cts, fakes, reals = [], [], []
        columns: list[list[torch.Tensor]] = [[], [], [], []]
        kept = 0
        k = kind_of_network(g_a).slab  # a 2.5D model's items are slabs of 2k-1 slices (engines.slab)
        try:
            with torch.no_grad():
                for batch in self.val_data_loader:
                    slab_a, slab_b = prepare_cyclegan_batch(batch, device, ct_key=self.ct_key, mri_key=self.mri_key)
                    fake_slab = translate_slab(g_a, slab_a, k).float()
                    real_a, real_b, fake_b = centre_slice(slab_a), centre_slice(slab_b), centre_slice(fake_slab)
                    cts.append(real_a.float().cpu())
                    fakes.append(fake_b.cpu())
                    reals.append(real_b.float().cpu())
                    if kept < self.num_samples:
                        take = min(self.num_samples - kept, real_a.shape[0])
                        rec_a = translate_slab(g_b, fake_slab[:take], k).float()
                        for column, images in zip(columns, (real_a, fake_b, rec_a, real_b), strict=True):
                            column.append(axial_view(images[:take].float().cpu()))
                        kept += take
        finally:
            g_a.train(modes[0])
            g_b.train(modes[1])
        if not fakes:
            metrics = {self.key_metric_name: math.nan}
        elif self.paired:
            ct, fake, real = torch.cat(cts), torch.cat(fakes), torch.cat(reals)
            head = (ct > HEAD_MIN_VALUE) | (real > HEAD_MIN_VALUE)
            model = paired_metrics(_to_unit(fake), _to_unit(real), mask=head, data_range=1.0)
            identity = paired_metrics(_to_unit(ct), _to_unit(real), mask=head, data_range=1.0)
            metrics = {
                "val_mae": model["MAE"],
                "val_psnr": model["PSNR"],
                "val_ssim": model["SSIM"],
                "val_mae_identity": identity["MAE"],
            }
        else:
            fake, real = axial_slices(torch.cat(fakes)), axial_slices(torch.cat(reals))
            metrics = {"val_swd": sliced_wasserstein_distance(fake, real)}
        samples = [torch.cat(c) for c in columns] if kept else None
        return metrics, samples
