"""Translate CT files into synthetic MRI and export them: NIfTI volume, PNG slices, NIfTI slices, DICOM series.

One implementation serves the ``medtranslate translate`` command and the bundle's ``configs/inference.json``:

1. load with :class:`~medtranslate.io.LoadMedicalImage` (NIfTI/MetaImage/NRRD volumes, DICOM series folders or
   files, PNG/JPEG/BMP/TIFF slices);
2. preprocess exactly as training does (:func:`~medtranslate.transforms.ct_transforms`): one grey channel
   (:class:`~medtranslate.transforms.EnsureGrayscale`), volumes reoriented to RAS so the axial slices run along
   the last axis (:class:`~medtranslate.transforms.AxialOrientation`), CT window onto [-1, 1]
   (:class:`~medtranslate.transforms.CTWindow`; 8/16-bit image files are mapped linearly as in training);
3. translate every (selected) axial slice with :class:`~medtranslate.inference.SliceTranslator` (batched,
   ``torch.inference_mode``), which resizes/pads to the training size and back;
4. reorient back to the input's voxel order and export, every file atomically, never over an input.

Output scales (the network's [-1, 1] mapped linearly, clipped):

=================  ==============================================  ==========================================
export             files (``P`` = ``<input stem>_synthetic_mri``)  values
=================  ==============================================  ==========================================
``nifti``          ``P.nii.gz``                                    [0, 1] (int16 × 1/32767); input's grid
``png``            ``P_png/P_z000.png`` ... (radiological axial)   0–255 (8-bit) or 0–65535 (16-bit)
``nifti-slices``   ``P_slices/P_z000.nii.gz`` ... (X, Y, 1 each)   as ``nifti``; affine at the slice
``dicom``          ``P_dicom/slice_0000.dcm`` ...                  uint16 0–4095 = [0, 1] (RealWorldValue), MR
=================  ==============================================  ==========================================

NIfTI values are stored as int16 0–32767 with ``scl_slope = 1/32767`` (every NIfTI reader applies it): within
1.6e-5 of the float result, far inside :data:`~medtranslate.inference.volume.AMP_TOLERANCE`, at half the size of
float32 and 2-3× faster to compress.

Slice numbers ``zNNN`` count axial slices from inferior to superior. ``slices=A:B`` translates only those
slices: every export then holds that slab (the NIfTI's affine places it where it was in the input) and its
files are numbered from 0. A 2D input gives 2D outputs (``P.png`` for ``png``) in its own pixel order.
The DICOM series is marked synthetic (``DERIVED\\SECONDARY\\OTHER``, ``SYNTHETIC`` description and
``DerivationDescription`` naming the model, new UIDs); from a DICOM input each slice sits at its source slice's
``ImagePositionPatient`` and references it (``SourceImageSequence``), the series references the source series;
patient and study attributes are copied from a DICOM source only with ``copy_patient_tags=True``.

With ``uncertainty`` (:class:`~medtranslate.inference.UncertaintySettings`), a trust map is written beside every
export under the prefix ``P_uncertainty`` (``P_uncertainty.nii.gz``, ``P_uncertainty_png/``, ...), with the
same geometry and writers: the expected ``|synthetic - real MRI|`` on [0, 1] (or the uncalibrated score), 0
outside the head; PNG 0–255/0–65535 and DICOM 0–4095 for [0, 1]. Its DICOM series shares the synthetic series'
study and frame of reference and says ``UNCERTAINTY`` and ``calibrated``/``UNCALIBRATED`` in its
``SeriesDescription``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Orientation
from pydicom.uid import generate_uid
from tqdm.auto import tqdm

from medtranslate import __version__ as version
from medtranslate.errors import (
    DimensionError,
    EmptyInputError,
    InputError,
    MedTranslateError,
    OutputExistsError,
    find_user_error,
)
from medtranslate.inference.uncertainty import UNCERTAINTY_SUFFIX, UncertaintySettings
from medtranslate.inference.volume import SliceTranslator, make_translator
from medtranslate.io import (
    DicomSource,
    LoadMedicalImage,
    atomic_dir,
    sniff_format,
    write_dicom_series,
    write_nifti,
    write_png,
    write_png_slices,
)
from medtranslate.io.atomic import check_output_folder, check_output_path, output_set, recover_outputs
from medtranslate.io.dicom import resample_even
from medtranslate.transforms import RAS_LABELS, AxialOrientation, CTWindow, EnsureGrayscale, to_display_range
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW, resolve_window

__all__ = [
    "DICOM_MAX",
    "EXPORTS",
    "OUTPUT_SUFFIX",
    "TranslatedImage",
    "TranslationReport",
    "find_inputs",
    "input_stem",
    "parse_exports",
    "parse_slices",
    "translate_image",
    "translate_many",
    "translate_path",
]

logger = logging.getLogger(__name__)

#: export names accepted by :func:`translate_path`, in the order they are written.
EXPORTS = ("nifti", "png", "nifti-slices", "dicom")
#: appended to the input's stem to name its outputs.
OUTPUT_SUFFIX = "_synthetic_mri"
#: the stored value of MRI intensity 1 in the DICOM export (12-bit range, 0–4095).
DICOM_MAX = 4095

#: the value range of the NIfTI exports, stored as scaled int16 (see the module docstring)
NIFTI_RANGE = (0.0, 1.0)

_EXTENSIONS = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".dcm", ".ima", ".png", ".jpg", ".jpeg")
_EXTENSIONS += (".bmp", ".tif", ".tiff")
_COMPANIONS = (".raw", ".zraw")  # MetaImage data files, read through their .mhd header


def parse_exports(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Export names from ``"nifti,png"`` or a sequence; duplicates dropped, order of :data:`EXPORTS` kept.

    Args:
        spec: comma-separated names or a sequence of names (see :data:`EXPORTS`).

    Raises:
        InputError: an unknown or empty export list.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = {str(s).strip().lower() for s in items if str(s).strip()}
    unknown = sorted(names - set(EXPORTS))
    if unknown or not names:
        raise InputError(None, f"unknown export {', '.join(unknown) or '(none)'}; choose from {', '.join(EXPORTS)}")
    return tuple(e for e in EXPORTS if e in names)


def parse_slices(spec: str | slice | range | None) -> slice | None:
    """The axial slices to translate: ``None``/``"all"`` for every slice, ``"A:B"`` (Python slice, B excluded,
    either side may be empty or negative), ``"K"`` for one slice, or a ``slice``/``range`` with step 1.

    Args:
        spec: the selection.

    Raises:
        InputError: a malformed selection or a step other than 1.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return None
    if isinstance(spec, range):
        spec = slice(spec.start, spec.stop, spec.step)
    if isinstance(spec, slice):
        if spec.step not in (None, 1):
            raise InputError(None, f"slices: only contiguous ranges (step 1) are supported, got {spec}")
        return slice(spec.start, spec.stop)
    text = str(spec).strip()
    try:
        if ":" not in text:
            k = int(text)
            return slice(k, k + 1 if k != -1 else None)
        start, stop = text.split(":")
        return slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None)
    except ValueError:
        raise InputError(None, f"slices: expected 'all', 'A:B' or one index, got {spec!r}") from None


