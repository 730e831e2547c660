"""The 70×70 PatchGAN discriminator: MONAI's ``PatchDiscriminator`` returning only its logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Act
from monai.networks.nets import PatchDiscriminator as MonaiPatchDiscriminator
from torch import nn

from medtranslate.networks.layers import SPATIAL_DIMS, check_choice

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(MonaiPatchDiscriminator):
    """CycleGAN's ``n_layers`` PatchGAN (Isola et al. 2017), as MONAI builds it, with ``forward`` returning the logits.

    MONAI's ``forward`` returns the list of every layer's feature map (for feature-matching losses); here it returns
    only the last, the ``(N, out_channels, *patches)`` logits map, so losses and ``torch.jit.trace`` / ONNX see one
    tensor. The modules and their state-dict keys are MONAI's, so weights load either way.

    With the defaults a 256² slice gives a 30×30 logits map and each logit sees a 70×70 patch
    (:attr:`receptive_field`); 2 761 793 parameters for one input channel.

    Layer layout against CycleGAN's ``NLayerDiscriminator`` (``--netD basic``): the same 4×4 kernels, padding 1,
    strides 2, 2, 2, 1, 1, LeakyReLU 0.2, no norm on the first layer and a bias only on the first and last conv.
    Two differences, neither changing what the network computes:

    * CycleGAN gives the three normalised convs a bias when the norm is instance norm; MONAI does not
      (``bias=False``). An instance norm without affine subtracts each channel's mean, which cancels a per-channel
      bias exactly, so the function is the same with 896 fewer parameters (CycleGAN: 2 762 689 for one channel).
    * MONAI inserts ``Dropout(p=0)`` (identity) modules when ``dropout=0``.

    The constructor applies MONAI's ``normal_init`` (N(0, 0.02) convs, zero biases); use
    :func:`medtranslate.networks.init_weights` for a seeded initialisation.

    Args:
        spatial_dims: 2 (slices) or 3 (volumes).
        channels: filters of the first conv (CycleGAN's ``ndf``), doubled by each following conv.
        in_channels: input channels.
        out_channels: channels of the logits map.
        num_layers_d: normalised convs (3 gives the 70×70 PatchGAN; each extra one doubles the patch roughly).
        kernel_size: kernel size of every conv.
        activation: MONAI activation name or ``(name, kwargs)``; LeakyReLU 0.2 by default.
        norm: MONAI norm name or ``(name, kwargs)``, or ``None`` for no normalisation; ``"INSTANCE"`` is
            ``InstanceNorm`` with ``affine=False`` and ``track_running_stats=False``, as in CycleGAN.
        bias: whether the normalised convs have a bias.
        padding: padding of all but the last conv.
        dropout: dropout after each conv but the last.
        last_conv_kernel_size: kernel size of the last conv (``kernel_size`` when ``None``).

    Raises:
        ConfigError: for an unsupported ``spatial_dims``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        channels: int = 64,
        in_channels: int = 1,
        out_channels: int = 1,
        num_layers_d: int = 3,
        kernel_size: int = 4,
        activation: str | tuple = (Act.LEAKYRELU, {"negative_slope": 0.2}),
        norm: str | tuple | None = "INSTANCE",
        bias: bool = False,
        padding: int | Sequence[int] = 1,
        dropout: float | tuple = 0.0,
        last_conv_kernel_size: int | None = None,
    ) -> None:
        check_choice(type(self).__name__, "spatial_dims", spatial_dims, SPATIAL_DIMS)
        super().__init__(
            spatial_dims=spatial_dims,
            channels=channels,
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers_d=num_layers_d,
            kernel_size=kernel_size,
            activation=activation,
            norm=norm,
            bias=bias,
            padding=padding,
            dropout=dropout,
            last_conv_kernel_size=last_conv_kernel_size,
        )

    @property
    def receptive_field(self) -> int:
        """Side of the input patch one logit depends on (70 for the defaults), from the convs' kernels and strides."""
        field, jump = 1, 1
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                field += (module.kernel_size[0] - 1) * jump
                jump *= module.stride[0]
        return field

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return the logits map of ``x`` (``(N, in_channels, *spatial)``), without the intermediate features."""
        for layer in self.children():
            x = layer(x)
        return x
