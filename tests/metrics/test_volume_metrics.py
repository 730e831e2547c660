"""Through-plane consistency on synthetic cases: identical slices and ramps do not flicker, noise does."""

from __future__ import annotations

import pytest
import torch

from medtranslate.errors import DimensionError
from medtranslate.metrics.volume import slice_flicker, through_plane_consistency


def _smooth_volume() -> torch.Tensor:
    x = torch.linspace(0, 1, 16)
    plane = torch.outer(x, x)
    z = torch.linspace(0, 1, 10)
    return plane[..., None] * 0.5 + 0.5 * z  # linear through the plane: no second difference


def test_identical_slices_and_linear_ramps_score_zero_flicker() -> None:
    assert slice_flicker(torch.rand(8, 8, 1).repeat(1, 1, 6)) == 0.0
    assert slice_flicker(_smooth_volume()) == pytest.approx(0.0, abs=1e-6)


def test_slice_wise_noise_scores_high_and_the_ratio_says_how_much() -> None:
    g = torch.Generator().manual_seed(0)
    real = _smooth_volume() + 0.01 * torch.rand(16, 16, 10, generator=g)
    noisy = real + 0.1 * torch.rand(1, 1, 10, generator=g)  # each slice shifted by its own offset: flicker
    assert slice_flicker(noisy) > 5 * slice_flicker(real)
    assert through_plane_consistency(real, real) == pytest.approx(1.0)
    assert through_plane_consistency(noisy, real) > 5


def test_voxel_noise_is_smoothed_away_slice_offsets_are_not() -> None:
    g = torch.Generator().manual_seed(1)
    base = _smooth_volume()
    voxel_noise = base + 0.05 * torch.randn(16, 16, 10, generator=g)
    slice_offsets = base + 0.05 * torch.randn(1, 1, 10, generator=g)
    assert slice_flicker(slice_offsets) > 3 * slice_flicker(voxel_noise)
    assert slice_flicker(voxel_noise, in_plane_sigma=0) > slice_flicker(voxel_noise)


def test_mask_and_axis() -> None:
    volume = torch.zeros(6, 6, 5)
    volume[:3, :, 2] = 1.0  # flicker only in the first half
    mask = torch.zeros(6, 6, 5, dtype=torch.bool)
    mask[3:] = True
    assert slice_flicker(volume, mask, in_plane_sigma=0) == 0.0 and slice_flicker(volume) > 0
    assert slice_flicker(volume.permute(2, 0, 1), axis=0) == pytest.approx(slice_flicker(volume))
    assert slice_flicker(volume[None]) == pytest.approx(slice_flicker(volume))


def test_volumes_of_fewer_than_three_slices_are_refused() -> None:
    with pytest.raises(DimensionError, match=">= 3 slices"):
        slice_flicker(torch.zeros(4, 4, 2))
    with pytest.raises(DimensionError, match="mask shape"):
        slice_flicker(torch.zeros(4, 4, 3), torch.ones(4, 4, 4, dtype=torch.bool))