def input_stem(path: str | os.PathLike) -> str:
    """The name outputs of ``path`` are derived from: the file name without its image extension, or the folder name.

    Args:
        path: an input file or DICOM folder.
    """
    name = Path(path).name or Path(os.path.abspath(path)).name
    lower = name.lower()
    for ext in _EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return name


def _is_dicom_folder(path: Path) -> bool:
    try:
        return sniff_format(path) == "dicom"
    except EmptyInputError:
        return False


def find_inputs(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Expand input paths into one entry per image: files as they are, a folder holding DICOM files as one
    series, any other folder into its images (recursively, sorted; hidden files and MetaImage ``.raw`` data
    files skipped). Unreadable files are kept, so that translating them reports the error.

    Args:
        paths: a path or a sequence of paths.

    Raises:
        InputError: a path does not exist, or no path is given.
        EmptyInputError: nothing to translate was found.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items or any(not str(p) for p in items):
        raise InputError(None, "no input given (a CT file, a DICOM folder or a folder of CT images)")
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.exists():
            raise InputError(path, "no such file or folder")
        if path.is_file() or _is_dicom_folder(path):
            found.append(path)
            continue
        children = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        for child in children:
            if child.is_file() and child.suffix.lower() in _COMPANIONS and child.with_suffix(".mhd").exists():
                continue
            if child.is_dir():
                try:
                    found += find_inputs(child)
                except EmptyInputError:
                    continue
            else:
                found.append(child)
    if not found:
        raise EmptyInputError(items[0] if len(items) == 1 else None, "no image file or DICOM series to translate")
    return found


def _axcodes(affine: torch.Tensor) -> str:
    return "".join(nib.aff2axcodes(np.asarray(affine, dtype=np.float64), labels=RAS_LABELS))


class TranslatedImage(NamedTuple):
    """What :func:`translate_image` returns: the synthetic MRI on [-1, 1] in the input's voxel order and in RAS
    voxel order (axial slices along the last axis), and the same for the trust map on [0, 1] when one was asked
    for (else ``None``)."""

    mri: MetaTensor
    mri_ras: MetaTensor
    uncertainty: MetaTensor | None = None
    uncertainty_ras: MetaTensor | None = None


def _to_input_order(ras: torch.Tensor, affine: torch.Tensor, codes: str, name: object) -> tuple[MetaTensor, MetaTensor]:
    """A RAS-ordered result as ``(in the input's voxel order, in RAS)`` MetaTensors with their affines."""
    out_ras = MetaTensor(_plain(ras), affine=affine, meta={"filename_or_obj": name})
    back = Orientation(axcodes=codes, labels=RAS_LABELS)(MetaTensor(out_ras.as_tensor(), affine=affine))
    meta = {"filename_or_obj": name}
    return MetaTensor(back.as_tensor().contiguous(), affine=back.affine.to(torch.float64), meta=meta), out_ras


def _plain(x: torch.Tensor) -> torch.Tensor:
    return x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)


