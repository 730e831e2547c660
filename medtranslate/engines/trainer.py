"""CycleGAN training engine (Zhu et al. 2017) as a MONAI ``Trainer``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.engines import Trainer
from monai.engines.utils import IterationEvents, default_metric_cmp_fn
from monai.engines.workflow import Workflow
from monai.transforms import Transform
from monai.utils import IgniteInfo, min_version, optional_import
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader

from medtranslate.compiling import CompiledOrEager
from medtranslate.engines.losses import STRUCTURE_LOSSES, head_mask_loss, lsgan_loss, structure_loss
from medtranslate.engines.pool import ImagePool
from medtranslate.engines.slab import centre_slice, translate_slab
from medtranslate.networks.kind import kind_of_network
from medtranslate.precision import autocast_dtype

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")

__all__ = ["GENERATOR_LOSS_KEYS", "IMAGE_KEYS", "LOSS_KEYS", "CycleGANTrainer", "prepare_cyclegan_batch"]

#: the generator's loss components in ``engine.state.output`` (weighted, as they enter ``loss_G``)
GENERATOR_LOSS_KEYS: tuple[str, ...] = (
    "G_A",
    "G_B",
    "cycle_A",
    "cycle_B",
    "idt_A",
    "idt_B",
    "struct_A",
    "struct_B",
    "mask_A",
    "mask_B",
)
#: every loss component in ``engine.state.output``: the generator's, then the discriminators'
LOSS_KEYS: tuple[str, ...] = (*GENERATOR_LOSS_KEYS, "D_A", "D_B")
#: the detached image tensors of the last batch in ``engine.state.output``
IMAGE_KEYS: tuple[str, ...] = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")


def prepare_cyclegan_batch(
    batchdata: dict[str, torch.Tensor],
    device: str | torch.device | None = None,
    non_blocking: bool = False,
    ct_key: str = "ct",
    mri_key: str = "mri",
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Take the two unpaired domains out of a batch dictionary and move them to ``device``.

    ``MetaTensor`` inputs become plain tensors (the metadata plays no part in training and slows every op).

    Args:
        batchdata: ``{ct_key: (B, C, ...), mri_key: (B, C, ...), ...}`` in [-1, 1].
        device: target device.
        non_blocking: asynchronous host-to-device copy where possible.
        ct_key: key of domain A (CT).
        mri_key: key of domain B (MRI).
        kwargs: further arguments of ``torch.Tensor.to``.

    Returns:
        ``(real_A, real_B)``.

    """
    if not isinstance(batchdata, dict) or ct_key not in batchdata or mri_key not in batchdata:
        raise ValueError(f"a CycleGAN batch must be a dict with keys {ct_key!r} and {mri_key!r}.")
    out = []
    for key in (ct_key, mri_key):
        value = batchdata[key]
        if isinstance(value, MetaTensor):
            value = value.as_tensor()
        out.append(value.to(device=device, non_blocking=non_blocking, **kwargs))
    return out[0], out[1]


