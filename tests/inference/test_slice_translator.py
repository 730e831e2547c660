"""SliceTranslator: shape, metadata and affine kept; the network sees training-sized slices; chunking is exact."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import DimensionError
from medtranslate.inference.volume import SliceTranslator, fit_size


class _Recorder(torch.nn.Module):
    """Negates its input and records the batch shapes it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return -x + self.weight


def test_fit_size_keeps_aspect() -> None:
    assert fit_size((512, 256), 256) == (256, 128)
    assert fit_size((91, 109), 256) == (214, 256)


def test_volume_shape_affine_and_values() -> None:
    oblique = torch.tensor([[0.9, 0.1, 0.0, 10.0], [0.0, 1.1, 0.2, -5.0], [0.0, 0.0, 2.5, 3.0], [0, 0, 0, 1.0]])
    volume = MetaTensor(torch.rand(1, 32, 32, 7) * 2 - 1, affine=oblique, meta={"filename_or_obj": "ct.nii.gz"})
    net = _Recorder()
    out = SliceTranslator(net, image_size=32, sw_batch_size=3, chunk_slices=4, head_crop=False)(volume)
    assert out.shape == volume.shape
    assert torch.equal(out.affine, oblique) and out.meta["filename_or_obj"] == "ct.nii.gz"
    assert torch.allclose(out, -volume.as_tensor(), atol=1e-6)  # same size: no resampling, exact
    assert all(s[1:] == (1, 32, 32) and s[0] <= 3 for s in net.shapes)


def test_resize_and_pad_round_trip_for_smooth_images() -> None:
    x = torch.linspace(-1, 1, 48)[:, None, None].expand(48, 24, 3)[None].contiguous()
    translator = SliceTranslator(torch.nn.Identity(), image_size=32, sw_batch_size=4, device="cpu", head_crop=False)
    out = translator(x)
    assert out.shape == x.shape
    assert (out - x).abs().max() < 0.05  # a smooth ramp survives 48→32→48 resampling


def test_chunking_does_not_change_result() -> None:
    volume = torch.rand(1, 20, 30, 9) * 2 - 1
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    a = SliceTranslator(net, image_size=32, sw_batch_size=2, chunk_slices=2)(volume)
    b = SliceTranslator(net, image_size=32, sw_batch_size=9, chunk_slices=100)(volume)
    assert torch.allclose(a, b, atol=1e-6)


def test_two_dimensional_input() -> None:
    out = SliceTranslator(_Recorder(), image_size=16)(torch.zeros(1, 16, 8))
    assert out.shape == (1, 16, 8)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (8, 8), (1, 4, 4, 4, 4)])
def test_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(DimensionError, match="one-channel"):
        SliceTranslator(torch.nn.Identity(), image_size=8, device="cpu")(torch.zeros(shape))
