"""Model files: export G_A to a plain state dict, safe loading, clear one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medtranslate.errors import CheckpointError, OutputExistsError
from medtranslate.inference import describe_generator_weights, export_generator, load_generator
from medtranslate.networks import ResNetGenerator


def _checkpoint(tmp_path: Path, g_a: torch.nn.Module) -> Path:
    """A training-checkpoint-like dict of state dicts and plain values (what the trainer's saver writes)."""
    path = tmp_path / "checkpoint_10.pt"
    g_b = ResNetGenerator(channels=4, num_res_blocks=1)
    torch.save({"g_a": g_a.state_dict(), "g_b": g_b.state_dict(), "trainer": {"iteration": 10}}, path)
    return path


@pytest.mark.parametrize("half", [False, True])
def test_export_then_load_round_trip(tmp_path: Path, tiny_net: ResNetGenerator, half: bool) -> None:
    out = export_generator(_checkpoint(tmp_path, tiny_net), tmp_path / "models" / "model.pt", half=half)
    state = torch.load(out, weights_only=True)
    assert set(state) == set(tiny_net.state_dict())
    assert all(v.dtype == (torch.float16 if half else torch.float32) for v in state.values())
    net = load_generator(out, ResNetGenerator(channels=4, num_res_blocks=1), "cpu")
    assert not net.training
    for key, value in tiny_net.state_dict().items():
        assert torch.allclose(net.state_dict()[key], value, atol=1e-3 if half else 0.0)


def test_load_training_checkpoint_uses_g_a(tmp_path: Path, tiny_net: ResNetGenerator) -> None:
    net = load_generator(_checkpoint(tmp_path, tiny_net), ResNetGenerator(channels=4, num_res_blocks=1))
    assert torch.equal(net.state_dict()["decoder.7.weight"], tiny_net.state_dict()["decoder.7.weight"])


def test_export_refuses_to_overwrite(tmp_path: Path, tiny_net: ResNetGenerator) -> None:
    ckpt = _checkpoint(tmp_path, tiny_net)
    out = export_generator(ckpt, tmp_path / "model.pt")
    with pytest.raises(OutputExistsError):
        export_generator(ckpt, out)
    with pytest.raises(OutputExistsError, match="input"):
        export_generator(ckpt, ckpt, overwrite=True)
    export_generator(ckpt, out, overwrite=True)


def test_missing_bundle_weights_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no trained weights yet.*--ckpt") as info:
        load_generator(tmp_path / "models" / "model.pt", ResNetGenerator(channels=4, num_res_blocks=1))
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="no such model file"):
        load_generator(tmp_path / "other.pt", ResNetGenerator(channels=4, num_res_blocks=1))


def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    net = ResNetGenerator(channels=4, num_res_blocks=1)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="not a readable PyTorch model file"):
        load_generator(corrupt, net)
    foreign = tmp_path / "foreign.pt"
    torch.save({"optimizer": {"lr": 0.1}}, foreign)
    with pytest.raises(CheckpointError, match="neither a generator state dict nor a training checkpoint"):
        load_generator(foreign, net)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "unsafe.pt"
    torch.save({"g_a": _Payload()}, path)
    with pytest.raises(CheckpointError, match="unsafe"):
        load_generator(path, ResNetGenerator(channels=4, num_res_blocks=1))
    assert "must never run" not in capsys.readouterr().out


def test_architecture_mismatch_names_keys_and_guesses_the_architecture(model_path: Path) -> None:
    net = ResNetGenerator(channels=8, num_res_blocks=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_generator(model_path, net)
    message = str(info.value)
    assert "missing key(s) (e.g. res_blocks.1." in message
    assert "encoder.1.weight (4, 1, 7, 7) vs (8, 1, 7, 7)" in message
    assert "made for ResNetGenerator(channels=4, num_res_blocks=1)" in message and "\n" not in message
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing loaded


def test_describe_generator_weights() -> None:
    assert describe_generator_weights(ResNetGenerator(channels=8, num_res_blocks=3).state_dict()) == (
        "ResNetGenerator(channels=8, num_res_blocks=3)"
    )
    assert describe_generator_weights({"fc.weight": torch.zeros(1)}) is None
