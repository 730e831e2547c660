"""Every kind of model (2D, 2.5D, 3D) through the same inference: geometry kept, the right neighbours seen, and a
model of the wrong kind refused in one line."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor

from medtranslate.errors import CheckpointError
from medtranslate.inference import SliceTranslator, load_generator, make_translator, translate_path
from medtranslate.networks import ResNetGenerator
from medtranslate.networks.kind import ModelKind, kind_of_network, kind_of_state

#: tiny generators of each kind, as (spatial_dims, in_channels)
KINDS = {"2d": (2, 1), "2.5d": (2, 3), "3d": (3, 1)}


def _generator(kind: str) -> ResNetGenerator:
    torch.manual_seed(0)
    dims, channels = KINDS[kind]
    return ResNetGenerator(spatial_dims=dims, in_channels=channels, channels=4, num_res_blocks=1).eval()


def _translator(kind: str) -> object:
    # 3D: patches of 16 voxels at 2 mm (the inputs are ~2-3 mm voxels); 2D/2.5D: slices at 32²
    spacing = 2.0 if kind == "3d" else None
    return make_translator(_generator(kind), image_size=16 if kind == "3d" else 32, amp=False, spacing=spacing)


def test_kind_is_read_from_the_network_and_its_weights() -> None:
    for name, (dims, channels) in KINDS.items():
        net = _generator(name)
        assert kind_of_network(net) == kind_of_state(net.state_dict()) == ModelKind(dims, channels)
        assert kind_of_network(net).name == name
    assert kind_of_network(torch.nn.Identity()) == ModelKind()  # no convolution: 2D


@pytest.mark.parametrize("kind", ["2.5d", "3d"])
def test_a_model_of_another_kind_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.pt"
    torch.save(_generator(kind).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_generator(path, _generator("2d"))
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "but this network is a 2D model" in message
    assert ("inference_3d.json" if kind == "3d" else "inference_2p5d.json with --slab 3") in message


def test_a_2d_model_is_refused_by_a_2p5d_network(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(_generator("2d").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"is a 2D model, but this network is a 2\.5D model"):
        load_generator(path, _generator("2.5d"))


def test_2p5d_translator_sees_each_slice_with_its_neighbours_end_slices_repeated() -> None:
    """A 1×1 conv that returns the slab's first channel makes slice z out of slice z-1 (slice 0 out of itself)."""
    previous = torch.nn.Conv2d(3, 1, 1, bias=False)
    previous.weight.data[:] = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    volume = MetaTensor(torch.rand(1, 16, 16, 6) * 2 - 1, affine=torch.diag(torch.tensor([1.0, 1.0, 3.0, 1.0])))
    for chunk in (1, 4, 6):  # chunk borders must not change which neighbours a slice sees
        out = SliceTranslator(previous, image_size=16, amp=False, head_crop=False, backend="eager", chunk_slices=chunk)(
            volume
        )
        expected = torch.cat([volume[..., :1], volume[..., :-1]], dim=-1)
        torch.testing.assert_close(out.as_tensor(), expected.as_tensor(), atol=1e-5, rtol=0)
        assert torch.equal(out.affine, volume.affine)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("fixture", ["ct_nifti", "oblique_nifti"])
def test_nifti_output_keeps_shape_and_affine_for_every_kind(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, fixture: str
) -> None:
    source = request.getfixturevalue(fixture)
    translator = _translator(kind)
    (out,) = translate_path(source, tmp_path / "out", translator.network, translator=translator)
    src, got = nib.load(source), nib.load(out)
    assert got.shape == src.shape
    np.testing.assert_allclose(got.affine, src.affine, atol=1e-5)
    np.testing.assert_allclose(got.header.get_zooms(), src.header.get_zooms(), atol=1e-5)
    data = got.get_fdata()
    assert np.isfinite(data).all() and data.min() >= 0.0 and data.max() <= 1.0 and data.std() > 0


