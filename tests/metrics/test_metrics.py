"""Values of the paired metrics, distribution distances, the paper's protocol, baselines and registration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from medtranslate.metrics import (
    bootstrap_ci,
    histogram_match,
    intensity_wasserstein,
    inversion_histogram_baseline,
    paired_metrics,
    paper_protocol,
    register_to,
    sliced_wasserstein_distance,
    symmetric_to_unit,
)


def _disc(size: int = 64, radius: float = 0.7) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    r = torch.sqrt(xx**2 + (yy * 1.2) ** 2)
    return torch.where(r < radius, 0.5 + 0.3 * torch.cos(6 * xx) * torch.sin(4 * yy), torch.zeros(()))


def test_paired_metrics_known_values() -> None:
    target = _disc()
    same = paired_metrics(target, target)
    assert same["MAE"] == 0 and same["MSE"] == 0 and math.isinf(same["PSNR"])
    assert same["SSIM"] == pytest.approx(1.0, abs=1e-6)
    shifted = paired_metrics(target + 0.1, target, data_range=1.0)
    assert shifted["MAE"] == pytest.approx(0.1, abs=1e-6)
    assert shifted["MSE"] == pytest.approx(0.01, abs=1e-6)
    assert shifted["PSNR"] == pytest.approx(20.0, abs=1e-3)
    assert shifted["SSIM"] < 1.0
    assert "MS-SSIM" not in shifted  # 64 px is too small for MONAI's 5-scale MS-SSIM


def test_paired_metrics_mask_ignores_outside() -> None:
    target = _disc()
    mask = target > 0
    pred = target.clone()
    pred[~mask] = 1.0  # wrong only outside the mask
    inside = paired_metrics(pred, target, mask=mask)
    assert inside["MAE"] == 0 and inside["SSIM"] > 0.99
    assert paired_metrics(pred, target)["MAE"] > 0.1


def test_ms_ssim_when_large_enough() -> None:
    target = _disc(176)
    assert paired_metrics(target, target)["MS-SSIM"] == pytest.approx(1.0, abs=1e-5)


def test_symmetric_to_unit() -> None:
    assert torch.equal(symmetric_to_unit(torch.tensor([-1.0, 0.0, 1.0, 2.0])), torch.tensor([0.0, 0.5, 1.0, 1.0]))


def test_sliced_wasserstein_orders_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.stack([_disc(64, 0.5 + 0.02 * i) for i in range(8)])[:, None]
    similar = base + 0.01 * torch.randn(base.shape, generator=gen)
    noise = torch.rand(base.shape, generator=gen) * 2 - 1
    d_similar = sliced_wasserstein_distance(base, similar)
    d_noise = sliced_wasserstein_distance(base, noise)
    assert d_similar < d_noise / 5
    assert sliced_wasserstein_distance(base, noise) == d_noise  # seeded: repeatable


def test_intensity_wasserstein_shift() -> None:
    x = torch.rand(4, 1, 32, 32) * 0.5
    assert intensity_wasserstein(x, x + 0.2, threshold=None) == pytest.approx(0.2, abs=1e-4)


def test_bootstrap_ci_brackets_value() -> None:
    x = torch.rand(20, 1, 8, 8)
    y = torch.rand(20, 1, 8, 8) + 0.3
    ci = bootstrap_ci(lambda a, b: intensity_wasserstein(a, b, threshold=None), x, y, n_boot=50)
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"]
    assert 0.2 < ci["value"] < 0.4


def test_paper_protocol_reproduces_scale_mix() -> None:
    # an MSE of 0.37901 on [-1, 1] is what the paper's 52.344 dB corresponds to with a peak of 255
    fake = torch.zeros(1, 1, 10, 10)
    ref = torch.full((1, 1, 10, 10), math.sqrt(0.37901))
    out = paper_protocol(fake, ref)
    assert out["PSNR_paper_scale_mix"] == pytest.approx(52.344, abs=1e-3)
    assert out["PSNR_[-1,1]"] == pytest.approx(10.0 * math.log10(4 / 0.37901), abs=1e-4)
    assert out["PSNR_0-255"] == pytest.approx(out["PSNR_[-1,1]"], abs=1e-4)


def test_histogram_match_matches_quantiles() -> None:
    gen = torch.Generator().manual_seed(1)
    source = torch.rand(1, 1, 64, 64, generator=gen) * 0.5
    reference = torch.randn(1, 1, 64, 64, generator=gen).clamp(-0.8, 0.8) * 0.5 + 0.2
    matched = histogram_match(source, reference)
    q = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(torch.quantile(matched.flatten(), q), torch.quantile(reference.flatten(), q), atol=0.03)
    # order is preserved: the mapping is monotone
    order = source.flatten().argsort()
    assert (matched.flatten()[order].diff() >= -1e-6).all()


def test_inversion_baseline_keeps_background() -> None:
    ct = torch.full((1, 1, 32, 32), -1.0)
    ct[..., 8:24, 8:24] = 0.2
    ct[..., 8:10, 8:24] = 0.9  # "bone"
    out = inversion_histogram_baseline(ct, torch.rand(2, 1, 32, 32) * 1.5 - 0.5)
    assert (out[ct == -1] == -1).all()
    assert out[..., 8, 12] < out[..., 16, 16]  # bone ends darker than soft tissue, as in T1


def test_registration_recovers_shift_and_rotation() -> None:
    fixed = _disc(96).numpy()
    moving = ndimage.shift(ndimage.rotate(fixed, 8, reshape=False, order=1), (4, -3), order=1)
    result = register_to(fixed, moving, transform="rigid")
    before = np.abs(moving - fixed)[fixed > 0].mean()
    after = np.abs(result.image - fixed)[(fixed > 0) & result.valid].mean()
    assert after < before / 3


def test_sliced_wasserstein_small_images_use_fewer_levels() -> None:
    x = torch.rand(3, 1, 16, 16)
    assert sliced_wasserstein_distance(x, x + 0.5) > sliced_wasserstein_distance(x, x.clone())
    with pytest.raises(ValueError, match="smaller than"):
        sliced_wasserstein_distance(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4))
