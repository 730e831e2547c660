"""A deterministic, seeded 3D head phantom with matching CT (HU) and T1-like MRI, and a dataset writer.

Each subject is drawn from one integer seed. The anatomy is defined in world millimetres (RAS, origin at the
head centre), so the same subject sampled on another grid is the same head:

- **scalp**: skin then subcutaneous fat;
- **skull**: outer table, diploë (marrow), inner table, with smoothly varying thickness;
- **CSF**: a subarachnoid layer widened into sulci, and two lateral ventricles (size varies per subject);
- **grey matter**: a cortical ribbon whose depth is folded by smooth noise (gyri), plus deep grey nuclei;
- **white matter** inside;
- optional **lesions** in the white matter: hypodense/T1-dark (infarct-like) or hyperdense/T1-bright
  (haemorrhage-like) blobs.

Shape varies per subject (head semi-axes, a small head rotation, ventricle size, folding). CT is in HU with
a slight blur and Gaussian noise; the MRI is T1-like (WM bright, GM mid, CSF dark, fat and marrow bright, cortical
bone dark, air 0 before noise), with a smooth multiplicative bias field and Rician noise, in arbitrary positive
units (about 0..1000). The head is shrunk uniformly when the in-plane field of view is too small for it; the
axial extent is a slab through the head centre. ``tilt_deg`` makes the voxel grid oblique (the affine records
it; the anatomy stays where it is in the world).

Every image of the phantom is computed, not acquired; its DICOM export is therefore marked
``DERIVED\\SECONDARY`` and ``SYNTHETIC`` like any other output of :func:`medtranslate.io.writers.write_dicom_series`.

Dataset layout written by :func:`write_phantom_dataset` (other modules rely on it)::

    <root>/phantom.json
    <root>/unpaired/ct/subject_NNN.nii.gz      CT subjects (int16 HU)
    <root>/unpaired/mri/subject_MMM.nii.gz     MRI of other subjects (float32)
    <root>/paired/ct/subject_PPP.nii.gz        same subject, same grid and affine ...
    <root>/paired/mri/subject_PPP.nii.gz       ... as its MRI (for evaluation)
    <root>/labels/subject_XXX.nii.gz           tissue labels of every subject (:data:`LABELS`)
    optional  <root>/dicom/{unpaired,paired}/{ct,mri}/subject_XXX/slice_NNNN.dcm
    optional  <root>/png/{unpaired,paired}/{ct,mri}/subject_XXX_zZZZ.png
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid
from scipy import ndimage

from medtranslate.errors import InputError, OutputExistsError
from medtranslate.io.atomic import atomic_dir, atomic_write_text
from medtranslate.io.writers import write_dicom_series, write_nifti, write_png_slices

__all__ = [
    "CT_HU",
    "LABELS",
    "MRI_T1",
    "PHANTOM_VERSION",
    "PhantomSubject",
    "ensure_phantom_dataset",
    "make_subject",
    "phantom_affine",
    "write_phantom_dataset",
]

#: Bumped whenever the generated images change for a given seed and parameters.
PHANTOM_VERSION = "1.0"

#: Tissue label codes of :attr:`PhantomSubject.labels`.
LABELS: dict[str, int] = {
    "air": 0,
    "skin": 1,
    "fat": 2,
    "cortical_bone": 3,
    "diploe": 4,
    "csf": 5,
    "grey_matter": 6,
    "white_matter": 7,
    "lesion": 8,
}

#: Mean CT value (HU) per label before per-subject jitter, blur and noise; lesions depend on their kind.
CT_HU: dict[str, float] = {
    "air": -1000.0,
    "skin": 40.0,
    "fat": -100.0,
    "cortical_bone": 1350.0,
    "diploe": 800.0,
    "csf": 8.0,
    "grey_matter": 40.0,
    "white_matter": 28.0,
    "lesion_hypo": 12.0,
    "lesion_hyper": 68.0,
}

#: Mean T1-like MRI value per label before jitter, bias field and noise.
MRI_T1: dict[str, float] = {
    "air": 0.0,
    "skin": 380.0,
    "fat": 900.0,
    "cortical_bone": 30.0,
    "diploe": 620.0,
    "csf": 150.0,
    "grey_matter": 450.0,
    "white_matter": 700.0,
    "lesion_hypo": 260.0,
    "lesion_hyper": 860.0,
}

_HEAD_SEMI_AXES_MM = (72.0, 90.0, 64.0)  # left-right, anterior-posterior, inferior-superior
_DICOM_DATETIME = _dt.datetime(2000, 1, 1, 0, 0, 0)


@dataclass
class PhantomSubject:
    """One phantom head.

    Attributes:
        ct_hu: CT in HU, float32 ``(X, Y, Z)``.
        mri: T1-like MRI, float32 ``(X, Y, Z)``, arbitrary positive units.
        labels: uint8 tissue labels ``(X, Y, Z)`` (:data:`LABELS`).
        affine: 4×4 RAS affine shared by the three arrays.
        seed: the seed the subject was drawn from.
        params: the drawn shape parameters (JSON-serialisable).
    """

    ct_hu: np.ndarray
    mri: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


def _rotation(angles_deg: Sequence[float]) -> np.ndarray:
    """Rotation matrix from angles (degrees) about x, then y, then z."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def phantom_affine(
    shape: Sequence[int] = (96, 96, 48), spacing: Sequence[float] = (2.0, 2.0, 3.0), tilt_deg: float = 0.0
) -> np.ndarray:
    """RAS affine of a phantom grid: the grid centre is at world (0, 0, 0), i.e. the head centre.

    Args:
        shape: grid size ``(X, Y, Z)``.
        spacing: voxel size in mm.
        tilt_deg: rotation of the grid about the left-right axis (a gantry-tilt-like oblique grid).

    Returns:
        the 4×4 affine, rounded to float32 values so a NIfTI file stores it exactly.
    """
    rot = _rotation((tilt_deg, 0.0, 0.0))
    linear = rot @ np.diag(np.asarray(spacing, dtype=np.float64))
    centre = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ centre
    return affine.astype(np.float32).astype(np.float64)  # exact in the NIfTI header's float32


