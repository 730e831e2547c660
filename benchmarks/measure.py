"""Measurements behind ``python -m benchmarks``: every figure is a ratio against a baseline timed in the same run.

* **Limit.** The machine's own throughput, measured here: a 3×3 convolution on 256 channels at 64² (the
  ResNet generator's bottleneck conv) and a square fp32 matmul, in GFLOP/s; where the CPU has native bf16
  (:func:`medtranslate.precision.autocast_dtype`) the same conv under bf16 autocast too. A workload's *compute
  bound* is its FLOPs (``torch.utils.flop_counter.FlopCounterMode``) ÷ the conv throughput *of its precision*
  (fp32 rows against the fp32 conv, bf16 rows against the bf16 conv); "of limit" is that bound ÷ the measured
  time (1.0 = running at the conv's speed).
* **Inference.** :func:`benchmarks.reference.reference_test_loop` (eager fp32, one slice at a time) against
  :class:`medtranslate.inference.SliceTranslator` with each of its backends, on one
  ``S×S×N`` volume (in-plane size = model size, so neither side resamples).
* **Training.** :func:`benchmarks.reference.reference_train_loop` against ``CycleGANTrainer`` iterations on
  the same in-memory batches, same initial weights; the engine's data wait is measured on the real
  ``train_dataset`` (MONAI ``CacheDataset``, phantom volumes) through Ignite's ``GET_BATCH`` events.
* **Memory.** Peak resident memory of a fresh subprocess (``benchmarks.memory``) above its footprint after
  imports and model construction.
* **Model kinds.** 2.5D and 3D against 2D in the same run (section ``kinds``, the bundle recipes' sizes): a
  ``CycleGANTrainer`` iteration on 2D crops, on 2.5D slabs of ``2k - 1`` slices (generators with ``k`` input
  channels) and on 3D patches (``spatial_dims=3`` networks), each ÷ the 2D iteration; one CT volume through
  :func:`medtranslate.inference.translate_image` with :func:`medtranslate.inference.make_translator`'s translator
  of each kind, ÷ the 2D model's; and (CPU) the peak memory of that translation as a multiple of the volume.

Variants and baseline are timed round-robin (each repeat runs every variant once) and the median is kept, so
slow drifts of the machine hit all of them alike.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.reference import reference_test_loop, reference_train_loop
from medtranslate.precision import autocast_dtype

if TYPE_CHECKING:
    from medtranslate.engines import CycleGANTrainer

__all__ = [
    "FULL",
    "MICRO",
    "QUICK",
    "SECTIONS",
    "BenchConfig",
    "KindBench",
    "bench_command",
    "bench_inference",
    "bench_kinds",
    "bench_memory",
    "bench_training",
    "count_flops",
    "cyclegan_networks",
    "machine_limits",
    "make_trainer",
    "precision_limits",
    "run_benchmarks",
]


@dataclass(frozen=True)
class KindBench:
    """The 2D / 2.5D / 3D comparison (section ``kinds``); defaults are the bundle recipes'.

    Args:
        slab: the 2.5D model's ``k`` (train_2p5d.json: 3).
        train_size: side of the 2D crops and 2.5D slabs (train.json: 64).
        train_batch: their batch (train.json: 4).
        ngf: 2D/2.5D training generator width (train.json: 16).
        ndf: 2D/2.5D discriminator width (train.json: 32).
        patch: side of the 3D training patches (train_3d.json: 32).
        patch_batch: 3D batch (train_3d.json: 2).
        ngf_3d: 3D generator width (train_3d.json / inference_3d.json: 16).
        ndf_3d: 3D discriminator width (train_3d.json: 16).
        n_blocks_3d: 3D residual blocks (train_3d.json: 3).
        iterations: timed training iterations per kind (after one warm-up).
        repeats: round-robin repeats of the training and translation rows (median kept).
        volume: ``(X, Y, Z)`` of the phantom CT translated per kind.
        spacing: its voxel size in mm.
        image_size: the 2D/2.5D models' slice size (inference.json: 256).
        infer_ngf: 2D/2.5D inference generator width (inference.json: 32; 6 blocks).
        spacing_3d: the 3D model's voxel size (inference_3d.json: 2 mm).
        memory: the kinds whose translation's peak memory is measured in a subprocess (CPU only).
    """

    slab: int = 3
    train_size: int = 64
    train_batch: int = 4
    ngf: int = 16
    ndf: int = 32
    patch: int = 32
    patch_batch: int = 2
    ngf_3d: int = 16
    ndf_3d: int = 16
    n_blocks_3d: int = 3
    iterations: int = 3
    repeats: int = 1
    volume: tuple[int, int, int] = (256, 256, 24)
    spacing: tuple[float, float, float] = (0.9, 0.9, 2.5)
    image_size: int = 256
    infer_ngf: int = 32
    spacing_3d: float = 2.0
    memory: tuple[str, ...] = ("2d", "2.5d", "3d")


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run measures.

    Args:
        name: label printed with the table.
        image_size: model side S of the inference volume (S×S×``slices``).
        slices: slices of the inference volume.
        ngf: generator width for inference (64 = the paper's).
        n_blocks: residual blocks of the inference generator.
        repeats: round-robin repeats of the inference variants (median kept).
        train_repeats: round-robin repeats of the training variants (median kept).
        compile: include the ``torch.compile`` (freezing) translation variants; compile time reported separately.
        train_compile: include the compiled training fast path (1-2 minutes of compiling per repeat).
        compile_fp32: include the compiled float32 translation (~30 s of compiling) also where a reduced
            precision is measured (it always runs where none is).
        onnx: include the ONNX Runtime variant.
        train_size: side of the training crops.
        train_batch: training batch size.
        train_ngf: training generator width.
        train_ndf: training discriminator width.
        train_iterations: timed iterations per training variant (after one warm-up iteration).
        data_wait_iterations: iterations of the engine on the real phantom ``train_dataset`` (0 skips).
        memory_shape: volume translated in the memory subprocesses (None skips).
        memory_ngf: generator width in the memory subprocesses.
        memory_translate: ``(backend, batch)`` of each ``SliceTranslator`` whose translation memory is measured.
        train_memory: ``(size, batch, ngf, ndf)`` cases of the training memory subprocess.
        device: where everything runs (``"cpu"`` or ``"cuda"``); limits are measured on it.
        command_volumes: ``(count, X, Y, Z)`` phantom CT volumes translated by the whole ``medtranslate translate``
            command in the ``command`` section (``None`` skips it).
        kinds: the 2D / 2.5D / 3D comparison of the ``kinds`` section (``None`` skips it).
    """

    name: str
    image_size: int = 256
    slices: int = 8
    ngf: int = 64
    n_blocks: int = 6
    repeats: int = 2
    train_repeats: int = 3
    compile: bool = True
    train_compile: bool = False
    compile_fp32: bool = True
    onnx: bool = True
    train_size: int = 64
    train_batch: int = 4
    train_ngf: int = 16
    train_ndf: int = 32
    train_iterations: int = 5
    data_wait_iterations: int = 10
    memory_shape: tuple[int, int, int] | None = (512, 512, 300)
    memory_ngf: int = 8
    memory_translate: tuple[tuple[str, int], ...] = (("eager", 8),)
    train_memory: tuple[tuple[int, int, int, int], ...] = field(default_factory=tuple)
    device: str = "cpu"
    command_volumes: tuple[int, int, int, int] | None = None
    kinds: KindBench | None = KindBench()


