"""Head phantom: determinism, tissue values and contrast, geometry, dataset layout and phantom.json."""

from __future__ import annotations

import hashlib
import json

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from medtranslate.data.phantom import LABELS, ensure_phantom_dataset, make_subject, write_phantom_dataset
from medtranslate.errors import OutputExistsError

SMALL = {"shape": (48, 48, 16), "spacing": (4.0, 4.0, 6.0)}
LAYOUT = {"shape": (32, 32, 10), "spacing": (6.0, 6.0, 9.6)}


def _median(subject, array, *names):
    mask = np.isin(subject.labels, [LABELS[n] for n in names])
    assert mask.any()
    return float(np.median(array[mask]))


def test_deterministic_per_seed():
    a, b, c = make_subject(7, **SMALL), make_subject(7, **SMALL), make_subject(8, **SMALL)
    for key in ("ct_hu", "mri", "labels", "affine"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.ct_hu, c.ct_hu) and not np.array_equal(a.labels, c.labels)


def test_ct_hu_and_mri_contrast_at_default_size():
    subject = make_subject(3)
    assert subject.ct_hu.shape == subject.mri.shape == subject.labels.shape == (96, 96, 48)
    assert subject.ct_hu.dtype == subject.mri.dtype == np.float32
    assert abs(_median(subject, subject.ct_hu, "air") + 1000) < 10
    assert _median(subject, subject.ct_hu, "cortical_bone", "diploe") > 600
    assert 20 < _median(subject, subject.ct_hu, "grey_matter", "white_matter") < 45
    assert _median(subject, subject.ct_hu, "fat", "skin") < _median(subject, subject.ct_hu, "grey_matter")
    wm, gm, csf = (_median(subject, subject.mri, n) for n in ("white_matter", "grey_matter", "csf"))
    assert wm > gm > csf
    assert _median(subject, subject.mri, "air") < 50 and subject.mri.min() >= 0
    assert _median(subject, subject.mri, "cortical_bone") < _median(subject, subject.mri, "fat")
    assert 0 < subject.mri.max() < 2000
    assert np.allclose(subject.affine[:3, :3], np.diag([2.0, 2.0, 3.0]))
    assert np.allclose(subject.affine @ [47.5, 47.5, 23.5, 1], [0, 0, 0, 1])  # origin at the head centre


def test_lesion_toggle_keeps_anatomy():
    with_l, without = make_subject(11, lesions=True, **SMALL), make_subject(11, lesions=False, **SMALL)
    assert (with_l.labels == LABELS["lesion"]).any() and not (without.labels == LABELS["lesion"]).any()
    outside = with_l.labels != LABELS["lesion"]
    assert np.array_equal(with_l.labels[outside], without.labels[outside])


def test_tilt_makes_an_oblique_affine():
    subject = make_subject(1, tilt_deg=15.0, **SMALL)
    column = subject.affine[:3, 2] / np.linalg.norm(subject.affine[:3, 2])
    assert np.isclose(np.degrees(np.arccos(column[2])), 15.0)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dataset_layout_hashes_and_pairing(tmp_path):
    root = write_phantom_dataset(tmp_path / "ph", n_unpaired=2, n_paired=1, seed=5, formats=("nifti", "png", "dicom"),
                                 **LAYOUT)
    record = json.loads((root / "phantom.json").read_text())
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"phantom.json"}
    assert set(record["files"]) == names
    assert all(_sha(root / rel) == digest for rel, digest in record["files"].items())
    ct = sorted(p.name for p in (root / "unpaired" / "ct").iterdir())
    mri = sorted(p.name for p in (root / "unpaired" / "mri").iterdir())
    assert ct == ["subject_000.nii.gz", "subject_001.nii.gz"] and mri == ["subject_002.nii.gz", "subject_003.nii.gz"]
    seeds = {s["id"]: s["seed"] for s in record["subjects"]}
    assert len(set(seeds.values())) == len(seeds) == 5
    paired_ct, paired_mri = (nib.load(root / "paired" / d / "subject_004.nii.gz") for d in ("ct", "mri"))
    assert paired_ct.shape == paired_mri.shape == LAYOUT["shape"]
    assert np.array_equal(paired_ct.affine, paired_mri.affine)
    assert np.array_equal(paired_ct.affine, make_subject(seeds["subject_004"], **LAYOUT).affine)
    assert paired_ct.get_data_dtype() == np.int16
    unpaired = nib.load(root / "unpaired" / "ct" / "subject_000.nii.gz").get_fdata()
    assert not np.array_equal(unpaired, paired_ct.get_fdata())
    assert len(list((root / "png" / "paired" / "mri").glob("subject_004_z*.png"))) == LAYOUT["shape"][2]
    assert Image.open(root / "png" / "unpaired" / "ct" / "subject_000_z008.png").mode == "L"
    dicom_ct = sorted((root / "dicom" / "paired" / "ct" / "subject_004").glob("*.dcm"))
    dicom_mr = sorted((root / "dicom" / "paired" / "mri" / "subject_004").glob("*.dcm"))
    ct_header, mr_header = pydicom.dcmread(dicom_ct[0]), pydicom.dcmread(dicom_mr[0])
    assert float(ct_header.RescaleIntercept) == -1024 and ct_header.Modality == "CT" and mr_header.Modality == "MR"
    assert ct_header.StudyInstanceUID == mr_header.StudyInstanceUID
    assert ct_header.SeriesInstanceUID != mr_header.SeriesInstanceUID
    assert "SYNTHETIC" in ct_header.SeriesDescription


def test_dataset_reproducible_and_ensure(tmp_path):
    kwargs = {"n_unpaired": 1, "n_paired": 1, "seed": 2, "shape": (24, 24, 6), "spacing": (8.0, 8.0, 12.0)}
    first = write_phantom_dataset(tmp_path / "a", formats=("nifti", "dicom"), **kwargs)
    second = write_phantom_dataset(tmp_path / "b", formats=("nifti", "dicom"), **kwargs)
    assert (first / "phantom.json").read_bytes() == (second / "phantom.json").read_bytes()
    stamp = (first / "phantom.json").stat().st_mtime_ns
    assert ensure_phantom_dataset(first, formats=("dicom", "nifti"), **kwargs) == first
    assert (first / "phantom.json").stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError, match="parameters"):
        ensure_phantom_dataset(first, formats=("nifti",), **kwargs)
    (first / "unpaired" / "ct" / "subject_000.nii.gz").write_bytes(b"tampered")
    with pytest.raises(OutputExistsError, match="changed"):
        ensure_phantom_dataset(first, formats=("nifti", "dicom"), **kwargs)
    ensure_phantom_dataset(first, formats=("nifti",), overwrite=True, **kwargs)
    assert json.loads((first / "phantom.json").read_text())["parameters"]["formats"] == ["nifti"]
    fresh = ensure_phantom_dataset(tmp_path / "c", **kwargs)
    assert (fresh / "paired" / "mri" / "subject_002.nii.gz").is_file()
    with pytest.raises(OutputExistsError):
        write_phantom_dataset(first, **kwargs)