def translate_image(
    image: MetaTensor,
    translator: SliceTranslator,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    slices: str | slice | range | None = None,
    uncertainty: UncertaintySettings | None = None,
) -> TranslatedImage:
    """Translate a loaded CT image (HU, or an 8/16-bit image file) into a synthetic MRI in [-1, 1].

    Preprocessing is the training pipeline's (grey channel, RAS for volumes, CT window onto [-1, 1]); the
    result is put back in the input's voxel order.

    Args:
        image: channel-first ``(C, X, Y)`` or ``(1, X, Y, Z)`` MetaTensor as loaded by ``LoadMedicalImage``.
        translator: the slice-wise generator.
        window: the CT window the model was trained with (preset name or ``(level, width)`` in HU).
        slices: axial slices to translate (see :func:`parse_slices`), counted inferior to superior.
        uncertainty: also compute the trust map (:class:`~medtranslate.inference.UncertaintyEstimator` around
            ``translator``; the synthetic MRI is the same as without it).

    Returns:
        a :class:`TranslatedImage`: the synthetic MRI (and map) in the input's voxel order (with the input's
        affine, or the slab's when ``slices`` is given) and in RAS voxel order; 2D inputs give the same image
        twice, ``(1, X, Y)``.

    Raises:
        InputError: an MR image, or ``slices`` that select nothing; DimensionError/NonFiniteError from the checks.
    """
    name = image.meta.get("filename_or_obj")
    if image.meta.get("modality") == "MR":
        raise InputError(name, "is an MR image (DICOM Modality MR); translate expects CT")
    gray = EnsureGrayscale()(image)
    selection = parse_slices(slices)
    run = translator if uncertainty is None else uncertainty.estimator(translator)
    if gray.ndim == 3:
        if selection is not None and not range(1)[selection]:
            raise InputError(name, f"slices {slices!r} select nothing in a 2D image (its only slice is 0)")
        out = run(CTWindow(window)(gray))
        if uncertainty is None:
            return TranslatedImage(out, out)
        return TranslatedImage(out[0], out[0], out[1], out[1])
    ras = AxialOrientation("RAS")(gray)
    depth = int(ras.shape[-1])
    affine = ras.affine.clone().to(torch.float64)
    if selection is not None:
        chosen = range(depth)[selection]
        if not chosen:
            raise InputError(name, f"slices {slices!r} select no axial slice of the {depth} there are")
        ras = ras[..., chosen.start : chosen.stop]
        affine[:3, 3] += affine[:3, 2] * chosen.start
    out = run(CTWindow(window)(ras))
    codes = _axcodes(image.affine)
    if uncertainty is None:
        return TranslatedImage(*_to_input_order(out, affine, codes, name))
    mri, mri_ras = _to_input_order(out[0], affine, codes, name)
    unc, unc_ras = _to_input_order(out[1], affine, codes, name)
    return TranslatedImage(mri, mri_ras, unc, unc_ras)