#: seconds-scale configuration for tests (structure only, numbers meaningless)
MICRO = BenchConfig(
    "micro",
    image_size=32,
    slices=2,
    ngf=4,
    n_blocks=1,
    repeats=1,
    train_repeats=1,
    compile=False,
    onnx=True,
    train_size=32,
    train_batch=2,
    train_ngf=4,
    train_ndf=4,
    train_iterations=1,
    data_wait_iterations=0,
    memory_shape=(64, 64, 4),
    memory_ngf=4,
    train_memory=((32, 2, 4, 4),),
    command_volumes=(1, 64, 64, 3),
    kinds=KindBench(
        train_size=32,
        train_batch=1,
        ngf=2,
        ndf=2,
        patch=32,
        patch_batch=1,
        ngf_3d=2,
        ndf_3d=2,
        n_blocks_3d=1,
        iterations=1,
        volume=(32, 32, 6),
        spacing=(2.0, 2.0, 3.0),
        image_size=32,
        infer_ngf=2,
        memory=(),
    ),
)
#: ``--quick``: the paper's generator on a 256×256×4 volume; the bundle's default training recipe (64², batch 4)
QUICK = BenchConfig(
    "quick",
    image_size=256,
    slices=4,
    ngf=64,
    n_blocks=6,
    repeats=2,
    compile_fp32=False,
    train_iterations=3,
    data_wait_iterations=8,
    memory_shape=(512, 512, 300),
    memory_ngf=8,
    memory_translate=(("eager", 1),),
    train_memory=((64, 4, 16, 32),),
    command_volumes=(1, 512, 512, 24),
    # within the 3 minutes: one 3D patch per batch, 8 slices at 128², the 3D translation's memory only (2D and 2.5D
    # share the SliceTranslator measured above)
    kinds=KindBench(
        iterations=1, patch_batch=1, volume=(96, 96, 8), spacing=(2.4, 2.4, 3.0), image_size=128, memory=("3d",)
    ),
)
#: full mode: the paper's generator on 256×256×48, the paper's training size with ngf 64
FULL = BenchConfig(
    "full",
    image_size=256,
    slices=48,
    train_compile=True,
    ngf=64,
    n_blocks=6,
    repeats=1,
    train_repeats=1,
    train_size=256,
    train_batch=1,
    train_ngf=64,
    train_ndf=64,
    train_iterations=3,
    data_wait_iterations=20,
    memory_shape=(512, 512, 300),
    memory_ngf=64,
    memory_translate=(("eager", 8), ("eager", 1), ("onnxruntime", 1)),
    train_memory=((64, 4, 16, 32), (128, 4, 16, 32), (256, 1, 64, 64), (256, 4, 64, 64)),
    command_volumes=(3, 512, 512, 96),
    kinds=KindBench(volume=(512, 512, 48), spacing=(0.45, 0.45, 2.5)),
)


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn: Callable[[], Any], repeats: int, device: str = "cpu") -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()`` as ``FlopCounterMode`` counts them (2 per multiply-add; forward and backward)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def _autocast(fn: Callable[[], Any], device: str, dtype: torch.dtype) -> Callable[[], Any]:
    def run() -> Any:
        with torch.autocast(torch.device(device).type, dtype=dtype):
            return fn()

    return run


