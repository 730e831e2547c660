"""Weight initialisation (CycleGAN's ``init_weights``, seedable) and parameter counting."""

from __future__ import annotations

import torch
from torch import nn

from medtranslate.networks.layers import check_choice

__all__ = ["INIT_TYPES", "count_parameters", "init_weights"]

#: ``init_type`` values of :func:`init_weights`.
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")

_WEIGHTED = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)
_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
)


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02, seed: int | None = None) -> nn.Module:
    """Initialise ``net`` in place as CycleGAN does and return it.

    Conv, transposed conv and linear weights are drawn from ``init_type``; their biases are set to 0. Norm layers
    with learnable parameters (batch norm, affine instance norm, group/layer norm) get weights from N(1, ``gain``)
    and zero biases; CycleGAN's default instance norm has none.

    Args:
        net: the network.
        init_type: ``"normal"`` (N(0, ``gain``), CycleGAN's and the paper's default), ``"xavier"`` (Xavier normal
            with ``gain``), ``"kaiming"`` (Kaiming normal, fan-in, ``gain`` unused) or ``"orthogonal"`` (with
            ``gain``).
        gain: the standard deviation for ``"normal"``, the gain for ``"xavier"`` and ``"orthogonal"``, and the
            standard deviation of the norm weights around 1.
        seed: when given, draws from a private generator seeded with it, so the result is reproducible and the
            global random state is untouched; when ``None``, draws from the global generator.

    Raises:
        ConfigError: for an unknown ``init_type``.
    """
    check_choice("init_weights", "init_type", init_type, INIT_TYPES)
    generator = None
    if seed is not None:
        first = next(net.parameters(), None)
        generator = torch.Generator(device="cpu" if first is None else first.device).manual_seed(seed)

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, _WEIGHTED):
                weight = module.weight
                if init_type == "normal":
                    nn.init.normal_(weight, 0.0, gain, generator=generator)
                elif init_type == "xavier":
                    nn.init.xavier_normal_(weight, gain=gain, generator=generator)
                elif init_type == "kaiming":
                    nn.init.kaiming_normal_(weight, a=0, mode="fan_in", generator=generator)
                else:
                    nn.init.orthogonal_(weight, gain=gain, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, _NORMS) and module.weight is not None:
                nn.init.normal_(module.weight, 1.0, gain, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
    return net


def count_parameters(net: nn.Module) -> int:
    """Number of parameters of ``net`` (trainable or not), as CycleGAN prints them."""
    return sum(p.numel() for p in net.parameters())
