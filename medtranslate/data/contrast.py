"""MRI contrast labeller: one 2D MRI slice → ``T1``, ``T2``, ``FLAIR`` or ``other``, a confidence and flags.

Why: the Kaggle MRI half mixes T1 (with and without gadolinium), T2, FLAIR, diffusion and even CT slices; a
CT → T1 model should train on T1 only, so every manifest item gets a ``contrast`` field.

How: the slice goes through the project's own MRI pipeline (:func:`medtranslate.transforms.mri_transforms`,
deterministic: robust normalisation to [-1, 1], head crop with everything outside the head blanked) at 64², and
a tiny CNN (:class:`ContrastNet`, four conv blocks, 55 k parameters, 0.2 MB) predicts five classes: the four
contrasts plus ``CT`` (a CT slice in the MRI half). ``CT`` is reported as contrast ``other`` with the flag
``not_axial_brain``. The shipped weights (``contrast_model.pt`` next to this file) were fit on the training part
of the hand labels (``data_manifests/kaggle_mri_contrast_labels.json``); the held-out part (30 %, stratified,
chosen by hashing each file's SHA-256) measures it. Retrain and print the held-out confusion matrix with::

    python -m medtranslate.data.contrast --labels data_manifests/kaggle_mri_contrast_labels.json \\
        --data ../shared/data/kaggle_ct2mri

See ``docs/contrast.md`` for the method, the measured numbers and what fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose
from torch import nn
from torch.nn import functional as F

from medtranslate.errors import CheckpointError, CorruptFileError, InputError

__all__ = [
    "CONTRASTS",
    "HAND_FLAGS",
    "MODEL_PATH",
    "ContrastClassifier",
    "ContrastNet",
    "choose_t1_threshold",
    "confusion_report",
    "hand_label_entry",
    "load_classifier",
    "read_contrast_labels",
    "split_labels",
    "train_classifier",
]

PathLike = str | os.PathLike

#: The contrasts a slice is labelled with.
CONTRASTS = ("T1", "T2", "FLAIR", "other")
#: The network's classes: the contrasts and ``CT`` (reported as ``other`` + ``not_axial_brain``).
CLASSES = (*CONTRASTS, "CT")
#: Boolean fields of a hand label that become manifest flags, in this order.
HAND_FLAGS = ("post_contrast", "not_axial_brain", "overlay")
#: The shipped weights.
MODEL_PATH = Path(__file__).with_name("contrast_model.pt")
IMAGE_SIZE = 64
HELD_OUT_FRACTION = 0.3
_SPLIT_SALT = "medtranslate-contrast-split:"


class ContrastNet(nn.Module):
    """Four conv-BN-ReLU-maxpool blocks (``width`` … ``8 · width`` channels), global average pool, linear.

    Args:
        width: channels of the first block.
        classes: number of outputs.
    """

    def __init__(self, width: int = 12, classes: int = len(CLASSES)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width, 2 * width, 4 * width, 8 * width):
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(channels, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` of ``(N, 1, 64, 64)`` head crops on [-1, 1]."""
        return self.head(self.features(x).mean((2, 3)))


@lru_cache(maxsize=1)
def _slice_pipeline() -> Compose:
    """File → list of ``(1, 64, 64)`` head crops on [-1, 1] (one per non-empty axial slice of a volume)."""
    from medtranslate.io import LoadMedicalImaged
    from medtranslate.transforms import mri_transforms

    return Compose(
        [
            LoadMedicalImaged("image"),
            mri_transforms("image", image_size=IMAGE_SIZE, augment=False, random_slice=False, track_meta=False),
        ]
    )


def load_slices(path: PathLike) -> torch.Tensor:
    """The ``(N, 1, 64, 64)`` head crops the classifier sees for an image file (N = 1 for a 2D slice).

    Raises:
        MedTranslateError: the file cannot be read (see :class:`medtranslate.io.LoadMedicalImage`).
    """
    samples = _slice_pipeline()({"image": os.fspath(path)})
    return torch.stack([torch.as_tensor(s["image"]).float() for s in samples])