#: the short names of reduced precisions in row names, keys and ``precision_limits``
_SHORT = {torch.bfloat16: "bf16", torch.float16: "fp16"}


def machine_limits(repeats: int = 5, device: str = "cpu") -> dict[str, float]:
    """The device's best GFLOP/s (of ``repeats``) on a 3×3 conv (256 → 256 channels, 64², batch 1; batch 16 on
    CUDA, which one image cannot fill) in the default (NCHW) and the ``channels_last`` layout, fp32 and the
    device's native reduced precision (:func:`medtranslate.precision.autocast_dtype`: bf16 on a CPU with bf16
    instructions, bf16/fp16 on CUDA) under autocast, and on a 2048² fp32 matmul. The larger conv figure of each
    precision is its limit."""
    batch = 16 if torch.device(device).type == "cuda" else 1
    conv = nn.Conv2d(256, 256, 3, padding=1).eval().to(device)
    x = torch.randn(batch, 256, 64, 64, device=device)
    conv_nhwc = copy.deepcopy(conv).to(memory_format=torch.channels_last)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    out = {}
    with torch.inference_mode():
        conv_flops = count_flops(lambda: conv(x))
        cases = [
            ("conv3x3_256_gflops", lambda: conv(x), conv_flops),
            ("conv3x3_256_channels_last_gflops", lambda: conv_nhwc(x_nhwc), conv_flops),
            ("matmul_gflops", lambda: torch.mm(a, b), 2 * 2048**3),
        ]
        dtype = autocast_dtype(device)
        if dtype is not None:
            short = _SHORT[dtype]
            cases += [
                (f"conv3x3_256_{short}_gflops", _autocast(lambda: conv(x), device, dtype), conv_flops),
                (
                    f"conv3x3_256_channels_last_{short}_gflops",
                    _autocast(lambda: conv_nhwc(x_nhwc), device, dtype),
                    conv_flops,
                ),
            ]
        for key, fn, flops in cases:
            fn()
            out[key] = flops / min(_median_time(fn, 1, device) for _ in range(repeats)) / 1e9
    return out


def precision_limits(limits: dict[str, float]) -> dict[str, float]:
    """``{"fp32": GFLOP/s, "bf16" or "fp16": GFLOP/s}`` from :func:`machine_limits` (reduced only where measured)."""
    out = {"fp32": max(limits["conv3x3_256_gflops"], limits["conv3x3_256_channels_last_gflops"])}
    for short in _SHORT.values():
        if f"conv3x3_256_{short}_gflops" in limits:
            out[short] = max(limits[f"conv3x3_256_{short}_gflops"], limits[f"conv3x3_256_channels_last_{short}_gflops"])
    return out


def _generator(ngf: int, n_blocks: int, seed: int = 0) -> nn.Module:
    from medtranslate.networks import build_generator

    return build_generator("resnet", seed=seed, channels=ngf, num_res_blocks=n_blocks).eval()


def _row(name: str, seconds: float, base_seconds: float, flops: int, limits: dict[str, float], **extra: Any) -> dict:
    """One table row; a name containing "bf16"/"fp16" is held against that precision's limit, others against fp32's."""
    precision = next((short for short in _SHORT.values() if short in name), "fp32")
    bound = flops / (limits[precision] * 1e9)
    return {
        "name": name,
        "seconds": seconds,
        "vs_baseline": base_seconds / seconds,
        "compute_bound_s": bound,
        "of_limit": bound / seconds,
        "precision": precision,
        **extra,
    }


def _reduced(limits: dict[str, float]) -> str | None:
    """The short name of the measured reduced precision (``"bf16"``/``"fp16"``), if any."""
    return next((short for short in _SHORT.values() if short in limits), None)