@dataclass
class _Outputs:
    """The output paths of one input, all derived from ``prefix`` inside ``folder``."""

    folder: Path
    prefix: str

    @property
    def nifti(self) -> Path:
        return self.folder / f"{self.prefix}.nii.gz"

    @property
    def png(self) -> Path:
        return self.folder / f"{self.prefix}_png"

    @property
    def png_2d(self) -> Path:
        return self.folder / f"{self.prefix}.png"

    @property
    def slices(self) -> Path:
        return self.folder / f"{self.prefix}_slices"

    @property
    def dicom(self) -> Path:
        return self.folder / f"{self.prefix}_dicom"


def translate_path(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    network: torch.nn.Module,
    *,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    image_size: int = 256,
    export: str | Iterable[str] = ("nifti",),
    slices: str | slice | range | None = None,
    bit_depth: int = 8,
    overwrite: bool = False,
    batch_size: int = 8,
    copy_patient_tags: bool = False,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    protect: Iterable[str | os.PathLike] = (),
    translator: SliceTranslator | None = None,
    uncertainty: UncertaintySettings | None = None,
    uneven_slices: str = "refuse",
    model: str | None = None,
    spacing: float | None = None,
) -> list[Path]:
    """Translate one CT file or DICOM series and write the requested exports (see the module docstring).

    Every output is checked before anything is written (existing outputs need ``overwrite=True``; an output is
    never an input, inside one, or inside the series folder of a DICOM file input; its folder must be a folder
    that can be written), each is written atomically, and the outputs are one unit
    (:func:`~medtranslate.io.atomic.output_set`): when one fails, those this call created are removed and those it
    replaced put back, so a failed call leaves the outputs as they were. What a killed call left behind (hidden
    temporary files, a half-done set of outputs) is undone by the next call for the same outputs.

    Args:
        input_path: a NIfTI/MetaImage/NRRD volume, a DICOM series folder or file, or a PNG/JPEG/BMP/TIFF slice.
        output_dir: folder receiving the outputs (created when missing).
        network: the CT → MRI generator (``G_A``) in eval mode, mapping [-1, 1] slices to [-1, 1].
        window: the CT window the model was trained with.
        image_size: the side of the training slices (2D, 2.5D models) or patches (3D models).
        export: names from :data:`EXPORTS`, as a sequence or ``"nifti,png"``.
        slices: axial slices to translate (:func:`parse_slices`); ``None`` for all.
        bit_depth: 8 or 16 for the PNG export.
        overwrite: replace existing outputs.
        batch_size: slices per forward pass.
        copy_patient_tags: copy patient/study attributes into the DICOM export (DICOM inputs only).
        device: where the network runs (it is moved there); ``None`` for the network's device.
        amp: mixed precision (see :class:`SliceTranslator`): ``None`` where the device runs it natively,
            ``False`` for float32.
        protect: more input paths no output may replace (e.g. the other inputs of a batch).
        translator: a ready :class:`SliceTranslator` to reuse (then ``network``, ``image_size``, ``batch_size``,
            ``device`` and ``amp`` are not used).
        uncertainty: also write the trust map (expected ``|synthetic - real|`` on [0, 1]) beside each export,
            named with ``_uncertainty`` after the synthetic MRI's prefix, in the same format and geometry; DICOM
            maps share the synthetic series' study and frame of reference.
        uneven_slices: a DICOM series whose slices are unevenly spaced (missing slices) or whose
            SpacingBetweenSlices contradicts its positions: ``"refuse"`` (``DimensionError`` naming the series and
            the positions) or ``"resample"``: the DICOM export puts each synthetic slice at its source slice's
            position, the NIfTI exports are resampled onto an even grid of the median step, with one warning.
        model: what made the images, for the DICOM ``DerivationDescription`` (e.g. the bundle name, version and
            weights file); default the network's class name.
        spacing: a 3D model's isotropic voxel size in mm (see :func:`~medtranslate.inference.make_translator`).

    Returns:
        the written files and folders: the synthetic MRI's in :data:`EXPORTS` order, then the map's.

    Raises:
        MedTranslateError: a subclass naming the input or output and the cause.
    """
    exports = parse_exports(export)
    if bit_depth not in (8, 16):
        raise InputError(None, f"bit_depth must be 8 or 16, got {bit_depth}")
    source = Path(input_path)
    is_dicom_source = sniff_format(source) == "dicom"
    # a DICOM file's folder is its series: outputs never go into it
    guarded = [source, *([source.parent] if is_dicom_source and source.is_file() else []), *protect]
    outputs = _Outputs(Path(output_dir), f"{input_stem(source)}{OUTPUT_SUFFIX}")
    image = LoadMedicalImage(irregular_spacing="ignore")(source)
    dicom_source = _check_slices(image, source, uneven_slices)
    is_2d = image.ndim == 3
    kinds = [outputs] + ([_Outputs(outputs.folder, outputs.prefix + UNCERTAINTY_SUFFIX)] if uncertainty else [])
    targets = [_targets(o, is_2d) for o in kinds]
    paths = [target[n] for target in targets for n in exports]
    recover_outputs(paths)  # what a killed run of the same outputs left behind
    for target in targets:
        for name in exports:
            is_file = name == "nifti" or (name == "png" and is_2d)
            check_output_path(target[name], overwrite=overwrite, protect=guarded, is_file=is_file)
    if translator is None:
        network = network.to(device) if device is not None else network
        translator = make_translator(
            network, image_size=image_size, sw_batch_size=batch_size, device=device, amp=amp, spacing=spacing
        )
    result = translate_image(image, translator, window=window, slices=slices, uncertainty=uncertainty)
    stem = input_stem(source)
    images = [
        _Export(
            to_display_range(result.mri, "0-1"),
            to_display_range(result.mri_ras, "0-1"),
            outputs.prefix,
            f"SYNTHETIC MRI from CT {stem} (medtranslate CT->MRI)",
        )
    ]
    if uncertainty is not None:
        calibrated = "calibrated" if uncertainty.calibrated else "UNCALIBRATED"
        description = f"SYNTHETIC MRI UNCERTAINTY E|err| 0-1=0-4095 {calibrated} CT {stem}"
        images.append(_Export(result.uncertainty, result.uncertainty_ras, kinds[1].prefix, description))
        logger.info("%s: the uncertainty map holds the %s", source, uncertainty.description)
    is_dicom = "dicom" in exports and dicom_source is not None
    model = model or type(network).__name__
    dicom = _DicomOptions(dicom_source if is_dicom else None, copy_patient_tags and is_dicom, model)
    resampled = _even(images, dicom_source) if {"nifti", "nifti-slices"} & set(exports) else images
    with output_set(paths, overwrite=overwrite, protect=guarded):
        for name in exports:
            chosen = resampled if name in ("nifti", "nifti-slices") else images
            for number, (item, target) in enumerate(zip(chosen, targets, strict=True)):
                _write_export(name, item, target[name], is_2d, bit_depth, dicom, 1001 + number, overwrite, guarded)
    logger.info("%s: wrote %s", source, ", ".join(str(p) for p in paths))
    return paths


