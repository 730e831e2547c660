"""Inference: bundle model files, slice-wise CT → MRI translation of volumes and slices, and exports.

:func:`load_generator`/:func:`export_generator` handle the bundle's ``models/model.pt`` (a plain ``state_dict``
of ``G_A``) and training checkpoints; :class:`SliceTranslator` runs a 2D or 2.5D generator over the axial slices
of a volume and :func:`make_translator` picks it or the 3D sliding-window translator by the model's kind;
:func:`translate_path`/:func:`translate_many` load, preprocess as training does, translate and write
NIfTI, PNG, NIfTI-slice and DICOM exports; :class:`UncertaintyEstimator` and its calibration
(:mod:`medtranslate.inference.uncertainty`) add a trust map beside them. The ``medtranslate translate`` command
and the bundle's ``configs/inference.json`` both call these.
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
    TranslatedImage,
    TranslationReport,
    find_inputs,
    input_stem,
    parse_exports,
    parse_slices,
    translate_image,
    translate_many,
    translate_path,
)
from medtranslate.inference.uncertainty import (
    UNCERTAINTY_SUFFIX,
    UncertaintyEstimator,
    UncertaintyFeatures,
    UncertaintySettings,
    apply_uncertainty_calibration,
    calibrate_from_cases,
    calibration_quality,
    describe_calibration,
    fit_uncertainty_calibration,
    load_uncertainty_calibration,
    uncalibrated_calibration,
)
from medtranslate.inference.volume import SliceTranslator, fit_size, make_translator

__all__ = [
    "DICOM_MAX",
    "EXPORTS",
    "OUTPUT_SUFFIX",
    "UNCERTAINTY_SUFFIX",
    "SliceTranslator",
    "TranslatedImage",
    "TranslationReport",
    "UncertaintyEstimator",
    "UncertaintyFeatures",
    "UncertaintySettings",
    "apply_uncertainty_calibration",
    "calibrate_from_cases",
    "calibration_quality",
    "describe_calibration",
    "describe_generator_weights",
    "export_generator",
    "find_inputs",
    "fit_size",
    "fit_uncertainty_calibration",
    "input_stem",
    "load_generator",
    "load_uncertainty_calibration",
    "make_translator",
    "parse_exports",
    "parse_slices",
    "read_generator_state",
    "translate_image",
    "translate_many",
    "translate_path",
    "uncalibrated_calibration",
]