def _set_requires_grad(networks: Iterable[torch.nn.Module], flag: bool) -> None:
    for net in networks:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGANTrainer(Trainer):
    """
    Unpaired image-to-image translation with CycleGAN, inherits from ``Trainer`` and ``Workflow``.

    Naming follows the CycleGAN code: domain A is CT, domain B is MRI; ``g_a``: A → B (CT → MRI), ``g_b``:
    B → A; ``d_a`` judges domain B (real MRI against ``g_a``'s fakes), ``d_b`` judges domain A (real CT against
    ``g_b``'s fakes). ``pool_a`` keeps fake A images (for ``d_b``), ``pool_b`` fake B images (for ``d_a``).

    One iteration, for a batch ``{ct_key: real_A, mri_key: real_B}`` (2D slices, 3D patches, or for a 2.5D model
    whose generators take ``k`` slices as channels, slabs of ``2k - 1`` slices: the generators then run on each
    window of ``k`` (:func:`~medtranslate.engines.slab.translate_slab`), the losses and discriminators see centre
    slices, so ``fake_B`` below is the centre of ``k`` synthetic slices and ``rec_A`` is ``G_B`` of those ``k``):

        1. Generator step with ``d_a``, ``d_b`` frozen (``requires_grad=False``):
           ``fake_B = g_a(real_A)``, ``rec_A = g_b(fake_B)``, ``fake_A = g_b(real_B)``, ``rec_B = g_a(fake_A)``;
           ``G_A = LS(d_a(fake_B), 1)``, ``G_B = LS(d_b(fake_A), 1)`` (least squares on raw logits);
           ``cycle_A = lambda_a·|rec_A − real_A|₁``, ``cycle_B = lambda_b·|rec_B − real_B|₁``;
           ``idt_A = lambda_b·lambda_identity·|g_a(real_B) − real_B|₁``,
           ``idt_B = lambda_a·lambda_identity·|g_b(real_A) − real_A|₁``;
           structure terms ``struct_A = lambda_structure·S(real_A, fake_B)``, ``struct_B`` likewise for
           ``real_B``/``fake_A``, with ``S`` a modality-independent :func:`~medtranslate.engines.losses.structure_loss`
           (MIND or sign-invariant local correlation) that keeps anatomy in place while the contrast changes;
           head-mask consistency ``mask_A = lambda_mask·M(real_A, fake_B)``, ``mask_B`` likewise
           (:func:`~medtranslate.engines.losses.head_mask_loss`);
           ``loss_G`` = sum of the ten, one ``g_optimizer`` step (both generators).
        2. Discriminator step (fakes detached, drawn from the pools):
           ``D_A = 0.5·(LS(d_a(real_B), 1) + LS(d_a(pool_b(fake_B)), 0))``, ``D_B`` likewise with ``d_b``,
           ``real_A``, ``pool_a(fake_A)``; ``loss_D = D_A + D_B``, one ``d_optimizer`` step.

    ``engine.state.output`` is a dict with the twelve weighted loss components (:data:`LOSS_KEYS`, Python floats),
    ``loss_G`` and ``loss_D`` (floats) and the detached images of the batch (:data:`IMAGE_KEYS`). All floats
    come from one host synchronisation per iteration.

    Mixed precision: with ``amp=True`` the forward passes run under ``torch.autocast`` in the reduced precision
    the device has natively (:func:`medtranslate.precision.autocast_dtype`): bfloat16 on recent CUDA devices
    and on CPUs with bf16 instructions (no scaling needed), float16 on older CUDA devices with one
    ``GradScaler`` per optimiser (``g_scaler``, ``d_scaler``). Where there is none (a CPU without bf16
    instructions, where it is emulated and slower than float32) ``amp`` is ignored with a warning. Losses are
    always computed in float32.

    Fast path: ``compile=True`` runs the four networks' training passes through ``torch.compile`` (inductor,
    forward and backward; the first iterations compile, 1-2 minutes at 256² on a 2-core CPU; eager with one
    warning where compiling is unavailable); ``channels_last=True`` converts the networks and batches to NHWC,
    the layout oneDNN's bf16 kernels prefer. The modules themselves stay eager (validation, checkpoints and
    export see plain modules with unchanged ``state_dict`` keys). Measured in ``docs/performance.md``.

    Args:
        device: an object representing the device on which to run.
        max_epochs: the total epoch number for trainer to run.
        train_data_loader: ``DataLoader`` (or iterable) of dict batches with ``ct_key`` and ``mri_key``.
        g_a: generator CT → MRI.
        g_b: generator MRI → CT.
        d_a: discriminator of domain B (MRI), returning logits.
        d_b: discriminator of domain A (CT), returning logits.
        g_optimizer: optimiser over the parameters of both generators.
        d_optimizer: optimiser over the parameters of both discriminators.
        lambda_a: weight of the cycle loss A → B → A. Defaults to 10.
        lambda_b: weight of the cycle loss B → A → B. Defaults to 10.
        lambda_identity: identity loss weight relative to ``lambda_a``/``lambda_b``; ``0`` skips the identity
            passes. Defaults to 0.5.
        lambda_structure: weight of the structure terms ``struct_A``/``struct_B``; ``0`` skips them. Defaults to 0.
        structure_loss: ``"mind"`` or ``"correlation"`` (see :data:`~medtranslate.engines.losses.STRUCTURE_LOSSES`).
        lambda_mask: weight of the head-mask consistency terms ``mask_A``/``mask_B``; ``0`` skips them.
        pool_size: size of each history pool; ``0`` disables them. Defaults to 50.
        pool_seed: seed of the pools' generators (``pool_b`` uses ``pool_seed + 1``); ``None`` draws them from
            the global torch RNG.
        ct_key: batch key of domain A. Defaults to ``"ct"``.
        mri_key: batch key of domain B. Defaults to ``"mri"``.
        epoch_length: number of iterations for one epoch, default to ``len(train_data_loader)``.
        non_blocking: if True and this copy is between CPU and GPU, the copy may occur asynchronously.
        prepare_batch: ``f(batchdata, device, non_blocking, **kwargs) -> (real_A, real_B)``; defaults to
            :func:`prepare_cyclegan_batch` with ``ct_key``/``mri_key``.
        iteration_update: replaces :meth:`_iteration` when given (Ignite's ``process_function``).
        postprocessing: transform applied to ``engine.state.batch``/``engine.state.output`` after each
            iteration (on ``IterationEvents.MODEL_COMPLETED``).
        key_train_metric: Ignite metric computed every iteration and averaged at epoch end; the key one.
        additional_metrics: more Ignite metrics to attach.
        metric_cmp_fn: compares current and best key metric, default to ``greater than``.
        train_handlers: handlers with an ``attach`` method (e.g. ``StatsHandler``).
        amp: mixed precision where the device runs it natively (see above). Defaults to False.
        event_names: additional custom Ignite events to register.
        event_to_attr: maps an event to a state attribute.
        optim_set_to_none: ``zero_grad(set_to_none=...)``. Defaults to False.
        to_kwargs: further arguments of ``prepare_batch`` besides ``device`` and ``non_blocking``.
        amp_kwargs: further arguments of ``torch.autocast``; a ``dtype`` overrides the automatic choice and is
            used even where it is not native (e.g. emulated bf16 on a CPU, for tests; fp16 gets no scaler off CUDA).
        compile: run the training passes of the networks compiled (see "Fast path"). Defaults to False.
        channels_last: networks and batches in ``channels_last`` (see "Fast path"). Defaults to False.

    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        g_a: torch.nn.Module,
        g_b: torch.nn.Module,
        d_a: torch.nn.Module,
        d_b: torch.nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        lambda_structure: float = 0.0,
        structure_loss: str = "mind",
        lambda_mask: float = 0.0,
        pool_size: int = 50,
        pool_seed: int | None = 0,
        ct_key: str = "ct",
        mri_key: str = "mri",
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable | None = None,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        postprocessing: Transform | None = None,
        key_train_metric: dict[str, Metric] | None = None,
        additional_metrics: dict[str, Metric] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        train_handlers: Sequence | None = None,
        amp: bool = False,
        event_names: list[str | EventEnum | type[EventEnum]] | None = None,
        event_to_attr: dict | None = None,
        optim_set_to_none: bool = False,
        to_kwargs: dict | None = None,
        amp_kwargs: dict | None = None,
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        device = torch.device(device)
        native = autocast_dtype(device)
        if amp and native is None and "dtype" not in (amp_kwargs or {}):
            warnings.warn(
                f"amp=True is ignored on device {device}: it has no native reduced precision "
                "(bfloat16 would be emulated and slower than float32).",
                stacklevel=2,
            )
            amp = False
        if prepare_batch is None:
            to_kwargs = {"ct_key": ct_key, "mri_key": mri_key, **(to_kwargs or {})}
            prepare_batch = prepare_cyclegan_batch
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            postprocessing=postprocessing,
            key_metric=key_train_metric,
            additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn,
            handlers=train_handlers,
            amp=amp,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=False,  # the output mixes per-batch floats and image batches: keep it as one dict
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        self.g_a, self.g_b, self.d_a, self.d_b = g_a, g_b, d_a, d_b
        #: adjacent slices the generators see (1: 2D or 3D; k > 1: 2.5D, batches of 2k-1 slices), from ``g_a``
        self.slab = kind_of_network(g_a).slab
        self.channels_last = channels_last
        if channels_last:
            for net in (g_a, g_b, d_a, d_b):
                net.to(memory_format=torch.channels_last)
        names = ("g_a", "g_b", "d_a", "d_b")
        #: what the iteration calls: the modules, or their compiled forms (sharing their parameters)
        self.training_networks: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            name: CompiledOrEager(net, device, what=name) if compile else net
            for name, net in zip(names, (g_a, g_b, d_a, d_b), strict=True)
        }
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.lambda_a = lambda_a
        self.lambda_b = lambda_b
        self.lambda_identity = lambda_identity
        if structure_loss not in STRUCTURE_LOSSES:
            raise ValueError(f"unknown structure_loss {structure_loss!r}; choose one of {', '.join(STRUCTURE_LOSSES)}")
        self.lambda_structure = lambda_structure
        self.structure_loss = structure_loss
        self.lambda_mask = lambda_mask
        self.pool_a = ImagePool(pool_size, seed=pool_seed)
        self.pool_b = ImagePool(pool_size, seed=None if pool_seed is None else pool_seed + 1)
        self.optim_set_to_none = optim_set_to_none
        self.amp_dtype: torch.dtype | None = None
        self.g_scaler: torch.amp.GradScaler | None = None
        self.d_scaler: torch.amp.GradScaler | None = None
        if self.amp:
            self.amp_dtype = self.amp_kwargs.pop("dtype", native)
            if self.amp_dtype == torch.float16 and device.type == "cuda":
                self.g_scaler = torch.amp.GradScaler("cuda")
                self.d_scaler = torch.amp.GradScaler("cuda")

    def run(self) -> None:  # type: ignore[override]
        """
        Execute training. Calling it again continues from the current state (e.g. after a resume).

        Unlike ``monai.engines.Trainer.run`` this keeps the trainer's own per-optimiser ``GradScaler``s (their
        state is part of a checkpoint) instead of creating one shared scaler.
        """
        Workflow.run(self)

    def checkpoint_objects(self) -> dict[str, Any]:
        """
        Objects that make up this trainer's resumable state, keyed as they are stored in a checkpoint:
        ``g_a, g_b, d_a, d_b, g_optimizer, d_optimizer, pool_a, pool_b, trainer`` and, with float16 amp,
        ``g_scaler, d_scaler``. Learning-rate schedulers and RNG states are added by the caller
        (see ``medtranslate.handlers.attach_checkpointing``).
        """
        objects: dict[str, Any] = {
            "g_a": self.g_a,
            "g_b": self.g_b,
            "d_a": self.d_a,
            "d_b": self.d_b,
            "g_optimizer": self.g_optimizer,
            "d_optimizer": self.d_optimizer,
            "pool_a": self.pool_a,
            "pool_b": self.pool_b,
            "trainer": self,
        }
        if self.g_scaler is not None and self.d_scaler is not None:
            objects["g_scaler"] = self.g_scaler
            objects["d_scaler"] = self.d_scaler
        return objects

    def _autocast(self) -> Any:
        if not self.amp:
            return nullcontext()
        return torch.autocast(self.state.device.type, dtype=self.amp_dtype, **self.amp_kwargs)

    @staticmethod
    def _step(loss: torch.Tensor, optimizer: Optimizer, scaler: torch.amp.GradScaler | None) -> None:
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    def _iteration(self, engine: CycleGANTrainer, batchdata: dict[str, torch.Tensor]) -> dict[str, Any]:
        """
        One CycleGAN iteration (generator step, then discriminator step); see the class docstring.

        Args:
            engine: the ``CycleGANTrainer`` running the iteration.
            batchdata: dict batch with the CT and MRI keys.

        Raises:
            ValueError: when ``batchdata`` is None.

        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        real_a, real_b = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        if engine.channels_last and real_a.ndim == 4:
            real_a = real_a.contiguous(memory_format=torch.channels_last)
            real_b = real_b.contiguous(memory_format=torch.channels_last)
        discriminators = (engine.d_a, engine.d_b)
        nets = engine.training_networks
        g_a, g_b, d_a, d_b = nets["g_a"], nets["g_b"], nets["d_a"], nets["d_b"]

        # generator step, discriminators frozen; a 2.5D model's batches are slabs of 2k-1 slices (see slab.py)
        k, slabs = engine.slab, (real_a, real_b)
        _set_requires_grad(discriminators, False)
        engine.g_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        with engine._autocast():
            fake_b_slab = translate_slab(g_a, real_a, k)
            rec_a = translate_slab(g_b, fake_b_slab, k)
            fake_a_slab = translate_slab(g_b, real_b, k)
            rec_b = translate_slab(g_a, fake_a_slab, k)
            fake_b, fake_a = centre_slice(fake_b_slab), centre_slice(fake_a_slab)
            real_a, real_b = centre_slice(real_a), centre_slice(real_b)
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            loss_g_a = lsgan_loss(d_a(fake_b), True)
            loss_g_b = lsgan_loss(d_b(fake_a), True)
            if engine.lambda_identity > 0:
                idt_a = translate_slab(g_a, slabs[1], k, centre_only=True)
                idt_b = translate_slab(g_b, slabs[0], k, centre_only=True)
                loss_idt_a = F.l1_loss(idt_a.float(), real_b.float()) * engine.lambda_b * engine.lambda_identity
                loss_idt_b = F.l1_loss(idt_b.float(), real_a.float()) * engine.lambda_a * engine.lambda_identity
            else:
                loss_idt_a = loss_idt_b = torch.zeros((), device=real_a.device)
        loss_cycle_a = F.l1_loss(rec_a.float(), real_a.float()) * engine.lambda_a
        loss_cycle_b = F.l1_loss(rec_b.float(), real_b.float()) * engine.lambda_b
        zero = torch.zeros((), device=real_a.device)
        loss_struct_a = loss_struct_b = loss_mask_a = loss_mask_b = zero
        if engine.lambda_structure > 0:
            loss_struct_a = structure_loss(engine.structure_loss, real_a, fake_b) * engine.lambda_structure
            loss_struct_b = structure_loss(engine.structure_loss, real_b, fake_a) * engine.lambda_structure
        if engine.lambda_mask > 0:
            loss_mask_a = head_mask_loss(real_a, fake_b) * engine.lambda_mask
            loss_mask_b = head_mask_loss(real_b, fake_a) * engine.lambda_mask
        generator_losses = (
            loss_g_a,
            loss_g_b,
            loss_cycle_a,
            loss_cycle_b,
            loss_idt_a,
            loss_idt_b,
            loss_struct_a,
            loss_struct_b,
            loss_mask_a,
            loss_mask_b,
        )
        loss_g = torch.stack(generator_losses).sum()
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine._step(loss_g, engine.g_optimizer, engine.g_scaler)

        # discriminator step on detached fakes from the history pools
        _set_requires_grad(discriminators, True)
        engine.d_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        pooled_b = engine.pool_b.query(fake_b)
        pooled_a = engine.pool_a.query(fake_a)
        with engine._autocast():
            loss_d_a = 0.5 * (lsgan_loss(d_a(real_b), True) + lsgan_loss(d_a(pooled_b), False))
            loss_d_b = 0.5 * (lsgan_loss(d_b(real_a), True) + lsgan_loss(d_b(pooled_a), False))
        loss_d = loss_d_a + loss_d_b
        engine._step(loss_d, engine.d_optimizer, engine.d_scaler)
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)

        losses = (*generator_losses, loss_d_a, loss_d_b)
        values = torch.stack([*losses, loss_g, loss_d]).detach().tolist()  # one host synchronisation for all floats
        output: dict[str, Any] = dict(zip((*LOSS_KEYS, "loss_G", "loss_D"), values, strict=True))
        images = (real_a, fake_b, rec_a, real_b, fake_a, rec_b)
        output.update({k: v.detach() for k, v in zip(IMAGE_KEYS, images, strict=True)})
        engine.state.output = output
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
