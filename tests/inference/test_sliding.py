"""VolumeTranslator: a 3D generator over Gaussian-blended patches, back onto the input's own (tilted, anisotropic)
grid, blanked outside the head; the attributes translate_path, the workflow and the trust maps read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer

from medtranslate.errors import DimensionError
from medtranslate.inference import make_translator
from medtranslate.inference.sliding import VolumeTranslator
from medtranslate.networks import build_generator

#: 1.2 × 0.8 × 3 mm voxels, rotated 20° about Z and 10° about X, shifted: nothing axis-aligned or isotropic.
_RZ, _RX = np.deg2rad(20.0), np.deg2rad(10.0)
TILTED = np.eye(4)
TILTED[:3, :3] = (
    np.array([[np.cos(_RZ), -np.sin(_RZ), 0], [np.sin(_RZ), np.cos(_RZ), 0], [0, 0, 1]])
    @ np.array([[1, 0, 0], [0, np.cos(_RX), -np.sin(_RX)], [0, np.sin(_RX), np.cos(_RX)]])
    @ np.diag([1.2, 0.8, 3.0])
)
TILTED[:3, 3] = (-14.0, 9.0, -20.0)


def _head(shape: tuple[int, int, int] = (28, 36, 10)) -> MetaTensor:
    """A windowed CT-like ellipsoid on [-1, 1] (brain 0.2, skull 0.9, air -1) on the tilted grid."""
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    r = np.sqrt((x / 0.7) ** 2 + (y / 0.7) ** 2 + (z / 1.4) ** 2)
    image = np.where(r < 0.85, 0.2, np.where(r < 1.0, 0.9, -1.0)).astype(np.float32)
    return MetaTensor(torch.from_numpy(image)[None], affine=torch.from_numpy(TILTED), meta={"filename_or_obj": "ct"})


def _identity() -> torch.nn.Module:
    conv = torch.nn.Conv3d(1, 1, 1, bias=False)
    conv.weight.data.fill_(1.0)
    return conv


def test_output_has_the_input_grid_and_metadata() -> None:
    image = _head()
    out = VolumeTranslator(_identity(), patch_size=8, spacing=1.5, amp=False)(image)
    assert isinstance(out, MetaTensor) and out.shape == image.shape and out.dtype == torch.float32
    assert torch.equal(out.affine, image.affine) and out.meta["filename_or_obj"] == "ct"


def test_an_identity_network_gives_the_input_back_and_the_air_blanked() -> None:
    image = _head()
    out = VolumeTranslator(_identity(), patch_size=8, spacing=1.0, overlap=0.5, amp=False)(image)
    inside = image.as_tensor() > -1.0
    assert float((out.as_tensor() - image.as_tensor()).abs()[inside].mean()) < 0.15  # resampled there and back
    assert float(out.as_tensor()[0, 0, 0, 0]) == -1.0  # a corner: outside the head, the background
    assert np.corrcoef(out.numpy().ravel(), image.numpy().ravel())[0, 1] > 0.9


def test_a_random_3d_generator_runs_on_the_tilted_grid() -> None:
    network = build_generator("resnet", spatial_dims=3, channels=4, num_res_blocks=1, seed=0).eval()
    image = _head((20, 24, 8))
    out = make_translator(network, image_size=8, amp=False, spacing=2.0)(image)
    assert isinstance(out, MetaTensor) and out.shape == image.shape and torch.equal(out.affine, image.affine)
    assert torch.isfinite(out.as_tensor()).all() and float(out.abs().max()) <= 1.0


def test_the_workflow_may_replace_the_inferer() -> None:
    """TranslationEvaluator sets ``translator.inferer`` to the config's SlidingWindowInferer: that one runs."""
    calls = []

    class Counting(SlidingWindowInferer):
        def __call__(self, inputs, network, *args, **kwargs):
            calls.append(tuple(inputs.shape))
            return super().__call__(inputs, network, *args, **kwargs)

    translator = VolumeTranslator(_identity(), patch_size=8, spacing=2.0, amp=False)
    translator.inferer = Counting(roi_size=(8, 8, 8), mode="gaussian")
    translator(_head())
    assert len(calls) == 1 and calls[0][:2] == (1, 1)


def test_attributes_read_by_translate_path_and_trust_maps() -> None:
    network = _identity()
    translator = VolumeTranslator(network, patch_size=8, spacing=1.5, sw_batch_size=2, amp=False, progress=True)
    assert translator.network is network and translator.device == torch.device("cpu")
    assert (translator.image_size, translator.spacing, translator.sw_batch_size) == (8, 1.5, 2)
    assert translator.amp is False and translator.progress and translator.background == -1.0
    assert translator.head_crop


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (MetaTensor(torch.zeros(1, 16, 16)), "a 3D model translates"),
        (torch.zeros(1, 8, 8, 8), "needs the volume's affine"),
    ],
)
def test_a_slice_or_a_volume_without_affine_is_refused_in_one_line(image: torch.Tensor, match: str) -> None:
    with pytest.raises(DimensionError, match=match) as info:
        VolumeTranslator(_identity(), patch_size=8, amp=False)(image)
    assert "\n" not in str(info.value)
