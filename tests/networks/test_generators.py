"""ResNet and U-Net generators: shapes, tanh range, CycleGAN parameter counts, padding, dropout, size errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from medtranslate.errors import ConfigError, DimensionError
from medtranslate.networks import ResidualBlock, ResNetGenerator, UNetGenerator, count_parameters


def _check_output(y: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert y.shape == shape
    assert torch.isfinite(y).all()
    assert y.abs().max() < 1  # tanh: strictly inside (-1, 1)
    assert y.std() > 0  # not a constant map


@pytest.mark.parametrize("upsample_mode", ["deconv", "resize_conv"])
@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "zeros"])
def test_resnet_2d_shape_and_range(upsample_mode: str, padding_mode: str) -> None:
    torch.manual_seed(0)
    net = ResNetGenerator(channels=8, num_res_blocks=2, upsample_mode=upsample_mode, padding_mode=padding_mode)
    _check_output(net(torch.rand(2, 1, 32, 32) * 2 - 1), (2, 1, 32, 32))


def test_resnet_2d_64_three_downsamplings() -> None:
    torch.manual_seed(0)
    net = ResNetGenerator(in_channels=2, out_channels=3, channels=8, num_res_blocks=1, num_downsamplings=3)
    assert net.encoder[-3].out_channels == 64  # 8 * 2**3 at the bottleneck
    _check_output(net(torch.rand(1, 2, 64, 64) * 2 - 1), (1, 3, 64, 64))


@pytest.mark.parametrize("upsample_mode", ["deconv", "resize_conv"])
def test_resnet_3d(upsample_mode: str) -> None:
    torch.manual_seed(0)
    net = ResNetGenerator(spatial_dims=3, channels=4, num_res_blocks=1, upsample_mode=upsample_mode)
    assert isinstance(net.encoder[0], nn.ReflectionPad3d)
    _check_output(net(torch.rand(1, 1, 16, 16, 16) * 2 - 1), (1, 1, 16, 16, 16))


def test_unet_2d_and_3d() -> None:
    torch.manual_seed(0)
    _check_output(UNetGenerator(channels=8, num_downs=5)(torch.rand(2, 1, 32, 32) * 2 - 1), (2, 1, 32, 32))
    _check_output(UNetGenerator(channels=8, num_downs=6)(torch.rand(1, 1, 64, 64) * 2 - 1), (1, 1, 64, 64))
    net3d = UNetGenerator(spatial_dims=3, in_channels=2, channels=4, num_downs=4)
    _check_output(net3d(torch.rand(1, 2, 16, 16, 16) * 2 - 1), (1, 1, 16, 16, 16))


def test_unet_bottleneck_is_one_pixel_at_2_pow_num_downs() -> None:
    net = UNetGenerator(channels=4, num_downs=5)
    seen: list[tuple[int, ...]] = []
    net.down[-1].register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
    net(torch.zeros(1, 1, 32, 32))
    assert seen == [(1, 32, 1, 1)]  # channels * min(2**4, 8)


def _meta_count(cls: type[nn.Module], **kwargs: object) -> int:
    with torch.device("meta"):  # no memory, no forward: counts only
        return count_parameters(cls(**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 7_825_153),  # the paper's 6-block generator, one channel
        ({"in_channels": 3, "out_channels": 3}, 7_837_699),  # CycleGAN resnet_6blocks
        ({"in_channels": 3, "out_channels": 3, "num_res_blocks": 9}, 11_378_179),  # CycleGAN resnet_9blocks
        ({"num_res_blocks": 9}, 11_365_633),
        ({"upsample_mode": "resize_conv"}, 7_825_153),  # same weights, other upsampling
        ({"padding_mode": "zeros"}, 7_825_153),
    ],
)
def test_resnet_parameter_counts(kwargs: dict, expected: int) -> None:
    assert _meta_count(ResNetGenerator, **kwargs) == expected


def test_resnet_count_formula() -> None:
    # each residual block: two 3x3 convs of 256 -> 256 channels with bias, instance norm without parameters
    per_block = 2 * (256 * 256 * 9 + 256)
    assert _meta_count(ResNetGenerator, num_res_blocks=9) - _meta_count(ResNetGenerator) == 3 * per_block
    # one input and one output channel instead of three: 7x7 stem and head lose 2 * 49 * 64 weights, head 2 biases
    assert _meta_count(ResNetGenerator, in_channels=3, out_channels=3) - _meta_count(ResNetGenerator) == 12_546


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 54_403_457),
        ({"in_channels": 3, "out_channels": 3, "norm": "BATCH"}, 54_413_955),  # pix2pix unet_256: 54.414 M
        ({"in_channels": 3, "out_channels": 3, "norm": "BATCH", "num_downs": 7}, 41_828_995),  # unet_128
    ],
)
def test_unet_parameter_counts(kwargs: dict, expected: int) -> None:
    assert _meta_count(UNetGenerator, **kwargs) == expected


def test_instance_norm_matches_cyclegan() -> None:
    net = ResNetGenerator(channels=4, num_res_blocks=1)
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.bias is not None for m in convs)  # kept before a parameter-free instance norm, as in CycleGAN
    batch = ResNetGenerator(channels=4, num_res_blocks=1, norm="BATCH")
    assert batch.encoder[1].bias is None  # batch norm has its own shift


def test_residual_block_is_identity_with_zero_weights() -> None:
    block = ResidualBlock(2, 8)
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
    x = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize(("padding_mode", "uniform"), [("reflect", True), ("replicate", True), ("zeros", False)])
def test_stem_padding_values(padding_mode: str, uniform: bool) -> None:
    # the 7x7 stem of a constant image: reflection or replication padding keeps it uniform, zeros darken the border
    net = ResNetGenerator(channels=4, num_res_blocks=1, padding_mode=padding_mode)
    stem = net.encoder[:2] if padding_mode != "zeros" else net.encoder[:1]
    with torch.no_grad():
        y = stem(torch.full((1, 1, 16, 16), 0.5))
    assert y.shape == (1, 4, 16, 16)
    spread = (y.amax(dim=(2, 3)) - y.amin(dim=(2, 3))).max()
    assert (spread < 1e-5) == uniform


def test_resize_conv_avoids_checkerboard() -> None:
    # a stride-2 transposed 3x3 conv gives even and odd output pixels different numbers of taps, so a uniform
    # feature map comes out with a period-2 pattern; nearest upsampling then a reflection-padded conv keeps it uniform
    x = torch.ones(1, 16, 8, 8)
    torch.manual_seed(0)
    deconv = ResNetGenerator(channels=4, num_res_blocks=1).decoder[0]
    torch.manual_seed(0)
    resize = ResNetGenerator(channels=4, num_res_blocks=1, upsample_mode="resize_conv").decoder[:3]
    with torch.no_grad():
        y_deconv, y_resize = deconv(x), resize(x)
    assert y_deconv.shape == y_resize.shape == (1, 8, 16, 16)
    interior = y_deconv[..., 2:-2, 2:-2]
    assert (interior[..., 0::2, 0::2] - interior[..., 1::2, 1::2]).abs().max() > 1e-3
    assert (y_resize.amax(dim=(2, 3)) - y_resize.amin(dim=(2, 3))).max() < 1e-5


def test_dropout_layers() -> None:
    resnet = ResNetGenerator(channels=4, num_res_blocks=3, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in resnet.modules()) == 3
    assert not any(isinstance(m, nn.Dropout) for m in ResNetGenerator(channels=4).modules())
    with torch.device("meta"):
        unet = UNetGenerator(num_downs=8, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in unet.modules()) == 3  # CycleGAN: num_downs - 5
    x = torch.rand(1, 1, 32, 32)
    torch.manual_seed(0)
    assert not torch.equal(resnet(x), resnet(x))
    resnet.eval()
    assert torch.equal(resnet(x), resnet(x))


def test_flops_of_reference_generator() -> None:
    with torch.device("meta"):  # counted on shapes only
        net, x = ResNetGenerator(), torch.empty(1, 1, 256, 256)
        with FlopCounterMode(display=False) as counter:
            net(x)
    assert 60e9 < counter.get_total_flops() < 80e9  # ≈ 68.5 GFLOP per 256² slice


@pytest.mark.parametrize(
    ("net", "shape", "factor"),
    [
        (ResNetGenerator(channels=4, num_res_blocks=1), (1, 1, 30, 32), 4),
        (ResNetGenerator(spatial_dims=3, channels=4, num_res_blocks=1), (1, 1, 16, 16, 18), 4),
        (UNetGenerator(channels=4, num_downs=5), (1, 1, 48, 48), 32),
        (UNetGenerator(channels=4, num_downs=5), (1, 1, 16, 16), 32),
    ],
)
def test_size_constraint(net: nn.Module, shape: tuple[int, ...], factor: int) -> None:
    with pytest.raises(DimensionError, match=f"not divisible by {factor}"):
        net(torch.zeros(shape))


def test_wrong_number_of_dimensions() -> None:
    with pytest.raises(DimensionError, match=r"\(N, C, \*, \*\)"):
        UNetGenerator(channels=4, num_downs=2)(torch.zeros(1, 8, 8))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ResNetGenerator(spatial_dims=1), "spatial_dims"),
        (lambda: ResNetGenerator(upsample_mode="bilinear"), "upsample_mode"),
        (lambda: ResNetGenerator(padding_mode="zero"), "padding_mode"),
        (lambda: UNetGenerator(spatial_dims=4), "spatial_dims"),
        (lambda: UNetGenerator(num_downs=1), "num_downs"),
    ],
)
def test_invalid_arguments(build, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()
