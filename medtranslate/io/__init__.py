"""Reading and writing medical images the MONAI way.

Reading: readers for MONAI's ``LoadImage`` chosen by content (DICOM series, NIfTI, SimpleITK formats, PIL
images), :class:`LoadMedicalImage`/:class:`LoadMedicalImaged` with input validation, :func:`load_image` and
:func:`describe_image`. Writing: NIfTI, PNG and DICOM-series writers over atomic file writes.
"""

from medtranslate.io.atomic import atomic_dir, atomic_write, atomic_write_bytes, atomic_write_text, check_output_path
from medtranslate.io.describe import describe_image, guess_modality
from medtranslate.io.dicom import DEFAULT_MAX_VOXELS, DicomSeriesReader, DicomSource, SeriesInfo, codec_install_hint
from medtranslate.io.formats import IMAGE_FORMATS, SITK_FORMATS, VOLUME_FORMATS, sniff_format
from medtranslate.io.loading import LoadMedicalImage, LoadMedicalImaged, load_image
from medtranslate.io.readers import NiftiReader, SimpleITKReader, SniffingPILReader
from medtranslate.io.writers import (
    PATIENT_STUDY_TAGS,
    reorient_to,
    write_dicom_series,
    write_nifti,
    write_png,
    write_png_slices,
)

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "IMAGE_FORMATS",
    "PATIENT_STUDY_TAGS",
    "SITK_FORMATS",
    "VOLUME_FORMATS",
    "DicomSeriesReader",
    "DicomSource",
    "LoadMedicalImage",
    "LoadMedicalImaged",
    "NiftiReader",
    "SeriesInfo",
    "SimpleITKReader",
    "SniffingPILReader",
    "atomic_dir",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
    "codec_install_hint",
    "describe_image",
    "guess_modality",
    "load_image",
    "reorient_to",
    "sniff_format",
    "write_dicom_series",
    "write_nifti",
    "write_png",
    "write_png_slices",
]
