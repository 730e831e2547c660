"""The MRI contrast labeller: synthetic heads, manifest fields, hand labels first, held-out T1 precision/recall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medtranslate.cli import main as cli_main
from medtranslate.data import build_manifest
from medtranslate.data.contrast import (
    CONTRASTS,
    MODEL_PATH,
    ContrastClassifier,
    confusion_report,
    evaluate,
    load_classifier,
    read_contrast_labels,
    split_labels,
)
from medtranslate.data.phantom import LABELS, make_subject
from medtranslate.errors import CheckpointError, InputError

LABELS_FILE = Path(__file__).resolve().parents[2] / "data_manifests" / "kaggle_mri_contrast_labels.json"

#: Tissue intensities (0..255) of a synthetic axial slice: files for the manifest tests (the classifier is not
#: asked to label them right: the painted phantom is far from real MRI).
_TISSUE = {
    "T1": {"skin": 110, "fat": 230, "cortical_bone": 10, "diploe": 170, "csf": 30, "grey_matter": 110,
           "white_matter": 175, "lesion": 80},
    "T2": {"skin": 90, "fat": 150, "cortical_bone": 10, "diploe": 90, "csf": 240, "grey_matter": 130,
           "white_matter": 85, "lesion": 200},
}  # fmt: skip


def _synthetic_slice(path: Path, contrast: str, seed: int = 0) -> Path:
    """An axial slice of a phantom head painted with ``contrast``'s tissue intensities, saved as a PNG."""
    labels = make_subject(seed, shape=(128, 128, 5), spacing=(1.6, 1.6, 3.0)).labels[:, :, 2]
    image = np.zeros(labels.shape, np.float32)
    for tissue, value in _TISSUE[contrast].items():
        image[labels == LABELS[tissue]] = value
    noise = np.random.default_rng(seed).normal(0, 4, image.shape)
    image = np.where(labels > 0, image + noise, 0).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.T).save(path)
    return path


def test_label_applies_the_t1_threshold_and_folds_ct_into_other():
    classifier = load_classifier()
    strict = ContrastClassifier(classifier.net, t1_threshold=0.8)
    probs = torch.tensor([0.6, 0.1, 0.25, 0.05, 0.0])  # T1, T2, FLAIR, other, CT
    assert classifier.label(probs.clone())["contrast"] == ("T1" if classifier.t1_threshold <= 0.6 else "FLAIR")
    assert strict.label(probs.clone()) == {"contrast": "FLAIR", "contrast_confidence": 0.25, "flags": []}
    assert strict.label(torch.tensor([0.9, 0.05, 0.05, 0.0, 0.0]))["contrast"] == "T1"
    ct = strict.label(torch.tensor([0.1, 0.0, 0.0, 0.2, 0.7]))
    assert ct["contrast"] == "other" and ct["flags"] == ["not_axial_brain"]


def test_classifier_output_and_missing_model(tmp_path):
    label = load_classifier().classify(torch.full((1, 1, 64, 64), -1.0))
    assert set(label) == {"contrast", "contrast_confidence", "flags"} and label["contrast"] in CONTRASTS
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a contrast model"):
        load_classifier(tmp_path / "bad.pt")
    assert MODEL_PATH.stat().st_size <= 1 << 20


def test_split_is_stratified_by_hash_and_order_free():
    labels = list(read_contrast_labels(LABELS_FILE).values())
    training, held = split_labels(labels)
    held_sha = {e["sha256"] for e in held}
    assert held_sha == {e["sha256"] for e in split_labels(labels[::-1])[1]}
    assert len(training) + len(held) == len(labels) and not {e["sha256"] for e in training} & held_sha
    for contrast in CONTRASTS:
        n = sum(e["contrast"] == contrast for e in labels)
        assert abs(sum(e["contrast"] == contrast for e in held) - 0.3 * n) <= 2


