"""Networks of the CT ↔ MRI CycleGAN: generators, the PatchGAN discriminator, initialisation.

Every network takes ``spatial_dims`` (2 for slices, 3 for volumes), ``in_channels`` and ``out_channels``, and
maps ``(N, C, *spatial)`` tensors; generators output in (-1, 1) (tanh), the discriminator a map of logits.

Reference configurations (``spatial_dims=2``, one input and output channel, instance norm; CycleGAN's RGB counts
in brackets):

==========================================================  ==============  =====================================
network                                                     parameters      per 256² slice
==========================================================  ==============  =====================================
``ResNetGenerator()`` (paper: 6 blocks, ``channels=64``)    7 825 153       68.5 GFLOP (34.2 G MAC), 256² → 256²
                                                            (7 837 699)
``ResNetGenerator(num_res_blocks=9)`` (``resnet_9blocks``)  11 365 633      256² → 256²
                                                            (11 378 179)
``UNetGenerator()`` (``unet_256``, ``num_downs=8``)         54 403 457      11.9 GFLOP, 256² → 256²
``UNetGenerator(num_downs=7)`` (``unet_128``)               41 819 521      128² → 128²
``PatchDiscriminator()`` (70×70 PatchGAN)                   2 761 793       6.2 GFLOP, 256² → 30×30 logits,
                                                            (2 764 737)     field 70×70
==========================================================  ==============  =====================================

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add, convolutions only).
"""

from medtranslate.networks.discriminator import PatchDiscriminator
from medtranslate.networks.factory import GENERATORS, build_discriminator, build_generator
from medtranslate.networks.generators import UPSAMPLE_MODES, ResidualBlock, ResNetGenerator, UNetGenerator
from medtranslate.networks.layers import PADDING_MODES
from medtranslate.networks.utils import INIT_TYPES, count_parameters, init_weights

__all__ = [
    "GENERATORS",
    "INIT_TYPES",
    "PADDING_MODES",
    "UPSAMPLE_MODES",
    "PatchDiscriminator",
    "ResNetGenerator",
    "ResidualBlock",
    "UNetGenerator",
    "build_discriminator",
    "build_generator",
    "count_parameters",
    "init_weights",
]