class ContrastClassifier:
    """A trained :class:`ContrastNet` that labels head crops or image files.

    Args:
        net: the network (put in eval mode).
        t1_threshold: a slice is labelled ``T1`` only when its T1 probability reaches this (otherwise the next
            most likely contrast): a CT → T1 model's training set must be pure T1, so T1 precision matters more
            than recall. Chosen by cross-validation on the training labels (:func:`choose_t1_threshold`).
    """

    def __init__(self, net: ContrastNet, t1_threshold: float = 0.0) -> None:
        self.net = net.eval()
        self.t1_threshold = t1_threshold

    @torch.no_grad()
    def probabilities(self, crops: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, 5)`` (order :data:`CLASSES`) of ``(N, 1, 64, 64)`` head crops."""
        return self.net(crops.float()).softmax(1)

    def label(self, probs: torch.Tensor) -> dict[str, Any]:
        """``{"contrast", "contrast_confidence", "flags"}`` from one ``(5,)`` probability vector."""
        ct = float(probs[CLASSES.index("CT")])
        contrast_probs = probs[: len(CONTRASTS)].clone()
        contrast_probs[CONTRASTS.index("other")] += ct
        best = int(contrast_probs.argmax())
        if CONTRASTS[best] == "T1" and float(contrast_probs[best]) < self.t1_threshold:
            ranked = contrast_probs.clone()
            ranked[best] = -1.0
            best = int(ranked.argmax())
        return {
            "contrast": CONTRASTS[best],
            "contrast_confidence": round(float(contrast_probs[best]), 4),
            "flags": ["not_axial_brain"] if ct > 0.5 else [],
        }

    def classify(self, crops: torch.Tensor) -> dict[str, Any]:
        """The label of one image given as its ``(N, 1, 64, 64)`` head crops (slice probabilities averaged)."""
        return self.label(self.probabilities(crops).mean(0))

    def classify_file(self, path: PathLike) -> dict[str, Any]:
        """The label of an image file (a 2D slice; a volume's non-empty axial slices are averaged).

        Raises:
            MedTranslateError: the file cannot be read.
        """
        return self.classify(load_slices(path))


def load_classifier(path: PathLike | None = None) -> ContrastClassifier:
    """The classifier stored at ``path`` (default: the shipped :data:`MODEL_PATH`), loaded with
    ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing or is not a contrast model.
    """
    return _load_classifier(Path(path) if path is not None else MODEL_PATH)


@lru_cache(maxsize=4)
def _load_classifier(path: Path) -> ContrastClassifier:
    if not path.is_file():
        raise CheckpointError(path, "contrast model not found (train one: python -m medtranslate.data.contrast)")
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        net = ContrastNet(width=int(stored["width"]))
        net.load_state_dict(stored["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(path, f"not a contrast model ({first})") from err
    return ContrastClassifier(net, float(stored.get("t1_threshold", 0.0)))


def read_contrast_labels(path: PathLike) -> dict[str, dict[str, Any]]:
    """Hand labels by SHA-256 from a labels file (``{"labels": [{"sha256", "file", "contrast", ...}]}``).

    Raises:
        InputError: the file is missing, or an entry lacks ``sha256`` or has an unknown contrast.
        CorruptFileError: the file is not valid JSON.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(file, "contrast labels file not found")
    try:
        content = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(file, f"not valid JSON ({err})") from err
    if not isinstance(content, dict) or not isinstance(content.get("labels"), list):
        raise InputError(file, 'not a contrast labels file (expected {"labels": [...]})')
    labels: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(content["labels"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise InputError(file, f"label {index} has no sha256")
        if entry.get("contrast") not in CONTRASTS:
            raise InputError(file, f"label {index} has contrast {entry.get('contrast')!r}; expected one of {CONTRASTS}")
        labels[entry["sha256"]] = entry
    return labels


def hand_label_entry(label: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest fields of a hand label: its contrast with confidence 1, and its true :data:`HAND_FLAGS`."""
    return {
        "contrast": label["contrast"],
        "contrast_confidence": 1.0,
        "contrast_source": "hand",
        "flags": [flag for flag in HAND_FLAGS if label.get(flag)],
    }


def _class_of(label: Mapping[str, Any]) -> int:
    return CLASSES.index("CT") if label.get("not_axial_brain") else CLASSES.index(label["contrast"])


def split_labels(
    labels: Sequence[Mapping[str, Any]], fraction: float = HELD_OUT_FRACTION
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """``(training, held_out)``: per class (:data:`CLASSES`), the ``round(fraction · n)`` labels whose salted
    SHA-256 sorts first are held out. It depends on the files' bytes only, not on order or seed."""
    held: set[str] = set()
    for index in range(len(CLASSES)):
        members = sorted(
            (lab["sha256"] for lab in labels if _class_of(lab) == index),
            key=lambda sha: hashlib.sha256((_SPLIT_SALT + sha).encode()).hexdigest(),
        )
        held.update(members[: round(fraction * len(members))])
    return [lab for lab in labels if lab["sha256"] not in held], [lab for lab in labels if lab["sha256"] in held]


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips, transposes and gamma (on [0, 1]) of a batch of head crops."""
    n = len(x)
    for flip in (lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.transpose(-1, -2)):
        chosen = torch.rand(n, generator=generator) < 0.5
        x = torch.where(chosen[:, None, None, None], flip(x), x)
    gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.6)
    return ((x + 1) / 2).clamp(0, 1) ** gamma * 2 - 1


def fit_net(
    crops: torch.Tensor, targets: torch.Tensor, *, epochs: int = 60, width: int = 12, seed: int = 0
) -> ContrastNet:
    """Train a :class:`ContrastNet` on ``(N, 1, 64, 64)`` crops and class indices (seeded; AdamW, one-cycle
    learning rate, square-root class-balanced cross-entropy with label smoothing, flips/transposes/gamma
    augmentation)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = ContrastNet(width)
    counts = torch.bincount(targets, minlength=len(CLASSES)).clamp(min=1).float()
    weight = (counts.sum() / counts).sqrt()  # square-root balancing: full balancing over-predicts "other"
    weight = weight / weight.mean()
    batch = 32
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 3e-3, total_steps=epochs * -(-len(targets) // batch))
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(targets), batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(
                net(_augment(crops[index], generator)), targets[index], weight=weight, label_smoothing=0.05
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return net.eval()


def confusion_report(true: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix over :data:`CONTRASTS` (rows true, columns predicted) and per-class precision/recall."""
    matrix = np.zeros((len(CONTRASTS), len(CONTRASTS)), int)
    for t, p in zip(true, predicted, strict=True):
        matrix[CONTRASTS.index(t), CONTRASTS.index(p)] += 1
    per_class = {}
    for i, name in enumerate(CONTRASTS):
        predicted_as = int(matrix[:, i].sum())
        actual = int(matrix[i].sum())
        per_class[name] = {
            "precision": float(matrix[i, i] / predicted_as) if predicted_as else float("nan"),
            "recall": float(matrix[i, i] / actual) if actual else float("nan"),
            "support": actual,
        }
    return {
        "classes": list(CONTRASTS),
        "confusion": matrix.tolist(),
        "per_class": per_class,
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
    }


def format_report(report: Mapping[str, Any]) -> str:
    """The confusion matrix and per-class precision/recall of :func:`confusion_report` as a text table."""
    names = report["classes"]
    lines = ["true \\ predicted " + "".join(f"{n:>7}" for n in names)]
    lines += [f"{n:<17}" + "".join(f"{v:>7}" for v in row) for n, row in zip(names, report["confusion"], strict=True)]
    lines.append(f"{'':<17}{'precision':>10}{'recall':>8}{'n':>5}")
    for name in names:
        stats = report["per_class"][name]
        lines.append(f"{name:<17}{stats['precision']:>10.3f}{stats['recall']:>8.3f}{stats['support']:>5}")
    lines.append(f"accuracy {report['accuracy']:.3f}")
    return "\n".join(lines)


def _load_labelled(labels: Sequence[Mapping[str, Any]], data_dir: Path) -> torch.Tensor:
    """The head crops of labelled 2D slices (``label["file"]`` relative to ``data_dir``)."""
    crops = []
    for label in labels:
        path = data_dir / label["file"]
        if not path.is_file():
            raise InputError(path, "labelled file not found: is --data the folder the labels' paths start from?")
        crops.append(load_slices(path)[0])
    return torch.stack(crops)


def evaluate(classifier: ContrastClassifier, labels: Sequence[Mapping[str, Any]], data_dir: PathLike) -> dict:
    """:func:`confusion_report` of ``classifier`` on hand ``labels`` whose files are under ``data_dir``."""
    probs = classifier.probabilities(_load_labelled(labels, Path(data_dir)))
    predicted = [classifier.label(p)["contrast"] for p in probs]
    return confusion_report([lab["contrast"] for lab in labels], predicted)


def choose_t1_threshold(
    crops: torch.Tensor,
    targets: torch.Tensor,
    *,
    folds: int = 5,
    precision: float = 0.97,
    epochs: int = 60,
    width: int = 12,
    seed: int = 0,
) -> tuple[float, dict[str, Any]]:
    """The lowest T1-probability threshold whose out-of-fold T1 precision on the training labels reaches
    ``precision`` (``folds``-fold cross-validation, folds by index order of the salted-hash split): chosen
    without the held-out labels, so their numbers stay honest.

    Returns:
        ``(threshold, {"folds", "target_precision", "oof_precision", "oof_recall"})``.
    """
    out_of_fold = torch.zeros(len(targets), len(CLASSES))
    for fold in range(folds):
        test = torch.arange(len(targets)) % folds == fold
        net = fit_net(crops[~test], targets[~test], epochs=epochs, width=width, seed=seed + 1 + fold)
        with torch.no_grad():
            out_of_fold[test] = net(crops[test]).softmax(1)
    t1 = CLASSES.index("T1")
    is_t1 = targets == t1
    p_t1 = out_of_fold[:, t1]
    top = out_of_fold.argmax(1) == t1
    chosen, stats = 1.0, {}
    for threshold in sorted({0.0, *p_t1[top].tolist()}):
        predicted = top & (p_t1 >= threshold)
        if not predicted.any():
            break
        hit = float((predicted & is_t1).sum() / predicted.sum())
        if hit >= precision:
            chosen = threshold
            stats = {"oof_precision": hit, "oof_recall": float((predicted & is_t1).sum() / is_t1.sum().clamp(min=1))}
            break
    return chosen, {"folds": folds, "target_precision": precision, **stats}


def train_classifier(
    labels_path: PathLike,
    data_dir: PathLike,
    *,
    fraction: float = HELD_OUT_FRACTION,
    epochs: int = 60,
    width: int = 12,
    seed: int = 0,
) -> tuple[ContrastClassifier, dict[str, Any]]:
    """Fit the classifier on the training part of the hand labels and measure it on the held-out part.

    Args:
        labels_path: hand labels (:func:`read_contrast_labels`).
        data_dir: the folder the labels' ``file`` paths start from.
        fraction: share of each class held out (:func:`split_labels`).
        epochs: training epochs.
        width: channels of the network's first block.
        seed: seed of initialisation, batches and augmentation.

    Returns:
        ``(classifier, report)``: the report of :func:`confusion_report` on the held-out labels, plus the counts.
    """
    labels = list(read_contrast_labels(labels_path).values())
    training, held_out = split_labels(labels, fraction)
    crops = _load_labelled(training, Path(data_dir))
    targets = torch.tensor([_class_of(lab) for lab in training])
    threshold, selection = choose_t1_threshold(crops, targets, epochs=epochs, width=width, seed=seed)
    classifier = ContrastClassifier(fit_net(crops, targets, epochs=epochs, width=width, seed=seed), threshold)
    report = evaluate(classifier, held_out, data_dir)
    report.update(
        {
            "training": len(training),
            "held_out": len(held_out),
            "epochs": epochs,
            "seed": seed,
            "t1_threshold": threshold,
            "t1_threshold_selection": selection,
        }
    )
    return classifier, report


def save_classifier(classifier: ContrastClassifier, path: PathLike, report: Mapping[str, Any]) -> Path:
    """Store the network's weights, width and held-out report (plain types, readable with ``weights_only``)."""
    net = classifier.net
    width = net.features[0].out_channels
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    stored = {"state_dict": state, "width": width, "classes": list(CLASSES), "t1_threshold": classifier.t1_threshold}
    torch.save({**stored, "report": dict(report)}, path)
    _load_classifier.cache_clear()
    return Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Retrain from the hand labels, print the held-out confusion matrix and save the weights."""
    parser = argparse.ArgumentParser(prog="python -m medtranslate.data.contrast", description=main.__doc__)
    parser.add_argument(
        "--labels", required=True, help="hand labels JSON (data_manifests/kaggle_mri_contrast_labels.json)"
    )
    parser.add_argument("--data", required=True, help="folder the labels' file paths start from (kaggle_ct2mri)")
    parser.add_argument("-o", "--output", default=str(MODEL_PATH), help="weights to write (default: the shipped ones)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # deterministic and light on a shared machine
    classifier, report = train_classifier(args.labels, args.data, epochs=args.epochs, seed=args.seed)
    print(f"held out {report['held_out']} of {report['held_out'] + report['training']} labels")
    selection = report["t1_threshold_selection"]
    print(f"T1 threshold {report['t1_threshold']:.3f} (cross-validated on the training labels: {selection})")
    print(format_report(report))
    print(f"wrote {save_classifier(classifier, args.output, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