def _targets(outputs: _Outputs, is_2d: bool) -> dict[str, Path]:
    """Export name → output path."""
    return {
        "nifti": outputs.nifti,
        "png": outputs.png_2d if is_2d else outputs.png,
        "nifti-slices": outputs.slices,
        "dicom": outputs.dicom,
    }


@dataclass
class _Export:
    """One image to export on [0, 1]: in the input's voxel order, in RAS order, its file prefix and DICOM
    ``SeriesDescription``."""

    unit: MetaTensor
    unit_ras: MetaTensor
    prefix: str
    description: str


def _check_slices(image: MetaTensor, source: Path, uneven_slices: str) -> DicomSource | None:
    """The DICOM source of ``image`` (``None`` for other formats); a spacing issue refused or, with
    ``uneven_slices="resample"``, warned in one line."""
    if uneven_slices not in ("refuse", "resample"):
        raise InputError(None, f"uneven_slices must be 'refuse' or 'resample', got {uneven_slices!r}")
    found = DicomSource.from_meta(image.meta)
    if found is None or not found.spacing_issue:
        return found
    if uneven_slices == "refuse":
        raise DimensionError(
            source,
            f"{found.spacing_issue}; translate it anyway with uneven_slices='resample' (--allow-uneven-slices): "
            "the DICOM export keeps each slice's position, the NIfTI export is resampled onto an even grid",
        )
    spacing = float(np.linalg.norm(found.affine[:3, 2]))
    outcome = "the DICOM export keeps each slice's position"
    if not found.even:
        outcome += f", the NIfTI exports are resampled onto an even {spacing:.4g} mm grid"
    warnings.warn(f"{source}: {found.spacing_issue}; {outcome}", UserWarning, stacklevel=3)
    return found


