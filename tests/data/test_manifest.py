"""Manifests of tiny generated layouts: Kaggle-like, phantom-like, plain ct/ + mri/ folders with DICOM series."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from monai.data import load_decathlon_datalist
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from medtranslate.data import (
    DATASET_DIR_PLACEHOLDER,
    build_manifest,
    detect_layout,
    read_manifest,
    verify_manifest,
    write_manifest,
)
from medtranslate.errors import CorruptFileError, EmptyInputError, InputError, OutputExistsError


def _image(path: Path, value: int, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((8, 8), value, np.uint8)
    arr[0, 0] = 255 - value
    Image.fromarray(arr).save(path, format=fmt)
    return path


def _kaggle(root: Path) -> Path:
    """trainA 4 CT; trainB 5 MRI (one PNG under .jpg, one byte-duplicate); testA 2; testB 3 (one leaks from trainB)."""
    for i in range(4):
        _image(root / "trainA" / f"ct{i}.png", 10 + i)
    for i in range(4):
        _image(root / "trainB" / f"mri{i}.jpg", 100 + i * 20, fmt="JPEG")
    _image(root / "trainB" / "mri10.jpg", 50)  # PNG bytes under .jpg
    shutil.copyfile(root / "trainB" / "mri1.jpg", root / "trainB" / "mri7.jpg")  # duplicate of mri1
    for i in range(2):
        _image(root / "testA" / f"ct{100 + i}.png", 30 + i)
    _image(root / "testB" / "mri200.jpg", 7, fmt="JPEG")
    _image(root / "testB" / "mri201.jpg", 9, fmt="JPEG")
    shutil.copyfile(root / "trainB" / "mri2.jpg", root / "testB" / "mri202.jpg")  # leaks from train
    (root / "trainA" / ".DS_Store").write_bytes(b"junk")
    return root


def _nifti(path: Path, value: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((4, 4, 3), value, np.float32), np.eye(4)), path)
    return path


def _dicom_series(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    for i in range(n):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = "CT", series, i + 1
        ds.Rows = ds.Columns = 4
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = np.full((4, 4), i, np.int16).tobytes()
        ds.save_as(folder / f"IM{i}.dcm", enforce_file_format=True)
    return folder


def _folders(root: Path) -> Path:
    _nifti(root / "CT" / "subject1.nii.gz", 1.0)
    _dicom_series(root / "CT" / "subject2" / "series")
    (root / "CT" / "notes.txt").write_text("not an image")
    (root / "CT" / "empty.nii").write_bytes(b"")
    (root / "MRI").mkdir(parents=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 4), np.float32)), str(root / "MRI" / "subject1.mhd"))
    _nifti(root / "MRI" / "subject2.nii", 2.0)
    return root


def _phantom(root: Path) -> Path:
    for i in range(3):
        _nifti(root / "unpaired" / "ct" / f"ct_{i:03d}.nii.gz", i)
        _nifti(root / "unpaired" / "mri" / f"mri_{i:03d}.nii.gz", 10 + i)
    for i in range(2):
        _nifti(root / "paired" / "ct" / f"case_{i:03d}.nii.gz", 20 + i)
        _nifti(root / "paired" / "mri" / f"case_{i:03d}.nii.gz", 30 + i)
    (root / "phantom.json").write_text(json.dumps({"seed": 0, "n": 3}))
    return root


def test_kaggle_layout_report_and_dedupe(tmp_path, assert_unchanged):
    root = _kaggle(tmp_path / "kaggle")
    with assert_unchanged(root):
        kept = build_manifest(root, dedupe=False)
        clean = build_manifest(root)
    assert kept["layout"] == "kaggle" and kept["base_dir"] == str(root.resolve())
    report = kept["report"]
    assert report["found"] == {"training_ct": 4, "training_mri": 6, "test_ct": 2, "test_mri": 3}
    assert report["duplicates"] == {
        "training_mri": [{"sha256": kept["training_mri"][1]["sha256"], "paths": ["trainB/mri1.jpg", "trainB/mri7.jpg"]}]
    }
    assert [leak["path"] for leak in report["leakage"]["test_mri"]] == ["testB/mri202.jpg"]
    assert report["leakage"]["test_mri"][0]["matches"] == ["trainB/mri2.jpg"]
    assert report["extension_mismatch"] == [{"path": "trainB/mri10.jpg", "extension": "jpeg", "format": "png"}]
    assert report["formats"]["training_mri"] == {"jpeg": 5, "png": 1}
    assert report["skipped"] == [] and report["cross_domain"] == []
    assert len(kept["training_mri"]) == 6 and len(kept["test_mri"]) == 3
    assert report["duplicates_dropped"] == [] and report["leakage_dropped"] == []

    # dedupe keeps the first of each group, drops the leak from *test* only, and reports both
    assert [e["image"] for e in clean["training_mri"]] == [f"trainB/mri{i}.jpg" for i in (0, 1, 2, 3, 10)]
    assert [e["image"] for e in clean["test_mri"]] == ["testB/mri200.jpg", "testB/mri201.jpg"]
    assert [d["path"] for d in clean["report"]["duplicates_dropped"]] == ["trainB/mri7.jpg"]
    assert [d["path"] for d in clean["report"]["leakage_dropped"]] == ["testB/mri202.jpg"]
    assert clean["report"]["counts"]["training_mri"] == 5 and clean["paired"] == []
    entry = clean["training_ct"][0]
    assert entry["image"] == "trainA/ct0.png" and entry["format"] == "png" and entry["domain"] == "ct"
    assert entry["size"] == (root / "trainA/ct0.png").stat().st_size and len(entry["sha256"]) == 64


def test_subset_and_validation_are_seeded_and_disjoint(tmp_path):
    root = tmp_path / "k"
    for i in range(12):
        _image(root / "trainA" / f"ct{i}.png", i)
        _image(root / "trainB" / f"mri{i}.png", 100 + i)
    a = build_manifest(root, subset=5, val_count=3, seed=1)
    b = build_manifest(root, subset=5, val_count=3, seed=1)
    c = build_manifest(root, subset=5, val_count=3, seed=2)
    for domain in ("ct", "mri"):
        train = {e["image"] for e in a[f"training_{domain}"]}
        val = {e["image"] for e in a[f"validation_{domain}"]}
        assert len(train) == 5 and len(val) == 3 and not train & val
    assert a["training_ct"] == b["training_ct"] and a["validation_mri"] == b["validation_mri"]
    assert a["training_ct"] != c["training_ct"]
    assert a["subset"] == 5 and a["seed"] == 1 and a["val_count"] == 3
    frac = build_manifest(root, val_fraction=0.25)
    assert len(frac["validation_ct"]) == 3 and len(frac["training_ct"]) == 9
    big = build_manifest(root, subset=100)
    assert len(big["training_ct"]) == 12


def test_validation_leakage_without_dedupe(tmp_path):
    root = tmp_path / "k"
    for i in range(2):
        _image(root / "trainA" / f"ct{i}.png", i)
    _image(root / "trainB" / "mri0.png", 100)
    shutil.copyfile(root / "trainB" / "mri0.png", root / "trainB" / "mri1.png")
    m = build_manifest(root, val_count=1, dedupe=False)
    assert [leak["path"] for leak in m["report"]["leakage"]["validation_mri"]] == [m["validation_mri"][0]["image"]]


def test_folders_layout_dicom_series_and_metaimage(tmp_path, assert_unchanged):
    root = _folders(tmp_path / "plain")
    with assert_unchanged(root):
        m = build_manifest(root)
    assert m["layout"] == "folders"
    ct = {e["image"]: e for e in m["training_ct"]}
    assert set(ct) == {"CT/subject1.nii.gz", "CT/subject2/series"}
    assert ct["CT/subject2/series"]["format"] == "dicom" and ct["CT/subject2/series"]["files"] == 2
    mri = {e["image"]: e for e in m["training_mri"]}
    assert set(mri) == {"MRI/subject1.mhd", "MRI/subject2.nii"}
    assert mri["MRI/subject1.mhd"]["format"] == "metaimage" and mri["MRI/subject1.mhd"]["files"] == 2
    assert mri["MRI/subject1.mhd"]["size"] > (root / "MRI/subject1.mhd").stat().st_size
    assert {s["path"] for s in m["report"]["skipped"]} == {"CT/notes.txt", "CT/empty.nii"}
    assert m["test_ct"] == [] and m["validation_mri"] == []


def test_phantom_layout_pairs(tmp_path):
    root = _phantom(tmp_path / "phantom")
    m = build_manifest(root, name="phantom")
    assert m["layout"] == "phantom" and m["name"] == "phantom" and m["phantom"] == {"seed": 0, "n": 3}
    assert [e["image"] for e in m["training_ct"]] == [f"unpaired/ct/ct_{i:03d}.nii.gz" for i in range(3)]
    assert all(e["format"] == "nifti" for e in m["training_mri"])
    assert m["paired"] == [
        {"ct": f"paired/ct/case_{i:03d}.nii.gz", "mri": f"paired/mri/case_{i:03d}.nii.gz"} for i in range(2)
    ]
    assert [e["image"] for e in m["test_mri"]] == [p["mri"] for p in m["paired"]]
    (root / "phantom.json").write_text("{broken")
    with pytest.raises(CorruptFileError, match=r"phantom\.json"):
        build_manifest(root)


def test_write_read_verify_and_monai_datalist(tmp_path):
    root = _kaggle(tmp_path / "kaggle")
    manifest = build_manifest(root, metadata={"description": "tiny"})
    out = tmp_path / "out" / "manifest.json"
    write_manifest(manifest, out)
    assert read_manifest(out)["description"] == "tiny"
    with pytest.raises(OutputExistsError):
        write_manifest(manifest, out)
    assert verify_manifest(out) == []

    # MONAI reads it; a portable manifest needs the data folder
    write_manifest(manifest, out, overwrite=True, base_dir=DATASET_DIR_PLACEHOLDER)
    items = load_decathlon_datalist(out, data_list_key="training_mri", base_dir=root)
    assert items[0]["image"] == str(root / "trainB/mri0.jpg")
    assert items[0]["sha256"] == manifest["training_mri"][0]["sha256"]
    with pytest.raises(InputError, match="dataset_dir"):
        verify_manifest(out)
    assert verify_manifest(out, data_dir=root) == []
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "trainA/ct1.png").unlink()
    _image(copy / "trainA/ct2.png", 77)
    (copy / "trainA/ct3.png").write_bytes(bytes(reversed((root / "trainA/ct3.png").read_bytes())))
    problems = verify_manifest(out, data_dir=copy)
    assert problems[0] == "trainA/ct1.png: missing"
    assert any(p.startswith("trainA/ct2.png: size") or p.startswith("trainA/ct2.png: SHA") for p in problems)
    assert "trainA/ct3.png: SHA-256 differs from the recorded one" in problems and len(problems) == 3

    # a relative base_dir starts at the manifest's folder, as in MONAI
    write_manifest(manifest, out, overwrite=True, base_dir="../kaggle")
    assert verify_manifest(out) == []


def test_bad_inputs_name_the_folder(tmp_path):
    with pytest.raises(InputError, match="no known layout"):
        detect_layout(tmp_path)
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainA" / "readme.txt").write_text("x")
    with pytest.raises(EmptyInputError, match=str(tmp_path)):
        build_manifest(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        build_manifest(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CorruptFileError):
        read_manifest(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(InputError, match="not a medtranslate manifest"):
        read_manifest(tmp_path / "other.json")
