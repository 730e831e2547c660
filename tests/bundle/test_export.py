"""The model-zoo checks of the bundle: ``verify_net_in_out``, ``ckpt_export`` (TorchScript, scripted and traced),
``onnx_export``.

Every check uses ``network_def`` of ``train.json`` with tiny overrides (4 channels, one residual block) and random
weights saved to ``tmp_path`` (no weights are committed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ckpt_export, onnx_export, verify_net_in_out
from monai.data import load_net_with_metadata

from medtranslate.networks import ResNetGenerator

pytestmark = pytest.mark.filterwarnings(
    "ignore::torch.jit.TracerWarning", "ignore:.*config_file.*:UserWarning", "ignore:.*LeafSpec.*:FutureWarning"
)

#: ``train.json`` overrides of ``network_def``: 4 channels, one residual block
TINY = {"ngf": 4, "n_blocks": 1}
#: ONNX Runtime against eager PyTorch, float32, outputs in (-1, 1): absolute tolerance
ONNX_ATOL = 1e-4


@pytest.fixture
def model_pt(tmp_path: Path) -> Path:
    """``models/model.pt`` as the bundle ships it: the state dict of ``network_def`` (random weights)."""
    torch.manual_seed(0)
    path = tmp_path / "models" / "model.pt"
    path.parent.mkdir()
    torch.save(ResNetGenerator(channels=TINY["ngf"], num_res_blocks=TINY["n_blocks"]).state_dict(), path)
    return path


def _tiny_net(model_pt: Path) -> ResNetGenerator:
    net = ResNetGenerator(channels=TINY["ngf"], num_res_blocks=TINY["n_blocks"])
    net.load_state_dict(torch.load(model_pt, weights_only=True))
    return net.eval()


def test_verify_net_in_out(configs: Path) -> None:
    """The metadata's input (1 × 256², float32) goes through ``network_def`` to its output (1 channel, float32)."""
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "train.json"),
        **TINY,
    )


def test_ckpt_export_scripted_as_the_model_zoo_runs_it(configs: Path, model_pt: Path) -> None:
    """``ckpt_export`` with scripting (the zoo's default, no ``--use_trace``) compiles ``forward``, size check
    included: the file carries the metadata, matches the eager network and still refuses a side not divisible by 4."""
    ts_file = model_pt.parent / "model_scripted.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts_file),
        ckpt_file=str(model_pt),
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "inference.json"),
        **TINY,
    )
    scripted, meta, _ = load_net_with_metadata(str(ts_file))
    assert meta["version"] == json.loads((configs / "metadata.json").read_text())["version"]
    x = torch.rand(2, 1, 48, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), _tiny_net(model_pt)(x))
        with pytest.raises(torch.jit.Error, match="not divisible"):
            scripted(torch.rand(1, 1, 30, 30))


def test_ckpt_export_torchscript(configs: Path, model_pt: Path) -> None:
    """``ckpt_export`` traced (``use_trace``) gives a TorchScript file that carries the metadata and matches the
    eager network on an input of another size."""
    ts_file = model_pt.parent / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts_file),
        ckpt_file=str(model_pt),
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "train.json"),
        use_trace=True,
        input_shape=[1, 1, 32, 32],
        **TINY,
    )
    traced, meta, _ = load_net_with_metadata(str(ts_file))
    assert meta["version"] == json.loads((configs / "metadata.json").read_text())["version"]
    x = torch.rand(2, 1, 48, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(traced(x), _tiny_net(model_pt)(x))


@pytest.mark.slow  # the dynamo ONNX exporter takes 5-15 s on a shared 2-core machine, however small the net
def test_onnx_export_runs_under_onnxruntime(configs: Path, model_pt: Path) -> None:
    """``onnx_export`` of the generator (fixed 1 × 1 × 32² input) runs under ONNX Runtime and matches PyTorch
    within ``ONNX_ATOL``."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx_file = model_pt.parent / "model.onnx"
    onnx_export(
        net_id="network_def",
        filepath=str(onnx_file),
        ckpt_file=str(model_pt),
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "train.json"),
        use_trace=True,
        input_shape=[1, 1, 32, 32],
        converter_kwargs={"optimize": False},
        **TINY,
    )
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    (y_onnx,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(y_onnx), _tiny_net(model_pt)(x), atol=ONNX_ATOL, rtol=0)