def _even(images: list[_Export], source: DicomSource | None) -> list[_Export]:
    """``images`` resampled onto an even slice grid when they lie on an unevenly spaced DICOM series."""
    if source is None or source.even:
        return images
    out = []
    for item in images:
        even = resample_even(item.unit, source)
        even_ras = Orientation(axcodes="RAS", labels=RAS_LABELS)(even)
        out.append(_Export(even, even_ras, item.prefix, item.description))
    return out


@dataclass
class _DicomOptions:
    """What the DICOM exports of one input share: the DICOM source (``None`` for other formats), whether its
    patient/study tags are copied, what made the images (for ``DerivationDescription``), and (otherwise) one new
    study and frame of reference, so that the synthetic MRI and its map overlay in a viewer."""

    source: DicomSource | None
    copy_patient_tags: bool
    model: str
    study: str = field(default_factory=generate_uid)
    frame: str = field(default_factory=generate_uid)


def _write_export(
    name: str,
    item: _Export,
    target: Path,
    is_2d: bool,
    bit_depth: int,
    dicom: _DicomOptions,
    series_number: int,
    overwrite: bool,
    protect: Sequence[str | os.PathLike],
) -> None:
    """Write ``item`` as export ``name`` at ``target`` (see the module docstring for the formats)."""
    if name == "nifti":
        write_nifti(item.unit, target, overwrite=overwrite, protect=protect, int16_range=NIFTI_RANGE)
    elif name == "png" and is_2d:
        write_png(item.unit, target, bit_depth, (0.0, 1.0), overwrite=overwrite, protect=protect)
    elif name == "png":
        with atomic_dir(target, overwrite=overwrite, protect=protect) as tmp:
            write_png_slices(item.unit, tmp, item.prefix, bit_depth=bit_depth, value_range=(0.0, 1.0))
    elif name == "nifti-slices":
        _write_nifti_slices(item.unit_ras, target, item.prefix, overwrite, protect)
    else:
        _write_dicom(item.unit, target, item.description, dicom, series_number, overwrite, protect)


def _write_nifti_slices(
    volume_ras: MetaTensor, folder: Path, prefix: str, overwrite: bool, protect: Sequence[str | os.PathLike]
) -> None:
    """One ``(X, Y, 1)`` NIfTI per axial slice of a RAS volume (a 2D image gives one), each placed at its slice."""
    data = volume_ras.as_tensor().numpy()[0]
    affine = volume_ras.affine.numpy().astype(np.float64)
    if data.ndim == 2:
        data = data[..., None]
    width = max(3, len(str(data.shape[-1] - 1)))
    with atomic_dir(folder, overwrite=overwrite, protect=protect) as tmp:
        for k in range(data.shape[-1]):
            placed = affine.copy()
            placed[:3, 3] += affine[:3, 2] * k
            name = tmp / f"{prefix}_z{k:0{width}d}.nii.gz"
            write_nifti(data[None, :, :, k : k + 1], name, affine=placed, int16_range=NIFTI_RANGE)


def _write_dicom(
    unit: MetaTensor,
    folder: Path,
    description: str,
    dicom: _DicomOptions,
    series_number: int,
    overwrite: bool,
    protect: Sequence[str | os.PathLike],
) -> None:
    """An image on [0, 1] as an MR DICOM series marked synthetic: stored 0–4095, the scale in its
    RealWorldValueMappingSequence; on a DICOM source, each slice at its source slice's position and referencing it."""
    values = MetaTensor(unit.as_tensor(), affine=unit.affine)
    if values.ndim == 3:
        values.meta["spatial_shape"] = np.asarray(values.shape[1:])
    shared = {} if dicom.copy_patient_tags else {"StudyInstanceUID": dicom.study, "FrameOfReferenceUID": dicom.frame}
    origin = f" from CT series {dicom.source.series_uid}" if dicom.source is not None else ""
    write_dicom_series(
        values,
        folder,
        modality="MR",
        series_description=description[:64],
        source=dicom.source,
        copy_patient_tags=dicom.copy_patient_tags,
        synthetic=True,
        pixel_dtype="uint16",
        rescale=(1.0 / DICOM_MAX, 0.0),
        window=(0.5, 1.0),
        series_number=series_number,
        derivation=f"{description}: SYNTHETIC, computed{origin} by medtranslate {version} with the model "
        f"{dicom.model}; values 0-1 stored as 0-{DICOM_MAX}; not an acquisition, not for diagnosis",
        extra_tags=shared,
        overwrite=overwrite,
        protect=protect,
    )


