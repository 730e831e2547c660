"""CycleGAN training engine, image pool, losses and learning-rate schedule."""

from medtranslate.engines.losses import lsgan_loss
from medtranslate.engines.pool import ImagePool
from medtranslate.engines.schedules import linear_decay_lambda
from medtranslate.engines.trainer import IMAGE_KEYS, LOSS_KEYS, CycleGANTrainer, prepare_cyclegan_batch

__all__ = [
    "IMAGE_KEYS",
    "LOSS_KEYS",
    "CycleGANTrainer",
    "ImagePool",
    "linear_decay_lambda",
    "lsgan_loss",
    "prepare_cyclegan_batch",
]
