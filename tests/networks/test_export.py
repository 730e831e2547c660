"""The networks trace with ``torch.jit.trace`` and export to ONNX with outputs matching eager PyTorch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medtranslate.networks import PatchDiscriminator, ResNetGenerator, UNetGenerator

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::torch.jit.TracerWarning"
)


@pytest.mark.parametrize(
    ("net", "shape"),
    [
        (ResNetGenerator(channels=8, num_res_blocks=2), (1, 1, 32, 32)),
        (ResNetGenerator(channels=8, num_res_blocks=1, upsample_mode="resize_conv"), (1, 1, 32, 32)),
        (UNetGenerator(channels=8, num_downs=5), (1, 1, 32, 32)),
        (PatchDiscriminator(channels=8), (1, 1, 64, 64)),
        (ResNetGenerator(spatial_dims=3, channels=4, num_res_blocks=1), (1, 1, 16, 16, 16)),
    ],
)
def test_jit_trace_matches_eager(net: nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net.eval()
    x = torch.rand(shape) * 2 - 1
    traced = torch.jit.trace(net, x)
    other = torch.rand(shape) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(traced(other), net(other))


@pytest.mark.slow  # the dynamo exporter's first call costs 3-7 s on a shared 2-core machine, however small the net
def test_onnx_export_matches_pytorch() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = ResNetGenerator(channels=4, num_res_blocks=1).eval()
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    # the exporter MONAI's convert_to_onnx uses on torch >= 2.9; its graph optimiser is skipped to save seconds
    program = torch.onnx.export(net, (x,), dynamo=True, verbose=False, optimize=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (y_onnx,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        y = net(x)
    torch.testing.assert_close(torch.from_numpy(y_onnx), y, atol=1e-4, rtol=0)
