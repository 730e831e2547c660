"""Translate a CT volume with a 2D generator, slice by slice, keeping the input's grid and affine.

The generator was trained on axial slices cropped to the head and resized to ``image_size``×``image_size``
(:mod:`medtranslate.transforms.head`); :class:`SliceTranslator` calls the same functions on each axial slice,
runs the network over batches of slices with MONAI's :class:`~monai.inferers.SliceInferer`, puts each output
back into its slice's grid (background outside the head) and returns a volume of the input's shape with the
input's metadata. Slices are processed in chunks along the
axial axis so that memory stays bounded for large volumes (a 512×512×300 CT never exists at 256² as a whole):
the peak is the input, the float32 result and one chunk's working set (``docs/performance.md``).

Speed options (measured in ``docs/performance.md`` with ``python -m benchmarks``): the layout is
``channels_last`` on CUDA (and for the compiled path); mixed precision by default where the device runs it
natively (:func:`medtranslate.precision.autocast_dtype`: bf16/fp16 on CUDA, bf16 on CPUs with AVX512-BF16 or
AMX, ~2× float32 there; emulated bf16 on other CPUs is slower and never chosen), within
:data:`AMP_TOLERANCE` of float32; ``backend="onnxruntime"`` exports the network to ONNX once (a few seconds)
and runs it with ONNX Runtime on the CPU (as fast as eager on an idle 2-core CPU, 2.1× eager when other
processes share the cores); ``backend="compile"`` runs it through ``torch.compile`` with inductor freezing
(weights folded as constants), channels_last and, where the device has a native reduced precision, the weights
themselves in it (bf16 weights, no autocast): 1.16× eager bf16 autocast on an AMD EPYC with AVX512-BF16 (0.81
of its bf16 limit), 2.4× on an Intel Xeon with AMX, for a one-off compile of 6-15 s per process (less with
inductor's on-disk cache warm). ``backend="auto"`` (the default) compiles there once a call has seen enough
slices for the measured gain to cover the compile (:func:`default_compile_min_slices`), and runs eager elsewhere
(fp32 CPUs, where compiling gains 1.2× for a 12-30 s compile, and CUDA, not yet measured).
"""

from __future__ import annotations

import copy
import io
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.inferers import SliceInferer
from monai.utils import optional_import
from tqdm.auto import tqdm

from medtranslate.compiling import CompiledOrEager
from medtranslate.errors import ConfigError, DimensionError
from medtranslate.networks.kind import kind_of_network
from medtranslate.precision import autocast_dtype
from medtranslate.transforms.head import HeadBox, crop_head, resize_slices, uncrop_head

ort, has_ort = optional_import("onnxruntime")

__all__ = [
    "AMP_TOLERANCE",
    "BACKENDS",
    "COMPILE_MIN_SLICES",
    "OnnxRuntimeNetwork",
    "SliceTranslator",
    "default_compile_min_slices",
    "fit_size",
    "make_translator",
]

#: ``backend`` values of :class:`SliceTranslator`.
BACKENDS = ("auto", "eager", "compile", "onnxruntime")

#: Slices of 256² after which ``backend="auto"`` compiles the paper's generator (ngf 64, 7.8 M parameters) on a CPU
#: with native bf16: its compile (6-8 s once per process) over the measured saving per slice against eager bf16
#: autocast (0.03 s; ``docs/performance.md``, AMD EPYC with AVX512-BF16). Break-even near 200 slices.
COMPILE_MIN_SLICES = 200
_PAPER_PARAMETERS = 7.83e6


def default_compile_min_slices(network: torch.nn.Module | Callable, image_size: int) -> int:
    """The ``"auto"`` threshold for ``network`` at ``image_size``: :data:`COMPILE_MIN_SLICES` scaled by the work
    per slice (∝ parameters × pixels for these fully convolutional generators) relative to the paper's generator
    at 256², as the compile time stays about the same while the saving per slice shrinks with the work."""
    parameters = sum(p.numel() for p in network.parameters()) if isinstance(network, torch.nn.Module) else 0
    if parameters == 0:
        return COMPILE_MIN_SLICES
    work = parameters / _PAPER_PARAMETERS * (image_size / 256) ** 2
    return max(1, round(COMPILE_MIN_SLICES / work))


#: How far mixed-precision output may be from float32 on [-1, 1]: mean and max absolute difference over the whole
#: image, asserted for a tiny random generator (``tests/inference/test_fast_paths.py``) and for the shipped model
#: on a CT volume (``tests/bundle/test_shipped_model.py``); 2/255 is one grey level of an 8-bit export.
AMP_TOLERANCE = {"mean": 2 / 255, "max": 0.25}


