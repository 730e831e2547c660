"""Small layer helpers shared by the generators: padded convolutions, normalisation and the bias rule."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from monai.networks.layers.utils import get_norm_layer
from torch import nn

from medtranslate.errors import ConfigError, DimensionError

__all__ = [
    "PADDING_MODES",
    "SPATIAL_DIMS",
    "check_choice",
    "check_spatial_size",
    "conv_bias",
    "norm_layer",
    "padded_conv",
]

#: supported ``spatial_dims``.
SPATIAL_DIMS = (2, 3)

#: ``padding_mode`` values: explicit reflection or replication padding layers (torch's, as MONAI's ``Pad`` factory
#: has no reflection padding) or the convolution's own zero padding.
PADDING_MODES = ("reflect", "replicate", "zeros")

_PAD_LAYERS: dict[str, dict[int, type[nn.Module]]] = {
    "reflect": {2: nn.ReflectionPad2d, 3: nn.ReflectionPad3d},
    "replicate": {2: nn.ReplicationPad2d, 3: nn.ReplicationPad3d},
}


def check_choice(owner: str, name: str, value: object, choices: tuple) -> None:
    """Raise :class:`~medtranslate.errors.ConfigError` naming ``owner`` unless ``value`` is in ``choices``."""
    if value not in choices:
        raise ConfigError(owner, f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_spatial_size(owner: str, x: torch.Tensor, spatial_dims: int, factor: int) -> None:
    """Raise :class:`DimensionError` unless ``x`` is ``(N, C, *spatial)`` with every side divisible by ``factor``.

    Args:
        owner: name used in the message (the network's class).
        x: the batch given to ``forward``.
        spatial_dims: number of spatial dimensions the network was built for.
        factor: total downsampling factor of the network.
    """
    if torch.jit.is_tracing():  # a traced graph has the example's fixed shapes; checking here only adds warnings
        return
    if x.ndim != spatial_dims + 2:
        raise DimensionError(
            owner, f"expected a batch of shape (N, C, {', '.join('*' * spatial_dims)}), got {tuple(x.shape)}"
        )
    sides = tuple(int(s) for s in x.shape[2:])
    if any(s % factor for s in sides):
        raise DimensionError(
            owner,
            f"spatial size {sides} is not divisible by {factor} (2**number of downsamplings); "
            f"pad or resize the input to a multiple of {factor}",
        )


def norm_layer(norm: str | tuple, spatial_dims: int, channels: int) -> nn.Module:
    """MONAI's normalisation factory for ``channels`` features (``"INSTANCE"`` gives affine=False, no running stats)."""
    return get_norm_layer(name=norm, spatial_dims=spatial_dims, channels=channels)


def conv_bias(norm: str | tuple, spatial_dims: int) -> bool:
    """Whether a convolution followed by ``norm`` keeps its bias.

    CycleGAN's rule, generalised: the bias is dropped when the norm layer has its own learnable shift (batch norm,
    affine instance norm), where a conv bias would be redundant; plain instance norm keeps it (as CycleGAN does).
    """
    return getattr(norm_layer(norm, spatial_dims, 1), "bias", None) is None


def padded_conv(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    padding_mode: str,
    bias: bool = True,
) -> list[nn.Module]:
    """A stride-1 "same" convolution with odd ``kernel_size`` as a list of layers: ``[pad, conv]`` or ``[conv]``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size.
        padding_mode: one of :data:`PADDING_MODES`.
        bias: whether the convolution has a bias.
    """
    conv_type = Conv[Conv.CONV, spatial_dims]
    pad = kernel_size // 2
    if padding_mode == "zeros":
        return [conv_type(in_channels, out_channels, kernel_size, padding=pad, bias=bias)]
    return [_PAD_LAYERS[padding_mode][spatial_dims](pad), conv_type(in_channels, out_channels, kernel_size, bias=bias)]
