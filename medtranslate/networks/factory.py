"""Builders for configs: a generator or discriminator by name, initialised as CycleGAN does."""

from __future__ import annotations

from typing import Any

from torch import nn

from medtranslate.networks.discriminator import PatchDiscriminator
from medtranslate.networks.generators import ResNetGenerator, UNetGenerator
from medtranslate.networks.layers import check_choice
from medtranslate.networks.utils import init_weights

__all__ = ["GENERATORS", "build_discriminator", "build_generator"]

#: generator names of :func:`build_generator` and their classes.
GENERATORS: dict[str, type[nn.Module]] = {"resnet": ResNetGenerator, "unet": UNetGenerator}


def build_generator(
    name: str = "resnet",
    init_type: str | None = "normal",
    init_gain: float = 0.02,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build and initialise a generator (CycleGAN's ``define_G`` without the device handling).

    Args:
        name: ``"resnet"`` (:class:`ResNetGenerator`, the paper's) or ``"unet"`` (:class:`UNetGenerator`).
        init_type: passed to :func:`init_weights`; ``None`` keeps PyTorch's default initialisation.
        init_gain: passed to :func:`init_weights` as ``gain``.
        seed: passed to :func:`init_weights`; ``None`` draws from the global generator.
        kwargs: the generator's arguments, e.g. ``spatial_dims=2, channels=64, num_res_blocks=6``.

    Raises:
        ConfigError: for an unknown ``name`` or an invalid argument.
    """
    check_choice("build_generator", "name", name, tuple(GENERATORS))
    net = GENERATORS[name](**kwargs)
    return net if init_type is None else init_weights(net, init_type, init_gain, seed)


def build_discriminator(
    init_type: str | None = "normal",
    init_gain: float = 0.02,
    seed: int | None = None,
    **kwargs: Any,
) -> PatchDiscriminator:
    """Build and initialise a :class:`PatchDiscriminator` (CycleGAN's ``define_D`` with ``--netD basic``).

    Args:
        init_type: passed to :func:`init_weights`; ``None`` keeps MONAI's ``normal_init``.
        init_gain: passed to :func:`init_weights` as ``gain``.
        seed: passed to :func:`init_weights`; ``None`` draws from the global generator.
        kwargs: the discriminator's arguments, e.g. ``spatial_dims=2, channels=64, num_layers_d=3``.

    Raises:
        ConfigError: for an invalid argument.
    """
    net = PatchDiscriminator(**kwargs)
    return net if init_type is None else init_weights(net, init_type, init_gain, seed)
