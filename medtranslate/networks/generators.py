"""Image-to-image generators of CycleGAN (Zhu et al. 2017), built from MONAI's layer factories.

* :class:`ResNetGenerator`: Johnson et al.'s ResNet generator as used by CycleGAN and by Jha & Iima (ICAART 2024):
  7×7 stem, strided downsamplings, residual blocks at the bottleneck, fractionally strided upsamplings, 7×7 head,
  tanh. Reflection padding as in CycleGAN.
* :class:`UNetGenerator`: CycleGAN's / pix2pix's ``unet_256`` (``unet_128`` with ``num_downs=7``).

Both take ``(N, in_channels, *spatial)`` in [-1, 1] and return ``(N, out_channels, *spatial)`` in (-1, 1).
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Act, Conv
from torch import nn

from medtranslate.errors import ConfigError
from medtranslate.networks.layers import (
    PADDING_MODES,
    SPATIAL_DIMS,
    check_choice,
    check_spatial_size,
    conv_bias,
    norm_layer,
    padded_conv,
)

__all__ = ["UPSAMPLE_MODES", "ResNetGenerator", "ResidualBlock", "UNetGenerator"]

#: ``upsample_mode`` values of :class:`ResNetGenerator`.
UPSAMPLE_MODES = ("deconv", "resize_conv")


def _check_scripted(x: torch.Tensor, spatial_dims: int, factor: int) -> None:
    """``forward``'s input check under TorchScript, which cannot compile :func:`check_spatial_size`: the same
    reasons as a ``RuntimeError`` (eager mode raises the :class:`DimensionError`)."""
    if x.dim() != spatial_dims + 2:
        raise RuntimeError("expected a batch of shape (N, C, *spatial) with spatial_dims spatial axes")
    for side in x.shape[2:]:
        if side % factor != 0:
            raise RuntimeError("spatial size is not divisible by 2**number of downsamplings; pad or resize the input")


class ResidualBlock(nn.Module):
    """``x + F(x)`` with ``F`` = pad, 3×3 conv, norm, ReLU, [dropout], pad, 3×3 conv, norm (CycleGAN's block).

    Args:
        spatial_dims: 2 or 3.
        channels: input = output channels.
        norm: MONAI norm name or ``(name, kwargs)``.
        padding_mode: ``"reflect"``, ``"replicate"`` or ``"zeros"``.
        dropout: element-wise dropout probability between the two convolutions (CycleGAN uses 0.5 when enabled).
        bias: whether the convolutions have a bias.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        norm: str | tuple = "INSTANCE",
        padding_mode: str = "reflect",
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            *padded_conv(spatial_dims, channels, channels, 3, padding_mode, bias),
            norm_layer(norm, spatial_dims, channels),
            Act[Act.RELU](inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            *padded_conv(spatial_dims, channels, channels, 3, padding_mode, bias),
            norm_layer(norm, spatial_dims, channels),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResNetGenerator(nn.Module):
    """CycleGAN's ResNet generator (Johnson et al. 2016), the paper's CT ↔ MRI generator.

    For a 256² input and the defaults: 7×7 conv (256²×64) → two stride-2 3×3 convs (128²×128, 64²×256) → 6
    residual blocks at 64²×256 → two fractionally strided 3×3 convs (``ConvTranspose``, ``output_padding=1``) back
    to 256²×64 → 7×7 conv → tanh. Every conv but the last is followed by the norm and a ReLU.

    Normalisation defaults to MONAI's ``"INSTANCE"``: ``InstanceNorm`` with ``affine=False`` and
    ``track_running_stats=False``, exactly CycleGAN's ``--norm instance``; convolutions followed by it keep their
    bias (CycleGAN's rule), so the parameter counts match CycleGAN's.

    Parameters (``spatial_dims=2``, ``in_channels=out_channels=1``; CycleGAN's RGB counts are 12 546 higher):

    =========================  ============  ============
    ``num_res_blocks``         ``channels``  parameters
    =========================  ============  ============
    6 (paper)                  64            7 825 153
    9 (``resnet_9blocks``)     64            11 365 633
    =========================  ============  ============

    The 6-block, 64-channel generator costs ≈ 68.5 GFLOP (34.2 G multiply-adds) per 256² slice.

    Args:
        spatial_dims: 2 (slices) or 3 (volumes).
        in_channels: input channels.
        out_channels: output channels.
        channels: filters of the first conv (CycleGAN's ``ngf``); doubled by each downsampling.
        num_res_blocks: residual blocks at the bottleneck (6 in the paper, 9 in CycleGAN for 256²).
        num_downsamplings: stride-2 downsamplings (and as many upsamplings); each input side must be divisible by
            ``2**num_downsamplings``.
        norm: MONAI norm name or ``(name, kwargs)``, e.g. ``"INSTANCE"``, ``"BATCH"``,
            ``("INSTANCE", {"affine": True})``.
        upsample_mode: ``"deconv"`` (fractionally strided conv, as in the paper) or ``"resize_conv"`` (nearest
            neighbour ×2 then a padded 3×3 conv, against checkerboard artefacts; Odena et al. 2016). Both have the
            same parameter count.
        padding_mode: padding of the stride-1 convs: ``"reflect"`` (CycleGAN), ``"replicate"`` or ``"zeros"``.
        dropout: dropout inside the residual blocks (CycleGAN's ``--no_dropout`` is 0, its dropout 0.5).

    Raises:
        ConfigError: for an unsupported ``spatial_dims``, ``upsample_mode`` or ``padding_mode``.
        DimensionError: from ``forward`` when an input side is not divisible by ``2**num_downsamplings``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 64,
        num_res_blocks: int = 6,
        num_downsamplings: int = 2,
        norm: str | tuple = "INSTANCE",
        upsample_mode: str = "deconv",
        padding_mode: str = "reflect",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_choice(owner, "spatial_dims", spatial_dims, SPATIAL_DIMS)
        check_choice(owner, "upsample_mode", upsample_mode, UPSAMPLE_MODES)
        check_choice(owner, "padding_mode", padding_mode, PADDING_MODES)
        self.spatial_dims = spatial_dims
        self.num_downsamplings = num_downsamplings
        bias = conv_bias(norm, spatial_dims)
        conv_type = Conv[Conv.CONV, spatial_dims]

        def norm_relu(ch: int) -> list[nn.Module]:
            return [norm_layer(norm, spatial_dims, ch), Act[Act.RELU](inplace=True)]

        encoder: list[nn.Module] = [
            *padded_conv(spatial_dims, in_channels, channels, 7, padding_mode, bias),
            *norm_relu(channels),
        ]
        for i in range(num_downsamplings):
            ch = channels * 2**i
            encoder += [conv_type(ch, 2 * ch, 3, stride=2, padding=1, bias=bias), *norm_relu(2 * ch)]
        self.encoder = nn.Sequential(*encoder)

        bottleneck = channels * 2**num_downsamplings
        self.res_blocks = nn.Sequential(
            *(ResidualBlock(spatial_dims, bottleneck, norm, padding_mode, dropout, bias) for _ in range(num_res_blocks))
        )

        decoder: list[nn.Module] = []
        for i in range(num_downsamplings, 0, -1):
            ch = channels * 2**i
            if upsample_mode == "deconv":
                decoder.append(
                    Conv[Conv.CONVTRANS, spatial_dims](ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
                )
            else:
                decoder += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    *padded_conv(spatial_dims, ch, ch // 2, 3, padding_mode, bias),
                ]
            decoder += norm_relu(ch // 2)
        decoder += [*padded_conv(spatial_dims, channels, out_channels, 7, padding_mode, True), Act[Act.TANH]()]
        self.decoder = nn.Sequential(*decoder)

    @torch.jit.unused
    def _check(self, x: torch.Tensor) -> None:
        check_spatial_size(type(self).__name__, x, self.spatial_dims, 2**self.num_downsamplings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x`` of shape ``(N, in_channels, *spatial)`` to ``(N, out_channels, *spatial)`` in (-1, 1)."""
        if torch.jit.is_scripting():
            _check_scripted(x, self.spatial_dims, 1 << self.num_downsamplings)
        else:
            self._check(x)
        return self.decoder(self.res_blocks(self.encoder(x)))


class UNetGenerator(nn.Module):
    """CycleGAN's / pix2pix's U-Net generator (``unet_256``: ``num_downs=8``; ``unet_128``: ``num_downs=7``).

    Written here rather than taken from MONAI: MONAI's ``UNet`` uses 3×3 strided convs with a conv-only head and
    ``BasicUNet`` uses max pooling and double convs, so neither reproduces the pix2pix U-Net whose weights and
    behaviour CycleGAN users know. This one does: ``num_downs`` levels of 4×4 stride-2 convs (norm after each but
    the first and the innermost, then LeakyReLU 0.2 but after the innermost), mirrored by 4×4 stride-2 transposed
    convs (ReLU before, norm after, tanh after the last), each decoder level fed the concatenation of the encoder
    features of its level and the decoder output below. The skips carry the LeakyReLU-activated features, which is
    what CycleGAN computes too (there an in-place LeakyReLU of the next level activates the skip tensor). Filters
    are ``channels * min(2**level, 8)``; ``dropout`` is applied in the decoder levels with 8·``channels`` filters
    between the fourth and the innermost (CycleGAN's 0.5 when enabled).

    The innermost feature map is 1 pixel per side for an input side of ``2**num_downs`` (256 for ``unet_256``);
    every side must be divisible by ``2**num_downs``.

    Parameters (``spatial_dims=2``, ``in_channels=out_channels=1``, ``channels=64``, instance norm): ``num_downs=8``
    54 403 457; ``num_downs=7`` 41 819 521 (RGB with batch norm: 54 413 955 and 41 828 995, pix2pix's counts).

    Args:
        spatial_dims: 2 (slices) or 3 (volumes).
        in_channels: input channels.
        out_channels: output channels.
        channels: filters of the first conv (CycleGAN's ``ngf``).
        num_downs: number of stride-2 levels, at least 2.
        norm: MONAI norm name or ``(name, kwargs)``.
        dropout: decoder dropout of the 8·``channels`` middle levels (needs ``num_downs >= 6`` to have any).

    Raises:
        ConfigError: for an unsupported ``spatial_dims`` or ``num_downs < 2``.
        DimensionError: from ``forward`` when an input side is not divisible by ``2**num_downs``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 64,
        num_downs: int = 8,
        norm: str | tuple = "INSTANCE",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_choice(owner, "spatial_dims", spatial_dims, SPATIAL_DIMS)
        if num_downs < 2:
            raise ConfigError(owner, f"num_downs must be at least 2, got {num_downs}")
        self.spatial_dims = spatial_dims
        self.num_downs = num_downs
        bias = conv_bias(norm, spatial_dims)
        conv_type = Conv[Conv.CONV, spatial_dims]
        deconv_type = Conv[Conv.CONVTRANS, spatial_dims]

        inner = [channels * min(2**level, 8) for level in range(num_downs)]
        outer = [in_channels, *inner[:-1]]
        innermost = num_downs - 1
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(num_downs):
            down: list[nn.Module] = [conv_type(outer[level], inner[level], 4, stride=2, padding=1, bias=bias)]
            if 0 < level < innermost:
                down.append(norm_layer(norm, spatial_dims, inner[level]))
            if level < innermost:
                down.append(Act[Act.LEAKYRELU](negative_slope=0.2))
            self.down.append(nn.Sequential(*down))

            up_in = inner[level] if level == innermost else 2 * inner[level]
            if level == 0:
                self.up.append(
                    nn.Sequential(
                        Act[Act.RELU](),
                        deconv_type(up_in, out_channels, 4, stride=2, padding=1),
                        Act[Act.TANH](),
                    )
                )
                continue
            up: list[nn.Module] = [
                Act[Act.RELU](),
                deconv_type(up_in, outer[level], 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, spatial_dims, outer[level]),
            ]
            if dropout > 0 and 4 <= level < innermost:
                up.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*up))

    @torch.jit.unused
    def _check(self, x: torch.Tensor) -> None:
        check_spatial_size(type(self).__name__, x, self.spatial_dims, 2**self.num_downs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x`` of shape ``(N, in_channels, *spatial)`` to ``(N, out_channels, *spatial)`` in (-1, 1)."""
        if torch.jit.is_scripting():
            _check_scripted(x, self.spatial_dims, 1 << self.num_downs)
        else:
            self._check(x)
        skips: list[torch.Tensor] = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        y = self.up[-1](skips[-1])
        for level in range(self.num_downs - 2, -1, -1):
            y = self.up[level](torch.cat([skips[level], y], dim=1))
        return y