def bench_inference(config: BenchConfig, limits: dict[str, float]) -> list[dict]:
    """Rows for the volume translation variants; the first row is the baseline (ratio 1)."""
    from medtranslate.inference import SliceTranslator

    torch.manual_seed(0)
    device, cuda = config.device, torch.device(config.device).type == "cuda"
    size, n = config.image_size, config.slices
    volume = torch.rand(1, size, size, n) * 2 - 1
    slices = volume.permute(3, 0, 1, 2).contiguous().to(device)  # the baseline gets the same slices, model-sized
    net = _generator(config.ngf, config.n_blocks).to(device)
    with torch.inference_mode():
        flops = count_flops(lambda: net(slices[:1])) * n
    variants: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
        "reference loop (eager fp32, 1 slice)": lambda _, s: reference_test_loop(net, s)
    }
    fp32 = {"device": device, "amp": False, "backend": "eager"}
    big = min(8, n)
    translators = {
        "SliceTranslator eager fp32, batch 1": SliceTranslator(copy.deepcopy(net), size, sw_batch_size=1, **fp32),
        f"SliceTranslator eager fp32, batch {big}": SliceTranslator(copy.deepcopy(net), size, sw_batch_size=8, **fp32),
        "SliceTranslator eager fp32 channels_last, batch 1": SliceTranslator(
            copy.deepcopy(net), size, sw_batch_size=1, channels_last=True, **fp32
        ),
    }
    reduced = _reduced(limits)
    if reduced is not None:  # eager autocast in the device's native reduced precision
        for batch in (1, big):
            name = f"SliceTranslator eager {reduced} autocast, batch {batch}"
            translators[name] = SliceTranslator(
                copy.deepcopy(net), size, sw_batch_size=batch, device=device, backend="eager"
            )
        name = f"SliceTranslator eager {reduced} autocast channels_last, batch 1"
        translators[name] = SliceTranslator(
            copy.deepcopy(net), size, sw_batch_size=1, device=device, channels_last=True, backend="eager"
        )
    compiled: list[str] = []
    if config.compile:
        batches = (1, big) if cuda else (1,)
        for batch in batches:
            if config.compile_fp32 or reduced is None:
                compiled.append(f"SliceTranslator compile fp32 (freezing, channels_last), batch {batch}")
                translators[compiled[-1]] = SliceTranslator(
                    copy.deepcopy(net), size, sw_batch_size=batch, **{**fp32, "backend": "compile"}
                )
            if reduced is not None:  # what backend="auto" runs on a CPU with native bf16 (after 128 slices)
                compiled.append(f"SliceTranslator compile {reduced} weights (freezing, channels_last), batch {batch}")
                translators[compiled[-1]] = SliceTranslator(
                    copy.deepcopy(net), size, sw_batch_size=batch, device=device, backend="compile"
                )
    extra: dict[str, dict] = {}
    for name in compiled:
        start = time.perf_counter()
        translators[name](volume[..., :big])  # compiles for the batch (and for the last, smaller one)
        extra[name] = {"setup_s": time.perf_counter() - start}
    if config.onnx and not cuda:
        name = "SliceTranslator onnxruntime, batch 1"
        start = time.perf_counter()
        translators[name] = SliceTranslator(net, size, sw_batch_size=1, device=device, backend="onnxruntime")
        extra[name] = {"setup_s": time.perf_counter() - start}
        name = f"SliceTranslator onnxruntime, batch {big}"
        translators[name] = SliceTranslator(net, size, sw_batch_size=8, device=device, backend="onnxruntime")
    for name, translator in translators.items():
        variants[name] = lambda v, _, t=translator: t(v)
    for fn in variants.values():  # warm-up on one slice: first-call allocations, oneDNN primitive caches
        fn(volume[..., :1], slices[:1])
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(config.repeats):
        for name, fn in variants.items():
            times[name].append(_median_time(lambda f=fn: f(volume, slices), 1, device))
    base = statistics.median(times[next(iter(variants))])
    return [_row(name, statistics.median(t), base, flops, limits, **extra.get(name, {})) for name, t in times.items()]