class _SmoothField:
    """A smooth random field in world mm: a sum of a few random plane waves, values roughly in [-1, 1]."""

    def __init__(self, rng: np.random.Generator, wavelength_mm: float, waves: int = 6) -> None:
        directions = rng.normal(size=(waves, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        lengths = wavelength_mm * rng.uniform(0.7, 1.4, size=waves)
        self.vectors = (2 * np.pi / lengths)[:, None] * directions
        self.phases = rng.uniform(0, 2 * np.pi, size=waves)
        self.scale = np.float32(np.sqrt(2.0 / waves))

    def __call__(self, points: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        out = np.zeros(points[0].shape, dtype=np.float32)
        for vec, phase in zip(self.vectors.astype(np.float32), self.phases, strict=True):
            out += np.cos(points[0] * vec[0] + points[1] * vec[1] + points[2] * vec[2] + np.float32(phase))
        return out * self.scale


def _ellipsoid(points: tuple[np.ndarray, ...], centre: Sequence[float], semi_axes: Sequence[float]) -> np.ndarray:
    """Squared normalised radius of an axis-aligned ellipsoid (inside where < 1)."""
    total = np.zeros(points[0].shape, dtype=np.float32)
    for p, c, a in zip(points, centre, semi_axes, strict=True):
        total += ((p - np.float32(c)) / np.float32(a)) ** 2
    return total


def make_subject(
    seed: int,
    shape: Sequence[int] = (96, 96, 48),
    spacing: Sequence[float] = (2.0, 2.0, 3.0),
    lesions: bool = True,
    tilt_deg: float = 0.0,
) -> PhantomSubject:
    """Draw one phantom head from ``seed`` (same seed and arguments → identical arrays).

    Args:
        seed: non-negative integer seed of the subject.
        shape: grid size ``(X, Y, Z)``; axial slices run along Z.
        spacing: voxel size in mm ``(X, Y, Z)``.
        lesions: add 1–3 white-matter lesions (drawn from the same seed, so toggling keeps the anatomy).
        tilt_deg: oblique grid, see :func:`phantom_affine`.

    Returns:
        the subject: CT (HU), MRI, labels and the RAS affine.
    """
    if len(shape) != 3 or len(spacing) != 3 or min(shape) < 1 or min(spacing) <= 0:
        raise InputError(None, f"phantom shape/spacing must be three positive values, got {shape}, {spacing}")
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(int(seed))
    affine = phantom_affine(shape, spacing, tilt_deg)

    # --- subject parameters (all drawn up front so options do not shift the random stream) ---
    fov = np.asarray(shape[:2], dtype=np.float64) * np.asarray(spacing[:2], dtype=np.float64)
    semi = np.asarray(_HEAD_SEMI_AXES_MM) * rng.uniform(0.93, 1.07, size=3)
    fit = float(min(1.0, *(0.45 * fov / semi[:2])))
    semi = semi * fit
    head_rot = _rotation(rng.uniform(-6.0, 6.0, size=3))
    head_shift = rng.uniform(-3.0, 3.0, size=3) * fit
    skin_mm, fat_mm = rng.uniform(2.0, 3.0) * fit, rng.uniform(3.0, 5.0) * fit
    table_mm, diploe_mm = rng.uniform(2.0, 2.8) * fit, rng.uniform(3.0, 5.0) * fit
    csf_mm, cortex_mm = rng.uniform(2.0, 3.5) * fit, rng.uniform(2.5, 3.5) * fit
    ventricle_scale = float(rng.uniform(0.6, 1.5))
    surface = _SmoothField(rng, 90.0 * fit)
    skull_var = _SmoothField(rng, 60.0 * fit)
    folds = _SmoothField(rng, 18.0 * fit)
    folds2 = _SmoothField(rng, 11.0 * fit)
    bias = _SmoothField(rng, 220.0, waves=4)
    ct_jitter = {k: float(rng.normal(0.0, 1.5)) for k in CT_HU}
    mri_jitter = {k: float(rng.uniform(0.95, 1.05)) for k in MRI_T1}
    n_lesions = int(rng.integers(1, 4))
    lesion_draws = [(rng.uniform(-0.45, 0.45, size=3), rng.uniform(5.0, 10.0) * fit, bool(rng.random() < 0.5))
                    for _ in range(n_lesions)]
    noise_rng = np.random.default_rng(rng.integers(0, 2**63))

    # --- world coordinates in the head frame (mm) ---
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = affine[:3, :3].astype(np.float32) @ ijk + affine[:3, 3:4].astype(np.float32)
    head = (head_rot.T.astype(np.float32) @ (world - head_shift[:, None].astype(np.float32))).reshape(3, *shape)
    pts = (head[0], head[1], head[2])

    # radial depth below the (perturbed) scalp surface: a_dir - |p|, where a_dir is the ellipsoid radius along p
    radius = np.sqrt(_ellipsoid(pts, (0, 0, 0), semi))
    norm = np.sqrt(pts[0] ** 2 + pts[1] ** 2 + pts[2] ** 2)
    a_dir = np.where(radius > 1e-6, norm / np.maximum(radius, 1e-6), np.float32(semi.min()))
    depth = (a_dir - norm) + np.float32(2.5 * fit) * surface(pts)

    skull_start = skin_mm + fat_mm
    skull_thick = (2 * table_mm + diploe_mm) * (1.0 + 0.25 * skull_var(pts))
    diploe_start = skull_start + table_mm
    diploe_end = skull_start + skull_thick - table_mm
    brain_depth = depth - (skull_start + skull_thick)
    fold = folds(pts)
    csf_end = csf_mm + np.float32(3.0 * fit) * np.clip(fold, 0.0, None)
    gm_end = csf_end + cortex_mm * (1.0 + 0.35 * folds2(pts)) + np.float32(2.0 * fit) * np.clip(-fold, 0.0, None)

    labels = np.zeros(shape, dtype=np.uint8)
    labels[depth >= 0] = LABELS["skin"]
    labels[depth >= skin_mm] = LABELS["fat"]
    labels[depth >= skull_start] = LABELS["cortical_bone"]
    labels[(depth >= diploe_start) & (depth < diploe_end)] = LABELS["diploe"]
    labels[brain_depth >= 0] = LABELS["csf"]
    labels[brain_depth >= csf_end] = LABELS["grey_matter"]
    labels[brain_depth >= gm_end] = LABELS["white_matter"]
    brain_scale = semi / np.asarray(_HEAD_SEMI_AXES_MM)
    for side in (-1.0, 1.0):
        nuclei = _ellipsoid(pts, np.array([side * 17.0, -4.0, 4.0]) * brain_scale, np.array([7, 11, 8]) * brain_scale)
        labels[(nuclei < 1) & (labels == LABELS["white_matter"])] = LABELS["grey_matter"]
        horn = _ellipsoid(
            pts,
            np.array([side * 8.0 * ventricle_scale**0.5, 2.0, 12.0]) * brain_scale,
            np.array([4.0 * ventricle_scale, 22.0, 8.0 * ventricle_scale]) * brain_scale,
        )
        labels[(horn < 1) & (brain_depth > 0)] = LABELS["csf"]
    kinds = np.zeros(shape, dtype=np.int8)  # 1 hypo, 2 hyper lesion
    drawn_lesions = []
    if lesions:
        brain_semi = semi * 0.6
        for offset, size, hyper in lesion_draws:
            centre = offset * brain_semi
            blob = _ellipsoid(pts, centre, (size, size * 1.2, size * 0.9)) + np.float32(0.3) * folds2(pts)
            inside = (blob < 1) & (labels == LABELS["white_matter"])
            labels[inside] = LABELS["lesion"]
            kinds[inside] = 2 if hyper else 1
            drawn_lesions.append({"centre_mm": centre.round(2).tolist(), "radius_mm": round(size, 2),
                                  "kind": "hyper" if hyper else "hypo", "voxels": int(inside.sum())})

    # --- intensities ---
    names = {v: k for k, v in LABELS.items()}
    ct = np.empty(shape, dtype=np.float32)
    mri = np.empty(shape, dtype=np.float32)
    for code, name in names.items():
        if name == "lesion":
            continue
        mask = labels == code
        ct[mask] = CT_HU[name] + (0.0 if name == "air" else ct_jitter[name])
        mri[mask] = MRI_T1[name] * mri_jitter[name]
    for kind, name in ((1, "lesion_hypo"), (2, "lesion_hyper")):
        ct[kinds == kind] = CT_HU[name] + ct_jitter[name]
        mri[kinds == kind] = MRI_T1[name] * mri_jitter[name]

    ct = ndimage.gaussian_filter(ct, sigma=0.5, mode="nearest")
    ct += noise_rng.normal(0.0, 4.0, size=shape).astype(np.float32)
    mri = ndimage.gaussian_filter(mri, sigma=0.5, mode="nearest")
    mri *= np.exp(np.float32(0.12) * bias(pts))
    sigma = np.float32(12.0)
    real = mri + sigma * noise_rng.standard_normal(shape, dtype=np.float32)
    imag = sigma * noise_rng.standard_normal(shape, dtype=np.float32)
    mri = np.sqrt(real * real + imag * imag)

    params = {
        "shape": list(shape),
        "spacing": [float(s) for s in spacing],
        "tilt_deg": float(tilt_deg),
        "head_semi_axes_mm": semi.round(3).tolist(),
        "fov_fit": round(fit, 4),
        "ventricle_scale": round(ventricle_scale, 4),
        "lesions": drawn_lesions,
    }
    return PhantomSubject(ct_hu=ct, mri=mri, labels=labels, affine=affine, seed=int(seed), params=params)


def _subject_seed(seed: int, index: int) -> int:
    """Independent per-subject seed from the dataset seed and the subject index."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint32)[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _parameters(
    n_unpaired: int, n_paired: int, shape: Sequence[int], spacing: Sequence[float], seed: int, lesions: bool,
    tilt_deg: float, formats: Sequence[str],
) -> dict[str, Any]:
    return {
        "n_unpaired": int(n_unpaired),
        "n_paired": int(n_paired),
        "shape": [int(s) for s in shape],
        "spacing": [float(s) for s in spacing],
        "seed": int(seed),
        "lesions": bool(lesions),
        "tilt_deg": float(tilt_deg),
        "formats": sorted(set(formats)),
    }


_FORMATS = ("nifti", "dicom", "png")


def _write_domain(
    root: Path, group: str, domain: str, sid: str, subject: PhantomSubject, formats: Sequence[str], dataset_seed: int
) -> None:
    image = subject.ct_hu if domain == "ct" else subject.mri
    if domain == "ct":
        write_nifti(np.rint(image).astype(np.int16), root / group / domain / f"{sid}.nii.gz", affine=subject.affine)
    else:
        write_nifti(image, root / group / domain / f"{sid}.nii.gz", affine=subject.affine)
    if "dicom" in formats:
        entropy = [f"medtranslate-phantom-{PHANTOM_VERSION}", str(dataset_seed), sid]
        ct = domain == "ct"
        write_dicom_series(
            image,
            root / "dicom" / group / domain / sid,
            affine=subject.affine,
            modality="CT" if ct else "MR",
            series_description=f"phantom head {'CT' if ct else 'T1-like MR'}",
            rescale=(1.0, -1024.0) if ct else None,
            window=(40.0, 400.0) if ct else None,
            series_number=1 if ct else 2,
            extra_tags={
                "PatientName": "PHANTOM^HEAD",
                "PatientID": f"PHANTOM_{sid}",
                "StudyInstanceUID": _uid(entropy, "study"),
                "FrameOfReferenceUID": _uid(entropy, "frame"),
                "StudyDescription": "medtranslate head phantom",
                "ManufacturerModelName": "head phantom",
            },
            uid_entropy=[*entropy, domain],
            content_datetime=_DICOM_DATETIME,
        )
    if "png" in formats:
        value_range = (-160.0, 240.0) if domain == "ct" else (0.0, float(np.percentile(image, 99.5)))
        write_png_slices(image, root / "png" / group / domain, sid, bit_depth=8, value_range=value_range,
                         affine=subject.affine)


def _uid(entropy: Sequence[str], part: str) -> str:
    return generate_uid(entropy_srcs=[*entropy, part])


def write_phantom_dataset(
    root: str | os.PathLike,
    n_unpaired: int = 8,
    n_paired: int = 2,
    shape: Sequence[int] = (96, 96, 48),
    spacing: Sequence[float] = (2.0, 2.0, 3.0),
    seed: int = 0,
    lesions: bool = True,
    tilt_deg: float = 0.0,
    formats: Sequence[str] = ("nifti",),
    overwrite: bool = False,
) -> Path:
    """Write the phantom dataset (module docstring layout) into ``root``; the folder appears whole.

    Subjects are numbered ``subject_000`` … in the order: ``n_unpaired`` CT subjects, ``n_unpaired`` other MRI
    subjects, then ``n_paired`` subjects with both CT and MRI; subject ``i`` is drawn from a seed derived from
    ``(seed, i)``, so CT and MRI subjects never share a seed. ``phantom.json`` records the generator version, the
    parameters, each subject's seed and drawn shape parameters, and the SHA-256 of every file. The output is
    byte-for-byte reproducible (NIfTI gzip headers carry no time; DICOM UIDs and dates are derived from the seed).

    Args:
        root: the dataset folder to create.
        n_unpaired: number of CT subjects and (other) MRI subjects in ``unpaired/``.
        n_paired: number of subjects with both CT and MRI in ``paired/``.
        shape: grid size ``(X, Y, Z)`` of every subject.
        spacing: voxel size in mm.
        seed: dataset seed.
        lesions: add white-matter lesions.
        tilt_deg: oblique grids, see :func:`phantom_affine`.
        formats: ``"nifti"`` (always written), plus ``"dicom"`` (CT: int16 with ``RescaleIntercept`` -1024, head
            window 40/400) and/or ``"png"`` (8-bit; CT window 40/400 → 0..255, MRI 0..99.5th percentile → 0..255).
        overwrite: replace an existing ``root``.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    unknown = set(formats) - set(_FORMATS)
    if unknown:
        raise InputError(root, f"unknown phantom formats {sorted(unknown)}; choose from {list(_FORMATS)}")
    if min(n_unpaired, n_paired) < 0:
        raise InputError(root, "subject counts must be non-negative")
    params = _parameters(n_unpaired, n_paired, shape, spacing, seed, lesions, tilt_deg, formats)
    plan = [("unpaired", ("ct",))] * n_unpaired + [("unpaired", ("mri",))] * n_unpaired
    plan += [("paired", ("ct", "mri"))] * n_paired
    width = max(3, len(str(len(plan) - 1)))
    target = Path(root)
    subjects = []
    with atomic_dir(target, overwrite=overwrite) as tmp:
        for index, (group, domains) in enumerate(plan):
            sid = f"subject_{index:0{width}d}"
            subject_seed = _subject_seed(seed, index)
            subject = make_subject(subject_seed, shape=shape, spacing=spacing, lesions=lesions, tilt_deg=tilt_deg)
            for domain in domains:
                _write_domain(tmp, group, domain, sid, subject, params["formats"], seed)
            write_nifti(subject.labels, tmp / "labels" / f"{sid}.nii.gz", affine=subject.affine)
            subjects.append({"id": sid, "group": group, "domains": list(domains), "seed": subject_seed,
                             "params": subject.params})
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        record = {
            "generator": "medtranslate.data.phantom",
            "version": PHANTOM_VERSION,
            "parameters": params,
            "layout": {
                "unpaired": "unpaired/{ct,mri}/subject_NNN.nii.gz (different subjects per domain)",
                "paired": "paired/{ct,mri}/subject_NNN.nii.gz (same subject, same grid)",
                "labels": "labels/subject_NNN.nii.gz",
            },
            "intensity": {"ct": "HU (int16 NIfTI)", "mri": "arbitrary T1-like units (float32 NIfTI)"},
            "labels": LABELS,
            "subjects": subjects,
            "files": files,
        }
        atomic_write_text(tmp / "phantom.json", json.dumps(record, indent=2) + "\n")
    return target


def _matches(root: Path, params: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``root/phantom.json`` records ``params`` and every listed file is present with its hash."""
    try:
        record = json.loads((root / "phantom.json").read_text())
    except (OSError, ValueError) as err:
        return False, f"phantom.json unreadable ({err})"
    if record.get("version") != PHANTOM_VERSION:
        return False, f"generator version {record.get('version')} != {PHANTOM_VERSION}"
    if record.get("parameters") != params:
        return False, f"parameters {record.get('parameters')} != requested {params}"
    for rel, digest in record.get("files", {}).items():
        path = root / rel
        if not path.is_file() or _sha256(path) != digest:
            return False, f"{rel} is missing or changed"
    return True, ""


def ensure_phantom_dataset(
    root: str | os.PathLike,
    n_unpaired: int = 8,
    n_paired: int = 2,
    shape: Sequence[int] = (96, 96, 48),
    spacing: Sequence[float] = (2.0, 2.0, 3.0),
    seed: int = 0,
    lesions: bool = True,
    tilt_deg: float = 0.0,
    formats: Sequence[str] = ("nifti",),
    overwrite: bool = False,
) -> Path:
    """Return ``root`` holding the phantom dataset with these parameters, writing it if it is absent.

    An existing dataset is accepted when its ``phantom.json`` records the same generator version and parameters
    and every listed file still has its recorded SHA-256. Otherwise it is regenerated with ``overwrite=True``, or
    :class:`~medtranslate.errors.OutputExistsError` says why it differs. If another process writes the same
    dataset at the same time, the first complete one is kept. Arguments are those of
    :func:`write_phantom_dataset`.
    """
    target = Path(root)
    params = _parameters(n_unpaired, n_paired, shape, spacing, seed, lesions, tilt_deg, formats)
    if target.exists():
        ok, why = _matches(target, params)
        if ok:
            return target
        if not overwrite:
            raise OutputExistsError(target, f"is not the requested phantom dataset: {why}; pass overwrite=True")
    kwargs = dict(n_unpaired=n_unpaired, n_paired=n_paired, shape=shape, spacing=spacing, seed=seed,
                  lesions=lesions, tilt_deg=tilt_deg, formats=formats)
    try:
        return write_phantom_dataset(target, overwrite=overwrite, **kwargs)
    except OutputExistsError:
        if _matches(target, params)[0]:
            return target
        raise
