"""Handlers of a CycleGAN run: checkpoint/resume, data order, validation, sample grid, loss plot, defaults."""

from medtranslate.handlers.checkpoint import (
    CHECKPOINT_PATTERN,
    Checkpointing,
    RNGState,
    attach_checkpointing,
    default_checkpoint_objects,
    find_checkpoints,
    resume_from,
)
from medtranslate.handlers.data_order import DataOrderHandler
from medtranslate.handlers.default import DefaultHandlers, attach_default_handlers, scalar_losses
from medtranslate.handlers.loss_plot import GENERATOR_LOSS_KEYS, LossHistoryHandler
from medtranslate.handlers.sample_grid import GRID_COLUMNS, HEADER_HEIGHT, make_sample_grid, save_sample_grid
from medtranslate.handlers.validation import CycleGANEvents, CycleGANValidationHandler

__all__ = [
    "CHECKPOINT_PATTERN",
    "GENERATOR_LOSS_KEYS",
    "GRID_COLUMNS",
    "HEADER_HEIGHT",
    "Checkpointing",
    "CycleGANEvents",
    "CycleGANValidationHandler",
    "DataOrderHandler",
    "DefaultHandlers",
    "LossHistoryHandler",
    "RNGState",
    "attach_checkpointing",
    "attach_default_handlers",
    "default_checkpoint_objects",
    "find_checkpoints",
    "make_sample_grid",
    "resume_from",
    "save_sample_grid",
    "scalar_losses",
]
