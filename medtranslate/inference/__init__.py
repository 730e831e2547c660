"""Inference: bundle model files, slice-wise CT → MRI translation of volumes and slices, and exports.

:func:`load_generator`/:func:`export_generator` handle the bundle's ``models/model.pt`` (a plain ``state_dict``
of ``G_A``) and training checkpoints; :class:`SliceTranslator` runs the 2D generator over the axial slices of a
volume; :func:`translate_path`/:func:`translate_many` load, preprocess as training does, translate and write
NIfTI, PNG, NIfTI-slice and DICOM exports. The ``medtranslate translate`` command and the bundle's
``configs/inference.json`` both call these.
"""

from medtranslate.inference.model import (
    describe_generator_weights,
    export_generator,
    load_generator,
    read_generator_state,
)
from medtranslate.inference.translate import (
    DICOM_MAX,
    EXPORTS,
    OUTPUT_SUFFIX,
    TranslationReport,
    find_inputs,
    input_stem,
    parse_exports,
    parse_slices,
    translate_image,
    translate_many,
    translate_path,
)
from medtranslate.inference.volume import SliceTranslator, fit_size

__all__ = [
    "DICOM_MAX",
    "EXPORTS",
    "OUTPUT_SUFFIX",
    "SliceTranslator",
    "TranslationReport",
    "describe_generator_weights",
    "export_generator",
    "find_inputs",
    "fit_size",
    "input_stem",
    "load_generator",
    "parse_exports",
    "parse_slices",
    "read_generator_state",
    "translate_image",
    "translate_many",
    "translate_path",
]
