"""Manifest of the real Kaggle CT/MRI subset in ``$MEDTRANSLATE_SHARED_DATA`` and the checked-in manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medtranslate.data import build_manifest, load_datalist, read_manifest, verify_manifest

pytestmark = pytest.mark.shared_data

CHECKED_IN = Path(__file__).resolve().parents[2] / "data_manifests" / "kaggle_ct2mri.json"


@pytest.fixture(scope="module")
def kaggle(shared_data: Path) -> Path:
    return shared_data / "kaggle_ct2mri"


@pytest.fixture(scope="module")
def raw(kaggle: Path) -> dict:
    return build_manifest(kaggle, dedupe=False)


def test_counts_duplicates_leakage_formats(raw):
    report = raw["report"]
    assert report["found"] == {"training_ct": 600, "training_mri": 600, "test_ct": 100, "test_mri": 124}
    assert report["counts"] == {**report["found"], "validation_ct": 0, "validation_mri": 0}
    pairs = report["duplicates"]["training_mri"]
    assert len(pairs) == 14 and all(len(group["paths"]) == 2 for group in pairs)
    assert "training_ct" not in report["duplicates"]
    assert len(report["leakage"]["test_mri"]) == 29 and "test_ct" not in report["leakage"]
    assert all(leak["matches"][0].startswith("trainB/") for leak in report["leakage"]["test_mri"])
    mismatch = report["extension_mismatch"]
    assert mismatch and all(m["path"].endswith(".jpg") and m["format"] == "png" for m in mismatch)
    assert report["formats"]["training_ct"] == {"png": 600}


def test_dedupe_drops_duplicates_and_test_leaks(kaggle, raw, assert_unchanged):
    with assert_unchanged(kaggle):
        clean = build_manifest(kaggle)
    report = clean["report"]
    assert report["counts"]["training_mri"] == 600 - 14 and len(report["duplicates_dropped"]) == 14
    assert report["counts"]["test_mri"] == 124 - 29 and len(report["leakage_dropped"]) == 29
    train_hashes = {e["sha256"] for e in raw["training_mri"]}
    assert not {e["sha256"] for e in clean["test_mri"]} & train_hashes
    assert len({e["sha256"] for e in clean["training_mri"]}) == 586
    assert clean["report"]["duplicates"] == raw["report"]["duplicates"]


def test_subset_and_validation(kaggle):
    a = build_manifest(kaggle, subset=500, val_count=50, seed=3)
    b = build_manifest(kaggle, subset=500, val_count=50, seed=3)
    for domain in ("ct", "mri"):
        train = [e["image"] for e in a[f"training_{domain}"]]
        val = [e["image"] for e in a[f"validation_{domain}"]]
        assert len(train) == 500 and len(val) == 50 and not set(train) & set(val)
        assert train == [e["image"] for e in b[f"training_{domain}"]]
    assert "validation_mri" not in a["report"]["leakage"]


def test_checked_in_manifest_verifies(kaggle):
    manifest = read_manifest(CHECKED_IN)
    assert manifest["base_dir"] == "<dataset_dir>" and manifest["public_set"]["counts"]["trainA"] == 1742
    assert verify_manifest(CHECKED_IN, data_dir=kaggle) == []
    assert manifest["report"]["counts"] == {
        "training_ct": 540, "validation_ct": 60, "test_ct": 100,
        "training_mri": 527, "validation_mri": 59, "test_mri": 95,
    }  # fmt: skip
    lists = load_datalist(CHECKED_IN, "test", dataset_dir=kaggle)
    assert len(lists["ct"]) == 100 and len(lists["mri"]) == 95
    assert lists["ct"][0]["image"] == os.path.abspath(kaggle / manifest["test_ct"][0]["image"])
