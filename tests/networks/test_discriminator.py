"""PatchDiscriminator: logits only, 256² → 30×30, 70×70 receptive field (by gradient), CycleGAN parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medtranslate.errors import ConfigError
from medtranslate.networks import PatchDiscriminator, count_parameters


def test_logits_map_at_256() -> None:
    torch.manual_seed(0)
    net = PatchDiscriminator(channels=8)
    y = net(torch.rand(1, 1, 256, 256) * 2 - 1)
    assert isinstance(y, torch.Tensor)
    assert y.shape == (1, 1, 30, 30)
    assert torch.isfinite(y).all()


def test_logits_are_monai_last_feature_map() -> None:
    torch.manual_seed(0)
    net = PatchDiscriminator(channels=4)
    x = torch.rand(2, 1, 64, 64)
    features = super(PatchDiscriminator, net).forward(x)  # MONAI's list of feature maps
    torch.testing.assert_close(net(x), features[-1])


def test_3d() -> None:
    y = PatchDiscriminator(spatial_dims=3, channels=4, in_channels=2)(torch.rand(1, 2, 32, 32, 32))
    assert y.shape == (1, 1, 2, 2, 2)


@pytest.mark.parametrize(("num_layers_d", "field"), [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_receptive_field_analytic(num_layers_d: int, field: int) -> None:
    assert PatchDiscriminator(channels=2, num_layers_d=num_layers_d).receptive_field == field


def test_receptive_field_by_gradient() -> None:
    # without normalisation (instance norm couples every position), one logit depends on exactly a 70×70 patch
    torch.manual_seed(0)
    net = PatchDiscriminator(channels=4, norm=None).double()
    x = torch.rand(1, 1, 128, 128, dtype=torch.float64, requires_grad=True)
    logits = net(x)
    assert logits.shape == (1, 1, 14, 14)
    logits[0, 0, 7, 7].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert (rows.max() - rows.min() + 1).item() == 70
    assert (cols.max() - cols.min() + 1).item() == 70
    assert rows.min().item() == 7 * 8 - 23  # stride 8, padding 1 at strides 1, 2, 4, 8, 8


def test_parameter_counts() -> None:
    with torch.device("meta"):
        assert count_parameters(PatchDiscriminator()) == 2_761_793
        # CycleGAN keeps a bias before instance norm in the three middle convs: 128 + 256 + 512 more
        assert count_parameters(PatchDiscriminator(bias=True)) == 2_762_689
        assert count_parameters(PatchDiscriminator(in_channels=3, bias=True)) == 2_764_737  # CycleGAN's RGB count


def test_cyclegan_layout() -> None:
    net = PatchDiscriminator()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(4, 4)] * 5
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert [c.padding for c in convs] == [(1, 1)] * 5
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in net.initial_conv.modules())
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 and all(not m.affine and not m.track_running_stats for m in norms)
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)


def test_bias_before_instance_norm_changes_nothing() -> None:
    # why MONAI's bias=False is the same function as CycleGAN's biased convs: instance norm removes the mean
    torch.manual_seed(0)
    with_bias = PatchDiscriminator(channels=4, bias=True)
    for name, param in with_bias.named_parameters():
        if name.endswith("conv.bias"):
            nn.init.normal_(param)
    without = PatchDiscriminator(channels=4)
    missing, unexpected = without.load_state_dict(with_bias.state_dict(), strict=False)
    assert not missing and len(unexpected) == 3
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    torch.testing.assert_close(without.double()(x), with_bias.double()(x), atol=1e-10, rtol=1e-10)


def test_invalid_spatial_dims() -> None:
    with pytest.raises(ConfigError, match="spatial_dims"):
        PatchDiscriminator(spatial_dims=1)
