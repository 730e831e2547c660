"""Property tests over hostile headers: every generated NIfTI or DICOM file loads with the geometry and values its
header states, or is refused with a :class:`~medtranslate.errors.MedTranslateError`; nothing else escapes, and
nothing is written next to it.

The expected affine and voxels are computed here from the header fields alone (the NIfTI-1 standard's sform, qform
quaternion and ``pixdim`` rules as nibabel applies them; DICOM's ImageOrientationPatient, PixelSpacing and
ImagePositionPatient, slices ordered along the normal, RescaleSlope/Intercept), not with the readers' code. A header
with NaN/Inf, zero or negative voxel sizes, a singular transform, duplicate slice positions, truncated pixel data or
NaN/Inf voxels must be refused; a regular one must load. Tiny images (at most 4×4×3), a fixed seed
(``derandomize``) and no deadline keep CI reproducible: 300 NIfTI and 250 DICOM cases.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from medtranslate.errors import MedTranslateError
from medtranslate.io import load_image

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

# values every header field is drawn from: regular ones, and the hostile ones (zero, negative, NaN, Inf)
REGULAR = [0.5, 0.8, 1.0, 2.0, 3.3]
HOSTILE = [0.0, -0.8, np.nan, np.inf, -np.inf]
# regular values four times as likely: most headers have every field regular, and must load
field = st.sampled_from([*REGULAR * 4, -1.0, -2.5, *HOSTILE])
size = st.sampled_from([*REGULAR * 4, *HOSTILE])


def _outcome(path: Path) -> tuple[object | None, MedTranslateError | None]:
    """``(image, None)`` or ``(None, error)``; any other exception propagates (and fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load_image(path), None
        except MedTranslateError as error:
            return None, error


def _regularity(affine: np.ndarray, rank: int) -> float:
    """0 for NaN/Inf or a zero column; else the smallest/largest singular value of the unit spatial columns."""
    columns = affine[:3, :rank]
    if not np.all(np.isfinite(affine)):
        return 0.0
    norms = np.linalg.norm(columns, axis=0)
    if np.any(norms == 0):
        return 0.0
    singular = np.linalg.svd(columns / norms, compute_uv=False)
    return float(singular[-1] / singular[0])


def _check(path: Path, affine: np.ndarray, values: np.ndarray, must_refuse: bool, rank: int) -> None:
    """The file loads with ``affine`` (columns ``rank`` and the origin) and ``values``, or is refused; regular
    headers must load, ``must_refuse`` ones must not; nothing is written beside the file."""
    before = sorted(p.name for p in path.parent.iterdir())
    image, error = _outcome(path)
    event("loaded" if error is None else f"refused: {type(error).__name__}")  # --hypothesis-show-statistics
    assert sorted(p.name for p in path.parent.iterdir()) == before
    regularity = _regularity(affine, rank)
    if must_refuse or regularity < 1e-9:
        assert error is not None, f"loaded although the header is unusable: {affine.tolist()}"
        assert str(error).startswith(str(path)) and "\n" not in str(error)
        return
    if regularity > 1e-3:
        assert error is None, f"refused a regular header: {error}"
    if image is None:
        return
    used = [*range(rank), 3]
    np.testing.assert_allclose(image.affine.numpy()[:3, used], affine[:3, used], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(image[0].numpy(), values.astype(np.float32), rtol=1e-6)


# ------------------------------------------------------------------------------------------------------------- NIfTI


def _quaternion_matrix(b: float, c: float, d: float) -> np.ndarray:
    """The NIfTI-1 standard's rotation of the quaternion (a, b, c, d), a = sqrt(1 - b² - c² - d²)."""
    a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )


def _nifti_affine(h: dict, shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """The affine the NIfTI-1 standard gives the header ``h`` (sform, else qform, else ``pixdim``), and whether a
    field it uses is invalid (voxel size ≤ 0 or NaN/Inf, quaternion longer than 1, qfac not ±1/0)."""
    rank = len(shape)
    affine = np.eye(4)
    if h["sform_code"]:
        affine[:3] = np.asarray(h["srows"], np.float32)
        return affine, False
    zooms = np.asarray(h["pixdim"], np.float32).astype(np.float64)
    invalid = not (np.all(np.isfinite(zooms[:rank])) and np.all(zooms[:rank] > 0))
    if h["qform_code"]:
        quaternion = np.asarray(h["quaternion"], np.float32).astype(np.float64)
        offset = np.asarray(h["offset"], np.float32)
        invalid |= not np.all(np.isfinite(quaternion)) or float(quaternion @ quaternion) > 1.0 + 1e-6
        invalid |= h["qfac"] not in (-1.0, 0.0, 1.0)
        if invalid:
            return np.full((4, 4), np.nan), True
        vox = np.abs(zooms)
        vox[2] *= -1.0 if h["qfac"] == -1.0 else 1.0
        affine[:3, :3] = _quaternion_matrix(*quaternion) @ np.diag(vox)
        affine[:3, 3] = offset
        return affine, False
    if invalid:
        return np.full((4, 4), np.nan), True
    full_shape = np.array([*shape, 1, 1][:3], np.float64)
    scale = np.array([*zooms[:rank], 1.0, 1.0][:3]) * [-1.0, 1.0, 1.0]
    affine[:3, :3] = np.diag(scale)
    affine[:3, 3] = -(full_shape - 1) / 2.0 * scale
    return affine, False


@st.composite
def nifti_cases(draw: st.DrawFn) -> dict:
    rank = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    dtype = draw(st.sampled_from(["uint8", "int16", "int32", "float32", "float64"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    data = rng.integers(0, 100, shape).astype(dtype)
    if dtype.startswith("float") and draw(st.booleans()):
        data.flat[draw(st.integers(0, data.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    transform = draw(st.sampled_from(["sform", "qform", "pixdim"]))
    srows = np.array([[draw(field) for _ in range(4)] for _ in range(3)])
    if transform == "sform" and draw(st.booleans()):  # mostly a regular rotation-and-scale, sometimes any matrix
        angle = draw(st.sampled_from([0.0, 0.3, 1.2, np.pi / 2]))
        c, s = np.cos(angle), np.sin(angle)
        srows[:, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([draw(size) for _ in range(3)])
    quaternion = draw(st.sampled_from([(0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.5, 0.5, 0.5), (0.1, -0.7, 0.2)]))
    if draw(st.integers(0, 4)) == 0:
        quaternion = (draw(field), draw(field), draw(field))
    return {
        "shape": shape,
        "data": data,
        "sform_code": draw(st.sampled_from([1, 2, 4])) if transform == "sform" else 0,
        "qform_code": 1 if transform == "qform" or (transform == "sform" and draw(st.booleans())) else 0,
        "srows": srows,
        "pixdim": tuple(draw(size) for _ in range(3)),
        "quaternion": quaternion,
        "offset": (draw(field), draw(st.sampled_from(REGULAR)), 0.0),
        "qfac": draw(st.sampled_from([1.0, -1.0, 0.0, 1.0, 2.0, np.nan])),
        "scaling": draw(st.sampled_from([(np.nan, np.nan), (1.0, 0.0), (2.5, -1024.0), (0.0, 7.0), (np.inf, 0.0)])),
        "name": draw(st.sampled_from(["ct.nii", "ct.nii.gz", "ct.dat"])),
    }


def _scaled(data: np.ndarray, scaling: tuple[float, float]) -> np.ndarray:
    """nibabel's rule: a zero or non-finite scl_slope means no scaling."""
    slope, inter = scaling
    if slope == 0 or not np.isfinite(slope):
        return data.astype(np.float64)
    return data.astype(np.float64) * slope + inter


@pytest.mark.filterwarnings("ignore")  # pydicom and nibabel warn about the hostile values they are given
@settings(max_examples=300, **SETTINGS)
@given(case=nifti_cases())
def test_property_nifti_header_loads_as_stated_or_is_refused(case: dict, build: SimpleNamespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = build.raw_nifti(
            Path(folder) / case["name"],
            case["data"],
            case["srows"] if case["sform_code"] else None,
            sform_code=case["sform_code"],
            qform_code=case["qform_code"],
            pixdim=case["pixdim"],
            quaternion=case["quaternion"],
            offset=case["offset"],
            qfac=case["qfac"],
            scaling=case["scaling"],
        )
        affine, invalid = _nifti_affine(case, case["shape"])
        values = _scaled(case["data"], case["scaling"])
        _check(path, affine, values, invalid or not np.all(np.isfinite(values)), len(case["shape"]))


# ------------------------------------------------------------------------------------------------------------- DICOM

ORIENTATIONS = {
    "axial": (1, 0, 0, 0, 1, 0),
    "coronal": (1, 0, 0, 0, 0, -1),
    "sagittal": (0, 1, 0, 0, 0, -1),
    "oblique": (np.cos(0.5), np.sin(0.5), 0, 0, np.cos(0.2), -np.sin(0.2)),
    "zero": (0, 0, 0, 0, 1, 0),
    "parallel": (1, 0, 0, 1, 0, 0),
    "nan": (1, 0, 0, 0, np.nan, 0),
}
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless]


@st.composite
def dicom_cases(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 3))
    bits, signed = draw(st.sampled_from([(8, 0), (16, 0), (16, 1), (32, 1)]))
    return {
        "n": n,
        "rows": draw(st.integers(2, 4)),
        "cols": draw(st.integers(2, 4)),
        "bits": bits,
        "signed": signed,
        "syntax": draw(st.sampled_from(SYNTAXES if bits < 32 else SYNTAXES[:3])),  # pydicom's RLE: up to 16 bits
        "spacing": (draw(size), draw(size)),
        "orientation": draw(st.sampled_from([*list(ORIENTATIONS)[:4] * 3, "zero", "parallel", "nan"])),
        "origin": (draw(st.sampled_from([0.0, -50.5, 12.0])), draw(field), 3.0),
        "step": draw(st.sampled_from([0.7, 1.0, 2.5, 2.5, 0.0])),
        "order": draw(st.permutations(range(n))),
        "rescale": draw(st.sampled_from([None, (1.0, -1024.0), (2.5, 10.0), (np.nan, 0.0), (1.0, np.inf)])),
        "truncate": draw(st.sampled_from([0, 0, 0, 1, 3])),
        "seed": draw(st.integers(0, 2**16)),
    }


def _write_dicom_slice(path: Path, case: dict, pixels: np.ndarray, position: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if case["syntax"] == RLELossless else case["syntax"]
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = "CT", "1.2.826.0.1.3680043.2.1125.9.1"
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in ORIENTATIONS[case["orientation"]]]
    ds.PixelSpacing = [float(v) for v in case["spacing"]]
    if case["rescale"] is not None:
        ds.RescaleSlope, ds.RescaleIntercept = case["rescale"]
    ds.Rows, ds.Columns = case["rows"], case["cols"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = case["bits"]
    ds.HighBit, ds.PixelRepresentation = case["bits"] - 1, case["signed"]
    ds.PixelData = pixels.tobytes()
    if case["syntax"] == RLELossless:
        ds.compress(RLELossless, pixels, encoding_plugin="pydicom")
    elif case["truncate"]:
        ds.PixelData = ds.PixelData[: -2 * case["truncate"]]
    ds.save_as(path, enforce_file_format=True)


def _dicom_expectation(case: dict, stacks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, bool]:
    """(RAS affine, voxels (X, Y[, Z]), must be refused) from the header fields written for ``case``."""
    iop = np.asarray(ORIENTATIONS[case["orientation"]], np.float64)
    row, col = iop[:3], iop[3:]
    spacing = np.asarray(case["spacing"])
    normal = np.cross(row, col)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = row * spacing[1], col * spacing[0]
    lps[:3, 2] = normal * case["step"]
    lps[:3, 3] = case["origin"]
    refuse = case["orientation"] in ("zero", "parallel", "nan") or not np.all(np.isfinite(case["origin"]))
    refuse |= not (np.all(np.isfinite(spacing)) and np.all(spacing > 0))
    refuse |= case["n"] > 1 and case["step"] == 0.0  # several slices at one position
    refuse |= bool(case["truncate"]) and case["syntax"] != RLELossless
    values = np.stack([s.T for s in stacks], axis=-1).astype(np.float64)
    if case["rescale"] is not None:
        values = values * case["rescale"][0] + case["rescale"][1]
    refuse |= not np.all(np.isfinite(values))
    return LPS_TO_RAS @ lps, values if case["n"] > 1 else values[..., 0], refuse


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=250, **SETTINGS)
@given(case=dicom_cases())
def test_property_dicom_header_loads_as_stated_or_is_refused(case: dict) -> None:
    dtype = np.dtype(f"{'i' if case['signed'] else 'u'}{case['bits'] // 8}").newbyteorder("<")
    rng = np.random.default_rng(case["seed"])
    stacks = [rng.integers(0, 200, (case["rows"], case["cols"])).astype(dtype) for _ in range(case["n"])]
    iop = np.asarray(ORIENTATIONS[case["orientation"]], np.float64)
    normal = np.cross(iop[:3], iop[3:])
    with tempfile.TemporaryDirectory() as folder:
        series = Path(folder) / "series"
        series.mkdir()
        for k in case["order"]:  # files written (and named) in a shuffled order
            position = np.asarray(case["origin"]) + k * case["step"] * normal
            _write_dicom_slice(series / f"IM{case['order'].index(k):02d}.dcm", case, stacks[k], position)
        path = series if case["n"] > 1 else next(series.iterdir())
        affine, values, refuse = _dicom_expectation(case, stacks)
        _check(path, affine, values, refuse, 3 if case["n"] > 1 else 2)