def test_confusion_report_rows_true_columns_predicted():
    report = confusion_report(["T1", "T1", "T2", "FLAIR"], ["T1", "T2", "T2", "T1"])
    assert report["confusion"][0] == [1, 1, 0, 0] and report["confusion"][2] == [1, 0, 0, 0]
    assert report["per_class"]["T1"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert report["per_class"]["T2"]["precision"] == 0.5 and report["accuracy"] == 0.5


def _kaggle_mri(root: Path) -> dict[str, Path]:
    files = {
        "t1": _synthetic_slice(root / "trainB" / "mri1.png", "T1"),
        "t2": _synthetic_slice(root / "trainB" / "mri2.png", "T2", seed=1),
        "test": _synthetic_slice(root / "testB" / "mri3.png", "T2", seed=2),
    }
    (root / "trainB" / "mri4.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")  # sniffed as JPEG, undecodable
    _synthetic_slice(root / "trainA" / "ct1.png", "T1", seed=3)
    return files


def test_manifest_contrast_fields_and_hand_labels_first(tmp_path):
    files = _kaggle_mri(tmp_path / "data")
    plain = build_manifest(tmp_path / "data")
    assert all("contrast" not in e for e in plain["training_mri"] + plain["test_mri"])
    sha = {e["image"]: e["sha256"] for e in plain["training_mri"]}
    labels = {"labels": [{"sha256": sha["trainB/mri1.png"], "file": "trainB/mri1.png", "contrast": "FLAIR",
                          "post_contrast": False, "not_axial_brain": False, "overlay": True}]}  # fmt: skip
    labels_file = tmp_path / "labels.json"
    labels_file.write_text(json.dumps(labels))

    manifest = build_manifest(tmp_path / "data", contrast=True, contrast_labels=labels_file)
    items = {e["image"]: e for e in manifest["training_mri"] + manifest["test_mri"]}
    plain_items = {e["image"]: e for e in plain["training_mri"]}
    assert items["trainB/mri1.png"] == {
        **plain_items["trainB/mri1.png"],
        "contrast": "FLAIR", "contrast_confidence": 1.0, "contrast_source": "hand", "flags": ["overlay"],
    }  # fmt: skip
    auto = load_classifier().classify_file(files["t2"])
    assert items["trainB/mri2.png"]["contrast_source"] == "classifier"
    assert {k: items["trainB/mri2.png"][k] for k in auto} == auto
    assert items["trainB/mri4.jpg"]["flags"] == ["unreadable"] and items["testB/mri3.png"]["contrast"] in CONTRASTS
    assert all("contrast" not in e for e in manifest["training_ct"])
    assert manifest["report"] == plain["report"]


def test_cli_manifest_labels_and_no_contrast(tmp_path, capsys):
    _kaggle_mri(tmp_path / "data")
    assert cli_main(["manifest", str(tmp_path / "data"), "-o", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "MRI contrast" in out and "classifier 4" in out
    assert all("contrast" in e for e in json.loads((tmp_path / "m.json").read_text())["training_mri"])
    assert cli_main(["manifest", str(tmp_path / "data"), "-o", str(tmp_path / "n.json"), "--no-contrast"]) == 0
    assert "MRI contrast" not in capsys.readouterr().out
    (tmp_path / "bad.json").write_text(json.dumps({"labels": [{"sha256": "ab", "contrast": "PD"}]}))
    with pytest.raises(InputError, match="contrast 'PD'"):
        build_manifest(tmp_path / "data", contrast=True, contrast_labels=tmp_path / "bad.json")


@pytest.mark.shared_data
def test_shipped_classifier_held_out_t1_precision_and_recall(shared_data):
    labels = list(read_contrast_labels(LABELS_FILE).values())
    _, held = split_labels(labels)
    report = evaluate(load_classifier(), held, shared_data / "kaggle_ct2mri")
    t1 = report["per_class"]["T1"]
    assert t1["support"] == sum(e["contrast"] == "T1" for e in held)
    # measured: T1 precision 0.944 (84 of 89), recall 0.977 — issue 12's precision target of 0.95 is NOT met
    # (docs/contrast.md); this guards the measured operating point against regressions
    assert t1["precision"] >= 0.94 and t1["recall"] >= 0.95, report