def _train_batches(config: BenchConfig, count: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    shape = (config.train_batch, 1, config.train_size, config.train_size)
    return [
        {
            "ct": (torch.rand(shape, generator=g) * 2 - 1).to(config.device),
            "mri": (torch.rand(shape, generator=g) * 2 - 1).to(config.device),
        }
        for _ in range(count)
    ]


def cyclegan_networks(
    ngf: int, ndf: int, device: str = "cpu", n_blocks: int = 6, spatial_dims: int = 2, slab: int = 1
) -> tuple[nn.Module, ...]:
    """Seeded ``G_A, G_B, D_A, D_B`` (ResNet generators) as every training benchmark builds them; ``slab``: the
    generators' input slices (a 2.5D model's ``k``), ``spatial_dims=3``: all four networks 3D."""
    from medtranslate.networks import build_discriminator, build_generator

    kw = {"channels": ngf, "num_res_blocks": n_blocks, "spatial_dims": spatial_dims, "in_channels": slab}
    return (
        build_generator("resnet", seed=0, **kw).to(device),
        build_generator("resnet", seed=1, **kw).to(device),
        build_discriminator(spatial_dims=spatial_dims, channels=ndf, seed=2).to(device),
        build_discriminator(spatial_dims=spatial_dims, channels=ndf, seed=3).to(device),
    )


def make_trainer(
    nets: tuple[nn.Module, ...],
    loader: Any,
    adam: dict[str, Any] | None = None,
    epoch_length: int | None = None,
    device: str = "cpu",
    **fast: Any,
) -> CycleGANTrainer:
    """The benchmarks' ``CycleGANTrainer``: Adam 2e-4, β (0.5, 0.999) (+ ``adam``), no identity loss unless
    ``fast`` says ``lambda_identity``; ``fast``: further trainer arguments (``amp``, ``compile``, ``channels_last``)."""
    from medtranslate.engines import CycleGANTrainer

    g_a, g_b, d_a, d_b = nets
    kw = {"lr": 2e-4, "betas": (0.5, 0.999), **(adam or {})}
    return CycleGANTrainer(
        device=device,
        max_epochs=1,
        train_data_loader=loader,
        epoch_length=epoch_length,
        g_a=g_a,
        g_b=g_b,
        d_a=d_a,
        d_b=d_b,
        g_optimizer=torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], **kw),
        d_optimizer=torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], **kw),
        **{"lambda_identity": 0.0, **fast},
    )


def _engine_seconds(
    nets: tuple[nn.Module, ...],
    batches: list[dict],
    adam: dict[str, Any],
    loader: Any = None,
    iterations: int = 0,
    device: str = "cpu",
    warmup: int = 1,
    **fast: Any,
) -> dict[str, float]:
    """Seconds per engine iteration after the first ``warmup`` ones (which also compile), the mean data wait per
    iteration, and the seconds the warm-up iterations took (``setup_s``, where more than one)."""
    from ignite.engine import Events

    data = batches if loader is None else loader
    length = iterations or len(batches)
    trainer = make_trainer(nets, data, adam, epoch_length=length, device=device, **fast)
    marks: dict[str, list[float]] = {"done": [], "wait": []}
    started: list[float] = []

    def done(_: Any) -> None:
        _sync(device)
        marks["done"].append(time.perf_counter())

    trainer.add_event_handler(Events.ITERATION_COMPLETED, done)
    trainer.add_event_handler(Events.GET_BATCH_STARTED, lambda _: started.append(time.perf_counter()))
    trainer.add_event_handler(
        Events.GET_BATCH_COMPLETED, lambda _: marks["wait"].append(time.perf_counter() - started[-1])
    )
    start = time.perf_counter()
    trainer.run()
    stamps = marks["done"]
    out = {
        "seconds": (stamps[-1] - stamps[warmup - 1]) / (len(stamps) - warmup),
        "data_wait_s": statistics.mean(marks["wait"][warmup:]),
    }
    if warmup > 1:
        out["setup_s"] = stamps[warmup - 1] - start
    return out


def bench_training(config: BenchConfig, limits: dict[str, float]) -> list[dict]:
    """Rows for one CycleGAN iteration: the reference loop (baseline), the engine with Adam variants, layouts,
    the native reduced precision and the compiled fast path."""
    torch.manual_seed(0)
    device = config.device
    n = config.train_iterations + 1
    batches = _train_batches(config, n)
    initial = cyclegan_networks(config.train_ngf, config.train_ndf, device)

    def fresh() -> tuple[nn.Module, ...]:
        return tuple(copy.deepcopy(net) for net in initial)

    def reference() -> float:
        pairs: Iterator = iter([(b["ct"], b["mri"]) for b in batches])
        nets = fresh()
        reference_train_loop(pairs, 1, *nets)  # warm-up iteration, as the engine's first is not timed
        _sync(device)
        start = time.perf_counter()
        reference_train_loop(pairs, n - 1, *nets)
        _sync(device)
        return (time.perf_counter() - start) / (n - 1)

    flops_nets = fresh()
    flops = count_flops(lambda: reference_train_loop(iter([(batches[0]["ct"], batches[0]["mri"])]), 1, *flops_nets))
    on = {"device": device}
    variants: dict[str, Callable[[], dict[str, float]]] = {
        "reference loop (eager fp32)": lambda: {"seconds": reference()},
        "CycleGANTrainer, Adam default (train.json)": lambda: _engine_seconds(fresh(), batches, {}, **on),
        "CycleGANTrainer, Adam foreach=True": lambda: _engine_seconds(fresh(), batches, {"foreach": True}, **on),
        "CycleGANTrainer, Adam fused=True": lambda: _engine_seconds(fresh(), batches, {"fused": True}, **on),
        "CycleGANTrainer, channels_last": lambda: _engine_seconds(fresh(), batches, {}, channels_last=True, **on),
    }
    reduced = _reduced(limits)
    if reduced is not None:  # --amp True where the device has a native reduced precision
        variants[f"CycleGANTrainer, {reduced} autocast (amp=True)"] = lambda: _engine_seconds(
            fresh(), batches, {}, amp=True, **on
        )
        variants[f"CycleGANTrainer, {reduced} autocast, channels_last"] = lambda: _engine_seconds(
            fresh(), batches, {}, amp=True, channels_last=True, **on
        )
    if config.train_compile:
        fast = {"amp": reduced is not None, "channels_last": True, "compile": True}
        name = f"CycleGANTrainer fast path: compile, {reduced or 'fp32'}, channels_last, fused Adam"
        # 3 warm-up iterations: the compiles (generator step, the discriminators with and without gradients)
        variants[name] = lambda: _engine_seconds(
            fresh(), [*batches[:2], *batches], {"fused": True}, warmup=3, **fast, **on
        )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(config.train_repeats):
        for name, fn in variants.items():
            results[name].append(fn())
    base = statistics.median(r["seconds"] for r in results["reference loop (eager fp32)"])
    rows = []
    for name, runs in results.items():
        extra = {key: statistics.median(r[key] for r in runs) for key in ("data_wait_s", "setup_s") if key in runs[0]}
        rows.append(_row(name, statistics.median(r["seconds"] for r in runs), base, flops, limits, **extra))
    if config.data_wait_iterations:
        for workers in (0, 1):
            rows.append(_data_wait_row(config, initial, base, flops, limits, workers))
    return rows


