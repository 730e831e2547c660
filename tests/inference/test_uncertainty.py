"""The trust map: TTA spread and cycle error of tiny networks, the calibration's fit and held-out quality, and its
exports beside the synthetic MRI (same geometry, same writers, checked before anything is written)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from medtranslate.errors import ConfigError, OutputExistsError
from medtranslate.inference import (
    UncertaintyEstimator,
    UncertaintySettings,
    apply_uncertainty_calibration,
    calibrate_from_cases,
    fit_uncertainty_calibration,
    load_uncertainty_calibration,
    translate_path,
    uncalibrated_calibration,
)
from medtranslate.inference.volume import SliceTranslator
from medtranslate.io import write_png
from medtranslate.networks import ResNetGenerator
from medtranslate.transforms.head import find_head

torch.set_num_threads(1)
S = 32


class Ramp(torch.nn.Module):
    """``x + 0.1 · ramp(X)``: not flip-equivariant; its flipped pass differs by ``0.2 · ramp`` on [-1, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * torch.linspace(-1, 1, x.shape[2]).view(1, 1, -1, 1)


def _pointwise(weight: float) -> torch.nn.Conv2d:
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(weight)
    return conv.eval()


def _plain_translator(network: torch.nn.Module) -> SliceTranslator:
    """No head crop at the network's size: no resize, so results are exact."""
    return SliceTranslator(network, image_size=S, device="cpu", amp=False, head_crop=False)


def _head_image(depth: int | None = None, seed: int = 0) -> torch.Tensor:
    """A disc of textured 'tissue' on [-0.6, 0.6] on a -1 background, (1, S, S) or (1, S, S, depth)."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    disc = ((x - 15.5) ** 2 + (y - 14) ** 2 < 11**2).float()
    shape = (1, S, S) if depth is None else (1, S, S, depth)
    texture = torch.rand(shape, generator=g) * 1.2 - 0.6
    disc = disc[None] if depth is None else disc[None, ..., None]
    return torch.where(disc.bool(), texture, torch.tensor(-1.0))


def test_flip_equivariant_network_has_zero_spread_and_the_map_is_zero_outside_the_head() -> None:
    image = _head_image(depth=3)
    translator = SliceTranslator(_pointwise(0.5), image_size=16, device="cpu", amp=False)  # head crop, resized
    calibration = uncalibrated_calibration(["spread"]) | {"intercept": 0.1}
    estimator = UncertaintyEstimator(translator, flip=True, shift=2, calibration=calibration)
    found = estimator.estimate(image)
    assert set(found.features) == {"spread"}
    assert float(found.features["spread"].abs().max()) < 1e-6  # 1×1 conv commutes with the flip and the roll
    torch.testing.assert_close(found.mri, translator(image))  # the synthetic MRI is the plain pass
    _, unc = estimator(image)
    head = torch.from_numpy(np.stack([find_head(image[..., k]) for k in range(3)], -1))[None]
    assert 0 < int(head.sum()) < head.numel()
    torch.testing.assert_close(unc[head], torch.full((int(head.sum()),), 0.1))
    assert bool((unc[~head] == 0).all())


def test_non_equivariant_network_spread_is_half_the_pass_difference() -> None:
    image = _head_image()
    estimator = UncertaintyEstimator(_plain_translator(Ramp()), flip=True)
    spread = estimator.estimate(image).features["spread"]
    # two passes differ by 0.2 · ramp on [-1, 1] = 0.1 · ramp on [0, 1]; their population std is half of that
    expected = (0.05 * torch.linspace(-1, 1, S).abs()).view(1, S, 1).expand(1, S, S)
    head = image > -1  # the background (-1) is clipped at 0 on one of the passes
    torch.testing.assert_close(spread[head], expected[head], atol=1e-6, rtol=0)
    assert float(spread[head].max()) > 0.03 and float(spread[~head].max()) > 0  # positive where it is not equivariant


def test_cycle_error_is_zero_for_an_exact_inverse_and_box_smoothed_otherwise() -> None:
    image = _head_image()
    negate = _plain_translator(_pointwise(-1.0))
    exact = UncertaintyEstimator(negate, _plain_translator(_pointwise(-1.0)), flip=False)
    assert exact.features == ("cycle",)
    assert float(exact.estimate(image).features["cycle"].abs().max()) < 1e-6
    wrong = UncertaintyEstimator(negate, _plain_translator(_pointwise(1.0)), flip=False)  # G_B(G_A(x)) = -x
    cycle = wrong.estimate(image).features["cycle"]
    raw = (((-image + 1) / 2) - ((image + 1) / 2)).abs()  # |x| on [0, 1]
    expected = F.avg_pool2d(raw[None], 5, stride=1, padding=2, count_include_pad=False)[0]
    torch.testing.assert_close(cycle, expected, atol=1e-6, rtol=0)


def test_calibration_recovers_known_coefficients_and_stays_non_negative() -> None:
    rng = np.random.default_rng(0)
    spread, cycle = rng.uniform(0, 0.1, (40, 40)), rng.uniform(0, 0.2, (40, 40))
    mask = rng.uniform(size=(40, 40)) > 0.3
    error = 0.02 + 0.5 * spread + 1.5 * cycle + rng.normal(0, 0.002, (40, 40))
    fit = fit_uncertainty_calibration({"spread": spread, "cycle": cycle}, error, mask)
    assert fit["calibrated"] and fit["features"] == ["spread", "cycle"]
    assert fit["intercept"] == pytest.approx(0.02, abs=2e-3)
    assert fit["coefficients"]["spread"] == pytest.approx(0.5, abs=0.03)
    assert fit["coefficients"]["cycle"] == pytest.approx(1.5, abs=0.03)
    quality = fit["quality"]["in_sample"]
    assert quality["pixels"] == int(mask.sum()) and quality["spearman"] > 0.95 and quality["pearson"] > 0.95
    actual = [d["mean_actual"] for d in quality["deciles"]]
    assert len(actual) == 10 and actual == sorted(actual)
    predicted = apply_uncertainty_calibration(fit, {"spread": torch.tensor(spread), "cycle": torch.tensor(cycle)})
    assert float((predicted.numpy() - error)[mask].std()) < 0.003
    json.dumps(fit, allow_nan=False)
    # an error that falls with the cycle error: the weight is clipped at 0, not negative
    falling = fit_uncertainty_calibration({"spread": spread, "cycle": cycle}, 0.3 - cycle, mask)
    assert falling["coefficients"]["cycle"] == 0.0


def test_calibrate_from_cases_reports_leave_one_group_out_quality(tmp_path: Path) -> None:
    estimator = UncertaintyEstimator(_plain_translator(Ramp()), flip=True)
    cases = []
    for k in range(4):
        ct = _head_image(seed=k)
        found = estimator.estimate(ct)
        real = found.mri - 2 * 0.8 * found.features["spread"]  # |synthetic - real| on [0, 1] = 0.8 · spread
        mask = (ct > -1).clone()
        group = f"patient{k // 2}"
        cases.append(SimpleNamespace(ct=ct, mri=real, mask=mask, group=group) if k % 2 else (ct, real, mask, group))
    calibration = calibrate_from_cases(estimator, cases)
    assert calibration["coefficients"]["spread"] == pytest.approx(0.8, abs=1e-3)
    assert calibration["intercept"] == pytest.approx(0.0, abs=1e-4)
    assert calibration["estimator"] == {"flip": True, "shift": 0, "cycle_smoothing": 5}
    quality = calibration["quality"]
    assert set(quality["per_group"]) == {"patient0", "patient1"}
    assert quality["held_out"]["pixels"] == sum(
        int(c[2].sum() if isinstance(c, tuple) else c.mask.sum()) for c in cases
    )
    assert quality["held_out"]["pearson"] > 0.999 and quality["held_out"]["mae"] < 1e-3
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(calibration, allow_nan=False))
    assert load_uncertainty_calibration(path) == calibration
    UncertaintyEstimator(_plain_translator(Ramp()), flip=True, calibration=calibration)  # same settings: accepted
    with pytest.raises(ConfigError, match="estimator settings"):
        UncertaintyEstimator(_plain_translator(Ramp()), flip=True, shift=1, calibration=calibration)


def test_settings_are_checked_before_any_input() -> None:
    with pytest.raises(ConfigError, match="cycle"):
        UncertaintySettings(calibration=uncalibrated_calibration(["spread", "cycle"]))  # cycle needs G_B
    with pytest.raises(ConfigError, match="nothing to estimate"):
        UncertaintySettings(flip=False)
    with pytest.raises(ConfigError, match="odd"):
        UncertaintySettings(cycle_smoothing=4)
    assert not UncertaintySettings().calibrated and "UNCALIBRATED" in UncertaintySettings().description


@pytest.fixture
def tiny_reverse() -> ResNetGenerator:
    torch.manual_seed(1)
    return ResNetGenerator(channels=4, num_res_blocks=1).eval()


def _series(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]


def test_translate_path_writes_the_map_beside_every_export(
    tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module, tiny_reverse: torch.nn.Module
) -> None:
    settings = UncertaintySettings(reverse=tiny_reverse, shift=1)
    export = "nifti,png,nifti-slices,dicom"
    written = translate_path(ct_nifti, tmp_path / "out", tiny_net, image_size=32, export=export, uncertainty=settings)
    nifti, png, slices, dicom, unc_nifti, unc_png, unc_slices, unc_dicom = written
    assert unc_nifti.name == "head_ct_synthetic_mri_uncertainty.nii.gz" and unc_dicom.name.endswith(
        "_uncertainty_dicom"
    )
    mri, unc = nib.load(nifti), nib.load(unc_nifti)
    assert unc.shape == mri.shape and unc.get_data_dtype() == mri.get_data_dtype() == np.int16  # scaled [0, 1]
    np.testing.assert_allclose(unc.affine, mri.affine)
    np.testing.assert_allclose(unc.header.get_zooms(), mri.header.get_zooms())
    values = unc.get_fdata()
    assert values.min() == 0.0 and values.max() <= 1.0 and (values > 0).mean() > 0.2  # 0 outside the head only
    assert [p.name.replace("_uncertainty", "") for p in sorted(unc_png.iterdir())] == sorted(
        p.name for p in png.iterdir()
    )
    assert len(list(unc_slices.iterdir())) == len(list(slices.iterdir())) == 6
    first = np.asarray(Image.open(sorted(unc_png.iterdir())[0]))
    assert first.shape == np.asarray(Image.open(sorted(png.iterdir())[0])).shape
    maps, synthetic = _series(unc_dicom), _series(dicom)
    assert len(maps) == len(synthetic) == 6
    head = maps[0]
    assert "UNCERTAINTY" in head.SeriesDescription and "UNCALIBRATED" in head.SeriesDescription
    assert list(head.ImageType) == ["DERIVED", "SECONDARY", "OTHER"] and head.SeriesNumber != synthetic[0].SeriesNumber
    assert head.StudyInstanceUID == synthetic[0].StudyInstanceUID
    assert head.FrameOfReferenceUID == synthetic[0].FrameOfReferenceUID
    assert head.SeriesInstanceUID != synthetic[0].SeriesInstanceUID
    for a, b in zip(maps, synthetic, strict=True):
        assert list(a.ImagePositionPatient) == list(b.ImagePositionPatient)
    # switching the map on does not change the synthetic MRI
    (plain,) = translate_path(ct_nifti, tmp_path / "plain", tiny_net, image_size=32)
    np.testing.assert_array_equal(nib.load(plain).get_fdata(), mri.get_fdata())


def test_two_dimensional_input_gets_a_png_map(tmp_path: Path, tiny_net: torch.nn.Module) -> None:
    ramp = np.tile(np.linspace(0, 255, 40, dtype=np.float32)[:, None], (1, 24))
    source = write_png(ramp, tmp_path / "slice.png")
    settings = UncertaintySettings()
    _, unc = translate_path(source, tmp_path / "out", tiny_net, image_size=32, export="png", uncertainty=settings)
    assert unc.name == "slice_synthetic_mri_uncertainty.png"
    assert np.asarray(Image.open(unc)).shape == (24, 40)


def test_nothing_is_written_when_a_map_output_exists(tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "head_ct_synthetic_mri_uncertainty_png"
    existing.mkdir()
    settings = UncertaintySettings()
    with pytest.raises(OutputExistsError, match="uncertainty_png"):
        translate_path(ct_nifti, out_dir, tiny_net, image_size=32, export="nifti,png", uncertainty=settings)
    assert sorted(p.name for p in out_dir.iterdir()) == [existing.name] and not any(existing.iterdir())