@dataclass
class TranslationReport:
    """What :func:`translate_many` did: the outputs of each input and the one-line error of each failure."""

    outputs: dict[Path, list[Path]] = field(default_factory=dict)
    failures: dict[Path, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every input was translated."""
        return not self.failures

    def summary(self) -> str:
        """One line: how many inputs were translated and how many failed."""
        return f"translated {len(self.outputs)} input(s), {len(self.failures)} failed"


def translate_many(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    network: torch.nn.Module,
    *,
    image_size: int = 256,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    raise_on_failure: bool = False,
    progress: bool = False,
    spacing: float | None = None,
    **options,
) -> TranslationReport:
    """Translate every input (files, DICOM folders, folders of images; see :func:`find_inputs`) into ``output_dir``.

    Options are checked first (an invalid export, slice range or window stops before any input). An input
    that fails with a user-fixable error (corrupt file, unsupported format, existing output, ...) is
    recorded and the next one is translated; other exceptions are bugs and propagate. Two inputs whose outputs
    would have the same name: the second fails. No output may replace any of the inputs.

    Args:
        inputs: paths, expanded by :func:`find_inputs`.
        output_dir: folder receiving every output.
        network: the CT → MRI generator in eval mode.
        image_size: the side of the training slices.
        batch_size: slices per forward pass.
        device: where the network runs; ``None`` for the network's device.
        amp: mixed precision (see :class:`SliceTranslator`): ``None`` where native, ``False`` for float32.
        raise_on_failure: after all inputs, raise an :class:`InputError` listing the failures (the bundle's
            ``run`` uses it so that ``python -m monai.bundle run`` exits non-zero).
        progress: show progress bars on stderr (tqdm): one over the inputs, one over each input's chunks of
            slices. Failures are in the report (and logged at INFO), for the caller to print once.
        spacing: a 3D model's isotropic voxel size in mm (see :func:`~medtranslate.inference.make_translator`).
        options: passed to :func:`translate_path` (``window``, ``export``, ``slices``, ``bit_depth``,
            ``overwrite``, ``copy_patient_tags``, ``uncertainty``).

    Returns:
        a :class:`TranslationReport`.

    Raises:
        InputError: invalid options or inputs (before any input is translated).
        OutputError: ``output_dir`` is a file (or below one) or cannot be written.
    """
    parse_exports(options.get("export", ("nifti",)))  # option errors stop the batch before the first input
    parse_slices(options.get("slices"))
    resolve_window(options.get("window", DEFAULT_CT_WINDOW))
    check_output_folder(output_dir)  # a file in the way or a read-only folder: one error, not one per input
    paths = find_inputs(inputs)
    network = network.to(device) if device is not None else network
    translator = make_translator(
        network,
        image_size=image_size,
        sw_batch_size=batch_size,
        device=device,
        amp=amp,
        progress=progress,
        spacing=spacing,
    )
    report = TranslationReport()
    claimed: dict[str, Path] = {}
    for path in tqdm(paths, desc="translate", unit="input", disable=not progress, dynamic_ncols=True):
        stem = input_stem(path)
        try:
            if stem in claimed:
                raise OutputExistsError(
                    path, f"its outputs would have the same names ({stem}{OUTPUT_SUFFIX}) as those of {claimed[stem]}"
                )
            claimed[stem] = path
            report.outputs[path] = translate_path(
                path, output_dir, network, translator=translator, protect=paths, **options
            )
        except Exception as exc:
            error = find_user_error(exc)
            if error is None:
                raise
            report.failures[path] = str(error) if isinstance(error, MedTranslateError) else repr(error)
            logger.info("failed: %s", error)
    if raise_on_failure and report.failures:
        lines = "; ".join(report.failures.values())
        raise InputError(None, f"{report.summary()}: {lines}")
    return report