def fit_size(shape: tuple[int, int], image_size: int) -> tuple[int, int]:
    """The in-plane size that fits ``shape`` into ``image_size`` with its aspect ratio (longest side = size)."""
    scale = image_size / max(shape)
    return tuple(max(1, min(image_size, round(s * scale))) for s in shape)  # type: ignore[return-value]


class OnnxRuntimeNetwork:
    """A 2D network exported to ONNX (batch axis dynamic) and run by ONNX Runtime on the CPU; tensor in, tensor out.

    The export uses PyTorch's TorchScript-based exporter (``dynamo=False``: ~2 s for the paper's generator, against
    5-15 s for the dynamo exporter) and keeps the model in memory. Outputs agree with eager fp32 to ~1e-5
    (``tests/inference/test_fast_paths.py`` asserts 1e-4).

    Args:
        network: the module to export (exported in eval mode, fp32, on the CPU).
        example: an input of the expected shape ``(B, C, H, W)``; B may differ at run time.
        threads: ONNX Runtime intra-op threads; defaults to ``torch.get_num_threads()``.

    Raises:
        ConfigError: ``onnxruntime`` is not installed.
    """

    def __init__(self, network: torch.nn.Module, example: torch.Tensor, threads: int | None = None) -> None:
        if not has_ort:
            raise ConfigError("backend", "onnxruntime is not installed (pip install 'medtranslate[onnx]')")
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # the exporter's notes on instance norm and constant folding
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                network.eval(),
                (example.float().cpu(),),
                buffer,
                dynamo=False,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(["y"], {"x": x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(out).to(x.device)


class SliceTranslator:
    """Apply a 2D image-to-image network to every axial slice of a volume (or to one 2D slice).

    A 2.5D network (``k`` input channels, :mod:`medtranslate.networks.kind`) sees each slice with its ``k // 2``
    neighbours on both sides as channels, the end slices repeated past the first and last (as in training), and
    predicts that slice; each slab is cropped to its head together. A 2D input is its own slab.

    Args:
        network: maps (B, k, S, S) in [-1, 1] to (B, 1, S, S) in [-1, 1] (``G_A`` for CT → MRI; ``k = 1`` for 2D).
        image_size: the side S the network was trained on.
        sw_batch_size: slices per forward pass.
        chunk_slices: axial slices resized and translated at a time (bounds the working memory).
        device: where the network runs; defaults to the network's device.
        amp: run the network under autocast in the device's native reduced precision; ``None`` (default) does
            so wherever there is one (see :func:`medtranslate.precision.autocast_dtype`), ``False`` keeps float32,
            ``True`` warns where there is none (and for ONNX Runtime, which runs float32).
        background: value used for padding, the background of the [-1, 1] scale.
        progress: show a progress bar over chunks.
        channels_last: feed the network NHWC batches and convert its parameters to ``channels_last`` in place;
            ``None`` chooses it on CUDA and for ``backend="compile"``, not for eager CPU (within noise there).
        head_crop: crop each slice to its head as in training (:func:`~medtranslate.transforms.head.crop_head`)
            and blank the output outside the head; ``False`` resizes the whole slice (aspect kept) and pads it, for
            inputs that are already training-sized crops (evaluation) or networks trained without the crop.
        backend: ``"auto"`` (``"compile"`` on a CPU with native bf16 once calls have seen ``compile_min_slices``
            slices, else ``"eager"``), ``"eager"`` (PyTorch as it is), ``"compile"`` (``torch.compile``, inductor
            with ``freezing=True``, static shapes, a copy of the weights in the device's native reduced precision
            when ``amp``: the first call compiles, again for a new batch size; eager with one warning where
            compiling is unavailable) or ``"onnxruntime"`` (CPU only, ``network`` must be a module, float32; see
            :class:`OnnxRuntimeNetwork`). Results agree with eager fp32 to 1e-4 in float32 and within
            :data:`AMP_TOLERANCE` in reduced precision (``tests/inference/test_fast_paths.py``).
        compile_min_slices: the ``"auto"`` threshold; default :func:`default_compile_min_slices` of the network (the
            paper's generator at 256²: :data:`COMPILE_MIN_SLICES`; the shipped ngf-32 model: ~4× that).

    Raises:
        ConfigError: an unknown ``backend``, ``"onnxruntime"`` off the CPU, for a non-module network or without
            ``onnxruntime`` installed.
    """

    def __init__(
        self,
        network: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
        image_size: int = 256,
        sw_batch_size: int = 8,
        chunk_slices: int = 32,
        device: torch.device | str | None = None,
        amp: bool | None = None,
        background: float = -1.0,
        progress: bool = False,
        channels_last: bool | None = None,
        backend: str = "auto",
        head_crop: bool = True,
        compile_min_slices: int | None = None,
    ) -> None:
        self.network = network
        #: adjacent slices the network sees (1: a 2D model)
        self.slab = kind_of_network(network).slab
        self.head_crop = head_crop
        self.image_size = image_size
        self.sw_batch_size = sw_batch_size
        self.chunk_slices = max(1, chunk_slices)
        if device is None and isinstance(network, torch.nn.Module):
            device = next(network.parameters()).device
        self.device = torch.device(device or "cpu")
        self.amp_dtype = autocast_dtype(self.device) if amp is not False and backend != "onnxruntime" else None
        self.amp = self.amp_dtype is not None
        if amp and not self.amp:
            warnings.warn(
                f"amp=True is ignored on {self.device} with backend {backend!r}: no native reduced precision "
                "(it would be emulated and slower than float32); running float32",
                stacklevel=2,
            )
        self.background = background
        self.progress = progress
        if backend not in BACKENDS:
            raise ConfigError("backend", f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if backend == "onnxruntime" and (self.device.type != "cpu" or not isinstance(network, torch.nn.Module)):
            raise ConfigError("backend", "onnxruntime runs a torch.nn.Module on the CPU only")
        if backend == "auto":
            native_cpu = self.device.type == "cpu" and self.amp_dtype == torch.bfloat16
            backend = "auto" if native_cpu and isinstance(network, torch.nn.Module) else "eager"
        self.backend = backend
        if compile_min_slices is None:
            compile_min_slices = default_compile_min_slices(network, image_size)
        self.compile_min_slices = compile_min_slices
        self._slices_seen = 0
        if channels_last is None:
            channels_last = self.device.type == "cuda" or backend == "compile"
        self.channels_last = channels_last and backend != "onnxruntime"  # ONNX Runtime picks its own layout
        if self.channels_last and isinstance(network, torch.nn.Module):
            network.to(memory_format=torch.channels_last)
        self._forward: Callable[[torch.Tensor], torch.Tensor] = network
        self._compiled: CompiledOrEager | None = None
        self.weight_dtype = torch.float32
        if backend == "compile":
            self._compile()
        elif backend == "onnxruntime":
            example = torch.zeros(sw_batch_size, self.slab, image_size, image_size)
            self._forward = OnnxRuntimeNetwork(network, example)
        self.inferer = SliceInferer(
            roi_size=(image_size, image_size), sw_batch_size=sw_batch_size, spatial_dim=2, progress=False
        )

    @property
    def active_backend(self) -> str:
        """What runs the network now: ``"compile"``, ``"eager"`` or ``"onnxruntime"`` (``"auto"`` resolved)."""
        if self._compiled is not None:
            return "compile" if self._compiled.compiled else "eager"
        return "onnxruntime" if self.backend == "onnxruntime" else "eager"

    def _compile(self) -> None:
        """Compile the network (once): channels_last, inductor freezing, weights in the native reduced precision."""
        network = self.network
        if isinstance(network, torch.nn.Module):
            if self.amp_dtype is not None:  # reduced-precision weights: no autocast casts left in the graph
                network = copy.deepcopy(network).to(self.amp_dtype)
                self.weight_dtype = self.amp_dtype
            network = network.eval().to(memory_format=torch.channels_last)
        self.channels_last = True
        self._compiled = CompiledOrEager(network, self.device, freezing=True, what="the generator")
        self._forward = self._compiled

    def _to_model(self, chunk: torch.Tensor) -> tuple[torch.Tensor, list[tuple[HeadBox, object]] | tuple[int, int]]:
        """(k, X, Y, z) slabs → (1, k, S, S, z): each cropped to its head and resized (or, without ``head_crop``,
        the whole slab resized keeping the aspect ratio and padded with background), and how to undo it."""
        slices = chunk.permute(3, 0, 1, 2)  # (z, k, X, Y)
        if self.head_crop:
            crops, heads = [], []
            for s in slices:
                crop, box, mask = crop_head(s, self.image_size, self.background)
                crops.append(crop)
                heads.append((box, mask))
            return torch.stack(crops).permute(1, 2, 3, 0)[None], heads
        fx, fy = fit_size(tuple(chunk.shape[1:3]), self.image_size)
        slices = resize_slices(slices, (fx, fy))
        px, py = self.image_size - fx, self.image_size - fy
        slices = F.pad(slices, (py // 2, py - py // 2, px // 2, px - px // 2), value=self.background)
        return slices.permute(1, 2, 3, 0)[None], (fx, fy)

    def _from_model(
        self, out: torch.Tensor, undo: list[tuple[HeadBox, object]] | tuple[int, int], shape: tuple[int, int]
    ) -> torch.Tensor:
        """(1, 1, S, S, z) → (1, X, Y, z): back onto each slice's grid (see :meth:`_to_model`)."""
        slices = out[0].permute(3, 0, 1, 2)  # (z, 1, S, S)
        if self.head_crop:
            back = [uncrop_head(s, box, mask, self.background) for s, (box, mask) in zip(slices, undo, strict=True)]
            return torch.stack(back).permute(1, 2, 3, 0)
        fx, fy = undo
        ox, oy = (self.image_size - fx) // 2, (self.image_size - fy) // 2
        return resize_slices(slices[..., ox : ox + fx, oy : oy + fy], shape).permute(1, 2, 3, 0)

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on one (B, 1, S, S) batch, in the chosen layout, precision and compiled form; float32 out."""
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        if self.weight_dtype != torch.float32:  # the compiled copy holds reduced-precision weights: no autocast
            return self._forward(batch.to(self.weight_dtype)).float().contiguous()
        precision = torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)
        with precision:
            out = self._forward(batch)
        return out.float().contiguous()

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Translate ``image``: (1, X, Y) or (1, X, Y, Z) in [-1, 1] → the same shape, metadata copied.

        Raises:
            DimensionError: the input is not one channel of 2 or 3 spatial dimensions, or is not finite.
        """
        source = getattr(image, "meta", {}).get("filename_or_obj", None)
        if image.ndim not in (3, 4) or image.shape[0] != 1:
            raise DimensionError(source, f"expected (1, X, Y[, Z]) one-channel image, got shape {tuple(image.shape)}")
        volume = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
        squeeze = volume.ndim == 3
        if squeeze:
            volume = volume[..., None]
        shape = tuple(volume.shape[1:3])
        depth = volume.shape[3]
        self._slices_seen += depth
        if self.backend == "auto" and self._compiled is None and self._slices_seen >= self.compile_min_slices:
            self._compile()
        result = torch.empty(volume.shape, dtype=torch.float32)
        starts = range(0, depth, self.chunk_slices)
        half = self.slab // 2
        for start in tqdm(starts, total=math.ceil(depth / self.chunk_slices), disable=not self.progress, unit="chunk"):
            centres = torch.arange(start, min(start + self.chunk_slices, depth))
            # (k, X, Y, z): slice z and its neighbours, the end slices repeated (k = 1: the chunk itself)
            chunk = torch.stack([volume[0][..., (centres + d).clamp(0, depth - 1)] for d in range(-half, half + 1)])
            model_in, undo = self._to_model(chunk.to(self.device, torch.float32))
            out = self.inferer(model_in, self._run)
            result[..., start : start + len(centres)] = self._from_model(out, undo, shape).cpu()
        result = result[..., 0] if squeeze else result
        if isinstance(image, MetaTensor):
            result = MetaTensor(result, meta=dict(image.meta), applied_operations=list(image.applied_operations))
        return result


def make_translator(
    network: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    image_size: int = 256,
    sw_batch_size: int = 8,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    progress: bool = False,
    spacing: float | None = None,
    **options: Any,
) -> Any:
    """The translator for ``network``'s kind (:mod:`medtranslate.networks.kind`): a :class:`SliceTranslator` for 2D
    and 2.5D models, a :class:`~medtranslate.inference.sliding.VolumeTranslator` (sliding 3D patches with Gaussian
    blending) for 3D ones. Both map a windowed ``(1, X, Y, Z)`` CT on [-1, 1] to the synthetic MRI on its grid.

    Args:
        network: the generator (``G_A``).
        image_size: the side of the training slices (2D, 2.5D) or patches (3D).
        sw_batch_size: slices or patches per forward pass.
        device: where the network runs; default the network's device.
        amp: mixed precision (see :class:`SliceTranslator`).
        progress: show a progress bar.
        spacing: a 3D model's isotropic voxel size in mm (the training resampling); ``None``: the translator's
            default. Not used by 2D and 2.5D models, which see each slice at the training slice size.
        options: further arguments of the chosen translator (e.g. ``backend``, ``head_crop`` for slices).
    """
    if kind_of_network(network).spatial_dims == 3:
        from medtranslate.inference.sliding import VolumeTranslator  # here: sliding imports this module

        extra = {} if spacing is None else {"spacing": spacing}
        return VolumeTranslator(
            network,
            patch_size=image_size,
            sw_batch_size=sw_batch_size,
            device=device,
            amp=amp,
            progress=progress,
            **extra,
            **options,
        )
    return SliceTranslator(
        network,
        image_size=image_size,
        sw_batch_size=sw_batch_size,
        device=device,
        amp=amp,
        progress=progress,
        **options,
    )