def _data_wait_row(
    config: BenchConfig, initial: tuple[nn.Module, ...], base: float, flops: int, limits: dict[str, float], workers: int
) -> dict:
    """The engine fed by the bundle's data pipeline (phantom volumes, ``CacheDataset``) with ``workers`` workers."""
    from monai.data import DataLoader
    from monai.utils import set_determinism

    from medtranslate.data.loaders import resolve_dataset, train_dataset

    set_determinism(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = resolve_dataset("", Path(tmp) / "phantom", n_unpaired=4, n_paired=1)
        dataset = train_dataset(
            root,
            image_size=config.train_size,
            window="head",
            length=config.train_batch * (config.data_wait_iterations + 1),
        )
        loader = DataLoader(dataset, batch_size=config.train_batch, shuffle=True, drop_last=True, num_workers=workers)
        reduced = _reduced(limits)
        out = _engine_seconds(
            tuple(copy.deepcopy(n) for n in initial),
            [],
            {},
            loader=loader,
            iterations=config.data_wait_iterations,
            device=config.device,
            amp=reduced is not None,  # train.json's default where the device has it natively
        )
    set_determinism(None)
    precision = f"{reduced} autocast" if reduced else "fp32"
    name = f"CycleGANTrainer ({precision}) on train_dataset (phantom, CacheDataset, num_workers={workers})"
    return _row(name, out["seconds"], base, flops, limits, data_wait_s=out["data_wait_s"])


def _write_ct_volumes(folder: Path, count: int, shape: tuple[int, int, int]) -> None:
    """``count`` phantom head CTs of ``shape`` (0.45 mm in-plane, 2.5 mm slices, int16 HU) as ``.nii.gz``."""
    import nibabel as nib
    import numpy as np

    from medtranslate.data.phantom import make_subject

    folder.mkdir(parents=True)
    for i in range(count):
        subject = make_subject(100 + i, shape=shape, spacing=(0.45, 0.45, 2.5), lesions=False)
        nib.save(nib.Nifti1Image(np.round(subject.ct_hu).astype(np.int16), subject.affine), folder / f"ct{i}.nii.gz")


def bench_command(config: BenchConfig, limits: dict[str, float]) -> list[dict]:
    """The whole ``medtranslate translate FOLDER -o OUT --export nifti`` (a fresh process: start-up, reading,
    head crop, network, writing) against the baseline: the same network and weights (the bundle's) run as a plain
    eager fp32 loop over as many model-sized slices, one at a time; and ``medtranslate --help``'s start-up."""
    from medtranslate.inference import load_generator
    from medtranslate.inference.bundle import read_inference_settings

    count, x, y, z = config.command_volumes or (0, 0, 0, 0)
    settings = read_inference_settings(None, None, {"device": config.device})
    network = load_generator(settings.ckpt_path, settings.network, settings.device)
    size = settings.image_size
    slices = (torch.rand(count * z, 1, size, size) * 2 - 1).to(config.device)
    with torch.inference_mode():
        flops = count_flops(lambda: network(slices[:1])) * count * z
    reference_test_loop(network, slices[:1])  # warm-up
    _sync(config.device)
    start = time.perf_counter()
    reference_test_loop(network, slices)
    _sync(config.device)
    base = time.perf_counter() - start
    command = [sys.executable, "-m", "medtranslate.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        _write_ct_volumes(Path(tmp) / "ct", count, (x, y, z))
        start = time.perf_counter()
        subprocess.run([*command, "--help"], check=True, capture_output=True)
        help_s = time.perf_counter() - start
        args = [*command, "translate", str(Path(tmp) / "ct"), "-o", str(Path(tmp) / "out"), "--export", "nifti"]
        start = time.perf_counter()
        done = subprocess.run([*args, "--device", config.device], capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"medtranslate translate failed:\n{done.stderr[-2000:]}")
    what = f"{count} CT volume(s) of {x}×{y}×{z}"
    return [
        _row(f"plain eager fp32 slice loop, {count * z} slices at {size}²", base, base, flops, limits),
        _row(f"`medtranslate translate` on {what}, all included (default path)", seconds, base, flops, limits),
        {"name": "`medtranslate --help` (a fresh process)", "seconds": help_s},
    ]


def _subprocess(args: list[str]) -> dict:
    root = str(Path(__file__).resolve().parents[1])  # benchmarks/ is not installed: run it from the checkout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.memory", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmarks.memory {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(config: BenchConfig) -> list[dict]:
    """Peak RSS above the process's footprint with its model built: volume translation and training cases."""
    rows = []
    if config.memory_shape is not None:
        x, y, z = config.memory_shape
        for backend, batch in config.memory_translate:
            args = ["translate", str(x), str(y), str(z), "--ngf", str(config.memory_ngf), "--batch", str(batch)]
            rows.append(_subprocess([*args, "--backend", backend]))
    for size, batch, ngf, ndf in config.train_memory:
        rows.append(_subprocess(["train", str(size), str(batch), "--ngf", str(ngf), "--ndf", str(ndf)]))
    return rows


def _kind_training(kinds: KindBench, device: str) -> dict[str, tuple[tuple[nn.Module, ...], list[dict]]]:
    """Networks and batches of one training iteration per kind: 2D crops ``(B, 1, S, S)``, 2.5D slabs
    ``(B, 2k - 1, S, S)`` for ``k``-channel generators, 3D patches ``(B, 1, P, P, P)``."""
    g = torch.Generator().manual_seed(1)

    def batches(*shape: int) -> list[dict]:
        return [
            {d: (torch.rand(shape, generator=g) * 2 - 1).to(device) for d in ("ct", "mri")}
            for _ in range(kinds.iterations + 1)
        ]

    s, b, p, k = kinds.train_size, kinds.train_batch, kinds.patch, kinds.slab
    return {
        f"2D, {s}² crops, batch {b} (ngf {kinds.ngf}, ndf {kinds.ndf}, 6 blocks; train.json)": (
            cyclegan_networks(kinds.ngf, kinds.ndf, device),
            batches(b, 1, s, s),
        ),
        f"2.5D, slab {k} ({2 * k - 1}-slice slabs of {s}²), batch {b} (train_2p5d.json)": (
            cyclegan_networks(kinds.ngf, kinds.ndf, device, slab=k),
            batches(b, 2 * k - 1, s, s),
        ),
        f"3D, {p}³ patches, batch {kinds.patch_batch} (ngf {kinds.ngf_3d}, ndf {kinds.ndf_3d}, "
        f"{kinds.n_blocks_3d} blocks; train_3d.json)": (
            cyclegan_networks(kinds.ngf_3d, kinds.ndf_3d, device, n_blocks=kinds.n_blocks_3d, spatial_dims=3),
            batches(kinds.patch_batch, 1, p, p, p),
        ),
    }


def kind_generator(kind: str, kinds: KindBench) -> nn.Module:
    """The inference generator of ``kind`` (``"2d"``, ``"2.5d"``, ``"3d"``) at the bundle's inference sizes."""
    from medtranslate.networks import build_generator

    if kind == "3d":
        kw = {"spatial_dims": 3, "channels": kinds.ngf_3d, "num_res_blocks": kinds.n_blocks_3d}
    else:
        kw = {"in_channels": kinds.slab if kind == "2.5d" else 1, "channels": kinds.infer_ngf, "num_res_blocks": 6}
    return build_generator("resnet", seed=0, **kw).eval()


def kind_translator(kind: str, kinds: KindBench, device: str = "cpu") -> Any:
    """``make_translator`` of :func:`kind_generator` (float32, eager): what ``translate`` runs for that kind."""
    from medtranslate.inference import make_translator

    network = kind_generator(kind, kinds).to(device)
    options = {} if kind == "3d" else {"backend": "eager", "sw_batch_size": 1}
    size = kinds.patch if kind == "3d" else kinds.image_size
    return make_translator(network, image_size=size, device=device, amp=False, spacing=kinds.spacing_3d, **options)


def phantom_ct(shape: tuple[int, int, int], spacing: tuple[float, float, float], seed: int = 100) -> tuple[Any, Any]:
    """A phantom head CT: its HU as an int16 array ``(X, Y, Z)`` and its affine (see :func:`ct_image`)."""
    import numpy as np

    from medtranslate.data.phantom import make_subject

    subject = make_subject(seed, shape=shape, spacing=spacing, lesions=False)
    return np.round(subject.ct_hu).astype(np.int16), subject.affine


def ct_image(hu: Any, affine: Any) -> Any:
    """The float32 ``(1, X, Y, Z)`` MetaTensor with its affine that ``LoadMedicalImage`` would give for ``hu``."""
    from monai.data import MetaTensor

    return MetaTensor(torch.from_numpy(hu).float()[None], affine=torch.as_tensor(affine, dtype=torch.float64))


def bench_kinds(config: BenchConfig, limits: dict[str, float]) -> list[dict]:
    """Rows of the 2D / 2.5D / 3D comparison: a training iteration and a volume's translation per kind, each ÷ the
    2D one measured here (``workload`` says which); the peak memory rows come from :func:`kind_memory`."""
    from medtranslate.inference import translate_image

    kinds, device = config.kinds, config.device
    assert kinds is not None
    torch.manual_seed(0)
    rows = []
    train = _kind_training(kinds, device)
    flops = {
        name: count_flops(lambda n=nets, b=batches: make_trainer(n, b[:1], device=device).run())
        for name, (nets, batches) in train.items()
    }
    seconds = {name: [] for name in train}
    for _ in range(kinds.repeats):
        for name, (nets, batches) in train.items():
            fresh = tuple(copy.deepcopy(net) for net in nets)
            seconds[name].append(_engine_seconds(fresh, batches, {}, device=device)["seconds"])
    base = statistics.median(seconds[next(iter(train))])
    for name, times in seconds.items():
        voxels = train[name][1][0]["ct"][:, :1].numel()
        rows.append(
            _row(name, statistics.median(times), base, flops[name], limits, workload="training (per iteration)",
                 voxels=voxels)
        )  # fmt: skip
    image = ct_image(*phantom_ct(kinds.volume, kinds.spacing))
    translators = {kind: kind_translator(kind, kinds, device) for kind in ("2d", "2.5d", "3d")}
    flops = {}
    for kind, translator in translators.items():  # the warm-up translation, counted
        flops[kind] = count_flops(lambda t=translator: translate_image(image, t))
    seconds = {kind: [] for kind in translators}
    for _ in range(kinds.repeats):
        for kind, translator in translators.items():
            seconds[kind].append(_median_time(lambda t=translator: translate_image(image, t), 1, device))
    base = statistics.median(seconds["2d"])
    what = f"{'×'.join(map(str, kinds.volume))} CT at {'×'.join(f'{s:g}' for s in kinds.spacing)} mm"
    names = {
        "2d": f"2D SliceTranslator, {kinds.image_size}² (ngf {kinds.infer_ngf}; inference.json)",
        "2.5d": f"2.5D SliceTranslator, slab {kinds.slab} (inference_2p5d.json)",
        "3d": f"3D VolumeTranslator, {kinds.patch}³ patches at {kinds.spacing_3d:g} mm (inference_3d.json)",
    }
    for kind, times in seconds.items():
        rows.append(
            _row(f"{names[kind]} on a {what}", statistics.median(times), base, flops[kind], limits,
                 workload="inference (per volume)")
        )  # fmt: skip
    return rows


def kind_memory(config: BenchConfig) -> list[dict]:
    """Peak resident memory of :func:`bench_kinds`' translation of each kind in a fresh process, ÷ the float32
    volume."""
    kinds = config.kinds
    if kinds is None:
        return []
    settings = json.dumps(asdict(kinds))
    return [_subprocess(["kind", kind, "--settings", settings]) for kind in kinds.memory]


#: the parts of a run, in order
SECTIONS = ("inference", "training", "command", "memory", "kinds")


def run_benchmarks(config: BenchConfig, sections: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    """The measurements of ``config`` in ``sections`` in one process (memory in subprocesses); a JSON-ready dict.

    The machine limits are always measured, so every ratio has its denominator from the same run."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    start = time.perf_counter()

    def progress(section: str) -> None:
        print(f"[benchmarks {config.name}] {section} at {time.perf_counter() - start:.0f} s", file=sys.stderr)

    progress("machine limits")
    limits = machine_limits(device=config.device)
    by_precision = precision_limits(limits)
    result: dict[str, Any] = {
        "config": asdict(config),
        "machine": {
            "cpu": _cpu_name(),
            "device": _device_name(config.device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            **limits,
        },
        "load_average_start": os.getloadavg()[0],
    }
    benches = {"inference": bench_inference, "training": bench_training, "command": bench_command, "kinds": bench_kinds}
    for section in SECTIONS:
        skip = (section == "memory" and config.device != "cpu") or (section == "command" and not config.command_volumes)
        skip = skip or (section == "kinds" and config.kinds is None)
        if section in sections and not skip:  # memory is the process's RSS: a CPU measurement
            progress(section)
            result[section] = bench_memory(config) if section == "memory" else benches[section](config, by_precision)
    if "kinds" in result and config.device == "cpu":
        result.setdefault("memory", []).extend(kind_memory(config))
    result["wall_s"] = time.perf_counter() - start
    result["load_average_end"] = os.getloadavg()[0]  # other processes on the machine skew every ratio
    return result


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
