"""CycleGAN training engine, image pool, losses and learning-rate schedule."""

from medtranslate.engines.losses import STRUCTURE_LOSSES, head_mask_loss, lsgan_loss, mind_descriptor, structure_loss
from medtranslate.engines.pool import ImagePool
from medtranslate.engines.schedules import linear_decay_lambda
from medtranslate.engines.trainer import (
    GENERATOR_LOSS_KEYS,
    IMAGE_KEYS,
    LOSS_KEYS,
    CycleGANTrainer,
    prepare_cyclegan_batch,
)

__all__ = [
    "GENERATOR_LOSS_KEYS",
    "IMAGE_KEYS",
    "LOSS_KEYS",
    "STRUCTURE_LOSSES",
    "CycleGANTrainer",
    "ImagePool",
    "head_mask_loss",
    "linear_decay_lambda",
    "lsgan_loss",
    "mind_descriptor",
    "prepare_cyclegan_batch",
    "structure_loss",
]
