"""init_weights statistics and seeding, count_parameters, build_generator / build_discriminator."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medtranslate.errors import ConfigError
from medtranslate.networks import (
    PatchDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    build_discriminator,
    build_generator,
    count_parameters,
    init_weights,
)


def _big_conv(net: nn.Module) -> nn.Module:
    return max(
        (m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))), key=lambda m: m.weight.numel()
    )


def test_normal_init_statistics() -> None:
    net = init_weights(ResNetGenerator(channels=16, num_res_blocks=1, norm=("INSTANCE", {"affine": True})), seed=0)
    weight = _big_conv(net).weight  # 64 * 64 * 9 = 36 864 values
    assert weight.numel() >= 30_000
    assert abs(weight.std().item() - 0.02) < 0.0005
    assert abs(weight.mean().item()) < 0.0005
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(torch.count_nonzero(m.bias) == 0 for m in convs if m.bias is not None)
    norm_weights = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.InstanceNorm2d)])
    assert abs(norm_weights.mean().item() - 1) < 0.005
    assert abs(norm_weights.std().item() - 0.02) < 0.005
    norm_biases = torch.cat([m.bias for m in net.modules() if isinstance(m, nn.InstanceNorm2d)])
    assert torch.count_nonzero(norm_biases) == 0


@pytest.mark.parametrize(
    ("init_type", "expected_std"),
    [
        ("xavier", 0.5 * math.sqrt(2 / (2 * 64 * 9))),  # gain * sqrt(2 / (fan_in + fan_out))
        ("kaiming", math.sqrt(2 / (64 * 9))),  # sqrt(2 / fan_in), gain unused
        ("orthogonal", None),
    ],
)
def test_other_init_types(init_type: str, expected_std: float | None) -> None:
    net = init_weights(ResNetGenerator(channels=16, num_res_blocks=1), init_type=init_type, gain=0.5, seed=0)
    weight = _big_conv(net).weight
    if expected_std is None:  # rows orthogonal with norm gain
        rows = weight.detach().flatten(1)
        torch.testing.assert_close(rows @ rows.T, 0.25 * torch.eye(rows.shape[0]), atol=1e-5, rtol=0)
    else:
        assert abs(weight.std().item() / expected_std - 1) < 0.03


def test_seed_is_reproducible_and_private() -> None:
    a = init_weights(UNetGenerator(channels=4, num_downs=4), seed=3)
    b = init_weights(UNetGenerator(channels=4, num_downs=4), seed=3)
    c = init_weights(UNetGenerator(channels=4, num_downs=4), seed=4)
    for (name, pa), pb, pc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
        if pa.dim() > 1:
            assert not torch.equal(pa, pc), name
    net = ResNetGenerator(channels=4, num_res_blocks=1)
    state = torch.get_rng_state()
    init_weights(net, seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched


def test_invalid_init_type() -> None:
    with pytest.raises(ConfigError, match="init_type"):
        init_weights(nn.Conv2d(1, 1, 3), init_type="uniform")


def test_count_parameters() -> None:
    assert count_parameters(nn.Conv2d(2, 3, 3)) == 2 * 3 * 9 + 3
    frozen = nn.Linear(4, 2)
    frozen.requires_grad_(False)
    assert count_parameters(frozen) == 10


def test_build_generator() -> None:
    net = build_generator("resnet", seed=0, channels=4, num_res_blocks=1)
    assert isinstance(net, ResNetGenerator) and len(net.res_blocks) == 1
    same = build_generator(seed=0, channels=4, num_res_blocks=1)
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(net(x), same(x), rtol=0, atol=0)
    assert abs(_big_conv(net).weight.std().item() - 0.02) < 0.003
    unet = build_generator("unet", seed=0, channels=4, num_downs=4)
    assert isinstance(unet, UNetGenerator) and unet(x).shape == (1, 1, 16, 16)
    default = build_generator("resnet", init_type=None, channels=4, num_res_blocks=1)
    assert _big_conv(default).weight.std().item() > 0.04  # PyTorch default: U(±1/sqrt(fan_in)), std 0.048


def test_build_discriminator() -> None:
    a = build_discriminator(seed=1, channels=4)
    b = build_discriminator(seed=1, channels=4)
    assert isinstance(a, PatchDiscriminator)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_build_unknown_name() -> None:
    with pytest.raises(ConfigError, match="'resnet', 'unet'"):
        build_generator("vgg")
