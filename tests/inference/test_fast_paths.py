"""SliceTranslator's faster paths agree with the eager fp32 path; device-dependent choices follow the device type.

Tolerances (max abs difference on outputs in (-1, 1), tiny ResNet generator): channels_last ≤ 1e-5 (the same
kernels in another memory order), ``torch.compile`` with freezing ≤ 1e-4 and ONNX Runtime ≤ 1e-4 (fused,
reordered reductions); bf16 autocast within :data:`AMP_TOLERANCE` (mean and max over the image).
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from medtranslate.errors import ConfigError
from medtranslate.inference.volume import AMP_TOLERANCE, SliceTranslator
from medtranslate.networks import ResNetGenerator

CHANNELS_LAST_ATOL = 1e-5
COMPILED_ATOL = 1e-4
ONNX_ATOL = 1e-4


def _net(seed: int = 0) -> ResNetGenerator:
    torch.manual_seed(seed)
    return ResNetGenerator(channels=4, num_res_blocks=1).eval()


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(1, 40, 28, 5, generator=g) * 2 - 1  # resized and padded to 32², several batches


@pytest.fixture(scope="module")
def eager(volume: torch.Tensor) -> torch.Tensor:
    return SliceTranslator(_net(), image_size=32, sw_batch_size=2, device="cpu", channels_last=False, amp=False)(
        volume
    )


@pytest.mark.parametrize("native_bf16", [False, True])
def test_eager_cpu_keeps_the_layout_and_uses_bf16_only_where_native(native_bf16: bool, monkeypatch) -> None:
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: native_bf16)
    net = _net()
    translator = SliceTranslator(net, image_size=32, device="cpu")
    assert not translator.channels_last and translator.active_backend == "eager"
    assert translator.backend == ("auto" if native_bf16 else "eager")  # compiles only where bf16 is native
    assert translator.amp is native_bf16 and translator.amp_dtype == (torch.bfloat16 if native_bf16 else None)
    assert net.encoder[1].weight.is_contiguous()
    assert not SliceTranslator(net, image_size=32, device="cpu", amp=False).amp
    if native_bf16:
        pytest.importorskip("onnxruntime")
        assert not SliceTranslator(net, image_size=32, device="cpu", backend="onnxruntime").amp  # ORT runs fp32
    else:
        with pytest.warns(UserWarning, match="no native reduced precision"):
            assert not SliceTranslator(net, image_size=32, device="cpu", amp=True).amp


def test_emulated_bf16_is_never_chosen(monkeypatch) -> None:
    from medtranslate.precision import cpu_has_native_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert cpu_has_native_bf16()
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert not cpu_has_native_bf16()


def test_bf16_agrees_with_fp32_within_the_documented_tolerance(
    volume: torch.Tensor, eager: torch.Tensor, monkeypatch
) -> None:
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: True)  # emulated here if not native
    seen = []
    net = _net()
    net.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    out = SliceTranslator(net, image_size=32, sw_batch_size=2, device="cpu")(volume)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen) and out.dtype == torch.float32
    diff = (out - eager).abs()
    assert diff.mean() <= AMP_TOLERANCE["mean"] and diff.max() <= AMP_TOLERANCE["max"]
    assert diff.max() > 0  # it did run in reduced precision


@pytest.mark.parametrize(("major", "dtype"), [(9, torch.bfloat16), (7, torch.float16)])
def test_cuda_selects_channels_last_and_autocast_without_touching_cuda(major, dtype, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))
    net = _net()  # stays on the CPU: only the choices made from the device type are checked
    translator = SliceTranslator(net, image_size=32, device="cuda", amp=True)
    assert translator.channels_last and translator.amp and translator.amp_dtype == dtype
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not SliceTranslator(_net(), image_size=32, device="cuda", amp=False).amp


def test_channels_last_agrees_with_eager(volume: torch.Tensor, eager: torch.Tensor) -> None:
    out = SliceTranslator(_net(), image_size=32, sw_batch_size=2, device="cpu", channels_last=True, amp=False)(volume)
    assert out.shape == volume.shape and out.is_contiguous()
    assert (out - eager).abs().max() <= CHANNELS_LAST_ATOL


@pytest.mark.slow  # inductor's first compile of even a tiny generator takes 10-40 s on a shared 2-core machine
def test_compiled_agrees_with_eager(volume: torch.Tensor, eager: torch.Tensor) -> None:
    translator = SliceTranslator(_net(), image_size=32, sw_batch_size=5, device="cpu", backend="compile", amp=False)
    assert translator.channels_last  # the compiled path defaults to NHWC, its fastest layout on CPU
    out = translator(volume)
    assert (out - eager).abs().max() <= COMPILED_ATOL
    assert torch.equal(translator(volume), out)  # a second call reuses the compiled graph


@pytest.mark.slow  # as above
def test_compiled_reduced_precision_agrees_within_the_amp_tolerance(
    volume: torch.Tensor, eager: torch.Tensor, monkeypatch
) -> None:
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: True)  # emulated here if not native
    net = _net()
    translator = SliceTranslator(net, image_size=32, sw_batch_size=1, device="cpu", backend="compile")
    assert translator.weight_dtype == torch.bfloat16 and net.encoder[1].weight.dtype == torch.float32  # a copy
    out = translator(volume)
    assert translator.active_backend == "compile" and out.dtype == torch.float32
    diff = (out - eager).abs()
    assert diff.mean() <= AMP_TOLERANCE["mean"] and diff.max() <= AMP_TOLERANCE["max"]


class _FakeCompiled:
    """Stands in for CompiledOrEager: records what it was given, runs the module eagerly."""

    made: ClassVar[list[torch.nn.Module]] = []

    def __init__(self, module: torch.nn.Module, device, freezing: bool = False, what: str = "") -> None:
        self.module, self.compiled = module, True
        self.made.append(module)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


@pytest.mark.parametrize("native_bf16", [False, True])
def test_auto_compiles_once_enough_slices_were_seen_and_only_where_bf16_is_native(
    volume: torch.Tensor, native_bf16: bool, monkeypatch
) -> None:
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: native_bf16)
    monkeypatch.setattr("medtranslate.inference.volume.CompiledOrEager", _FakeCompiled)
    _FakeCompiled.made = []
    translator = SliceTranslator(_net(), image_size=32, device="cpu", compile_min_slices=8)
    translator(volume)  # 5 slices: below the threshold
    assert translator.active_backend == "eager" and not _FakeCompiled.made
    out = translator(volume)  # 10 seen: compiles (where bf16 is native), once
    translator(volume)
    assert translator.active_backend == ("compile" if native_bf16 else "eager")
    assert len(_FakeCompiled.made) == int(native_bf16)
    if native_bf16:
        assert _FakeCompiled.made[0].encoder[1].weight.dtype == torch.bfloat16 and out.dtype == torch.float32


def test_onnxruntime_agrees_with_eager(volume: torch.Tensor, eager: torch.Tensor) -> None:
    pytest.importorskip("onnxruntime")
    translator = SliceTranslator(_net(), image_size=32, sw_batch_size=2, device="cpu", backend="onnxruntime")
    assert not translator.channels_last
    out = translator(volume)  # batches of 2 and a last one of 1: the exported batch axis is dynamic
    assert out.shape == volume.shape
    assert (out - eager).abs().max() <= ONNX_ATOL


@pytest.mark.parametrize(
    ("backend", "device", "network"),
    [("tensorrt", "cpu", _net()), ("onnxruntime", "cuda", _net()), ("onnxruntime", "cpu", torch.neg)],
)
def test_unusable_backends_are_refused(backend: str, device: str, network) -> None:
    with pytest.raises(ConfigError, match="backend"):
        SliceTranslator(network, image_size=32, device=device, backend=backend)