@pytest.mark.parametrize("kind", list(KINDS))
def test_dicom_output_keeps_the_series_geometry_for_every_kind(tmp_path: Path, ct_dicom: Path, kind: str) -> None:
    translator = _translator(kind)
    nifti, series = translate_path(
        ct_dicom, tmp_path / "out", translator.network, translator=translator, export="nifti,dicom"
    )
    reader = sitk.ImageSeriesReader()
    source = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(ct_dicom)))
    output = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(series)))
    assert output.GetSize() == source.GetSize()
    np.testing.assert_allclose(output.GetOrigin(), source.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(output.GetSpacing(), source.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(output.GetDirection(), source.GetDirection(), atol=1e-4)
    first = pydicom.dcmread(sorted(series.iterdir())[0])
    assert first.Modality == "MR" and "SYNTHETIC" in first.SeriesDescription
    assert nib.load(nifti).shape == tuple(reversed(sitk.GetArrayFromImage(source).shape))


def test_3d_translator_blends_patches_back_onto_the_input_grid(oblique_nifti: Path) -> None:
    """An identity 3D network over overlapping patches gives back the (resampled, blanked) input."""
    from medtranslate.inference.sliding import VolumeTranslator
    from medtranslate.io import LoadMedicalImage

    identity = torch.nn.Conv3d(1, 1, 1, bias=False)
    identity.weight.data.fill_(1.0)
    image = LoadMedicalImage()(oblique_nifti)
    windowed = MetaTensor((image.as_tensor().float() / 2000.0).clamp(-1, 1), affine=image.affine)
    out = VolumeTranslator(identity, patch_size=16, spacing=1.5, amp=False, head_crop=False)(windowed)
    assert out.shape == windowed.shape and torch.equal(out.affine, windowed.affine)
    corr = np.corrcoef(out.numpy().ravel(), windowed.numpy().ravel())[0, 1]
    assert corr > 0.9  # resampled to 1.5 mm and back: blurred, not moved


def test_3d_translator_refuses_a_2d_slice() -> None:
    from medtranslate.errors import DimensionError

    with pytest.raises(DimensionError, match="a 3D model translates"):
        make_translator(_generator("3d"), image_size=16)(MetaTensor(torch.zeros(1, 16, 16)))


@pytest.mark.parametrize("kind", ["2.5d", "3d"])
def test_trust_map_beside_every_kind(tmp_path: Path, ct_nifti: Path, kind: str) -> None:
    """The uncertainty map (flip spread and G_B cycle error) has the synthetic MRI's grid for 2.5D and 3D models."""
    from medtranslate.inference import UncertaintySettings

    translator = _translator(kind)
    settings = UncertaintySettings(reverse=_generator(kind))
    mri, unc = translate_path(
        ct_nifti, tmp_path / "out", translator.network, translator=translator, uncertainty=settings
    )
    assert nib.load(unc).shape == nib.load(mri).shape == nib.load(ct_nifti).shape
    np.testing.assert_allclose(nib.load(unc).affine, nib.load(ct_nifti).affine, atol=1e-5)
    assert nib.load(unc).get_fdata().max() > 0


def test_cli_translates_with_an_override_config_of_another_kind(tmp_path: Path, ct_nifti: Path, capsys) -> None:
    """``--config configs/inference_3d.json`` alone is merged over the bundle's inference.json; without it the
    3D weights are refused in one line, exit 1."""
    from medtranslate.cli import main

    configs = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri" / "configs"
    ckpt = tmp_path / "model_3d.pt"
    torch.save(_generator("3d").state_dict(), ckpt)
    tiny = ["--ckpt", str(ckpt), "--ngf", "4", "--n-blocks", "1", "--image-size", "16", "--device", "cpu"]
    assert main(["translate", str(ct_nifti), "-o", str(tmp_path / "wrong"), *tiny]) == 1
    assert "is a 3D model, but this network is a 2D model" in capsys.readouterr().err
    assert (
        main(
            [
                "translate",
                str(ct_nifti),
                "-o",
                str(tmp_path / "out"),
                "--config",
                str(configs / "inference_3d.json"),
                *tiny,
            ]
        )
        == 0
    )
    (out,) = (tmp_path / "out").glob("*.nii.gz")
    np.testing.assert_allclose(nib.load(out).affine, nib.load(ct_nifti).affine, atol=1e-5)
    assert nib.load(out).shape == nib.load(ct_nifti).shape
