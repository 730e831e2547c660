"""Manifests: MONAI-style datalists of an unpaired CT/MRI data set, with hashes, duplicates and leakage.

A manifest is a JSON object that :func:`monai.data.load_decathlon_datalist` reads directly
(``load_decathlon_datalist(path, data_list_key="training_ct", base_dir=dataset_dir)``). Its keys:

- ``training_ct``, ``training_mri``, ``validation_ct``, ``validation_mri``, ``test_ct``, ``test_mri``: lists of
  ``{"image": <path relative to base_dir>, "sha256", "size", "format", "domain"}`` (``"files"`` too for a DICOM
  series, which is one item: a folder);
- ``paired``: ``[{"ct": ..., "mri": ...}]`` where the layout has slice- or voxel-matched pairs (phantom ``paired/``);
- ``report``: counts, formats, byte-duplicates, train/test and train/validation leakage, what was dropped and
  skipped; ``seed``, ``subset``, ``val_fraction``, ``val_count``, ``dedupe``, ``layout``, ``base_dir``, ``name``.

With ``contrast=True`` every MRI item also has ``contrast`` (``T1``, ``T2``, ``FLAIR``, ``other``),
``contrast_confidence`` (0..1), ``contrast_source`` (``"hand"``: the item's SHA-256 is in the hand labels given,
which take precedence; else ``"classifier"``: :mod:`medtranslate.data.contrast`) and ``flags`` (hand:
``post_contrast``, ``not_axial_brain``, ``overlay`` where true; classifier: ``not_axial_brain``, or
``unreadable`` when the image cannot be decoded).

Understood layouts of ``data_dir`` (:func:`detect_layout`):

- ``"kaggle"``: ``trainA/ trainB/ testA/ testB/`` (A = CT, B = MRI), as in CycleGAN's data sets;
- ``"phantom"``: ``unpaired/{ct,mri}/`` (training) and ``paired/{ct,mri}/`` (test and ``paired``, matched by
  file name), plus ``phantom.json`` (stored under ``"phantom"``), as the built-in phantom generator writes;
- ``"folders"``: ``ct/`` and ``mri/`` (any case; ``mr/`` too), all of it training.

Inside each folder (searched recursively, hidden entries skipped) every file whose *bytes* are NIfTI, MetaImage,
NRRD, PNG, JPEG, BMP, TIFF or DICOM is an item, except that a folder directly holding DICOM files is **one** item (a
series). A ``.mhd`` header and its ``ElementDataFile`` are one item. Formats are sniffed from the bytes, so a
``.jpg`` that holds PNG bytes is recorded as ``"png"`` and listed in ``report["extension_mismatch"]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from medtranslate.errors import (
    CorruptFileError,
    EmptyInputError,
    InputError,
    UnsupportedFormatError,
    find_user_error,
)
from medtranslate.io.atomic import atomic_write_text
from medtranslate.io.formats import sniff_format

__all__ = [
    "DATASET_DIR_PLACEHOLDER",
    "DOMAINS",
    "LAYOUTS",
    "MANIFEST_VERSION",
    "SPLITS",
    "build_manifest",
    "detect_layout",
    "read_manifest",
    "resolve_base_dir",
    "verify_manifest",
    "write_manifest",
]

PathLike = str | os.PathLike

MANIFEST_VERSION = 1
#: ``base_dir`` of a manifest meant for other machines: the user supplies the folder (``--dataset_dir``).
DATASET_DIR_PLACEHOLDER = "<dataset_dir>"
DOMAINS = ("ct", "mri")
SPLITS = ("training", "validation", "test")
LAYOUTS = ("kaggle", "phantom", "folders")

_KAGGLE_DIRS = {
    ("training", "ct"): "trainA",
    ("training", "mri"): "trainB",
    ("test", "ct"): "testA",
    ("test", "mri"): "testB",
}
_FOLDER_NAMES = {"ct": ("ct",), "mri": ("mri", "mr")}
_EXTENSION_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
}
_CHUNK = 1 << 20


def _natural_key(text: str) -> list[Any]:
    """Sort key that orders ``ct2`` before ``ct10`` (digits compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _extension(path: PathLike) -> str:
    name = os.fspath(path).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else os.path.splitext(name)[1]


def _sniff(path: Path) -> str | None:
    """The format of a non-empty file from its bytes (:func:`medtranslate.io.formats.sniff_format`), or None."""
    try:
        return sniff_format(path)
    except UnsupportedFormatError:
        return None


def _metaimage_data_file(header: Path) -> Path | None:
    """The separate data file a ``.mhd`` header names (``ElementDataFile = x.raw``), if it exists."""
    with open(header, "rb") as f:
        for line in f.read(4096).splitlines():
            key, _, value = line.decode("latin-1").partition("=")
            if key.strip() == "ElementDataFile":
                name = value.strip()
                candidate = header.parent / name
                if name and name != "LOCAL" and candidate.is_file():
                    return candidate
    return None


@dataclass
class _Item:
    """One image of the data set: a file, a ``.mhd`` + data file, or a DICOM series folder."""

    rel: str  # path relative to the data folder, POSIX separators
    members: list[Path]  # the files whose bytes make the item (absolute)
    domain: str
    fmt: str
    size: int = 0
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    contrast: dict[str, Any] = field(default_factory=dict)  # the contrast fields of an MRI item, when labelled

    def entry(self) -> dict[str, Any]:
        """The item as a datalist entry."""
        out: dict[str, Any] = {"image": self.rel, "sha256": self.sha256, "size": self.size, "format": self.fmt}
        out["domain"] = self.domain
        if len(self.members) > 1:
            out["files"] = len(self.members)
        out.update(self.contrast)
        return out


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _item_digest(item_path: Path, members: list[Path]) -> str:
    """SHA-256 of one file, or of ``"<name>\\0<sha256>\\n"`` lines (names relative to the item) for several."""
    if len(members) == 1 and members[0] == item_path:
        return _sha256_file(members[0])
    root = item_path if item_path.is_dir() else item_path.parent
    lines = "".join(f"{m.relative_to(root).as_posix()}\0{_sha256_file(m)}\n" for m in members)
    return hashlib.sha256(lines.encode()).hexdigest()


def _scan_folder(folder: Path, base: Path, domain: str, skipped: list[dict[str, str]]) -> list[_Item]:
    """All items under ``folder`` (recursive); unreadable or non-image files go to ``skipped``."""
    items: list[_Item] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        root_path = Path(root)
        dicom: list[Path] = []
        others: list[tuple[Path, str]] = []
        taken: set[Path] = set()
        for name in sorted(files, key=_natural_key):
            if name.startswith("."):
                continue
            path = root_path / name
            if path.stat().st_size == 0:
                skipped.append({"path": path.relative_to(base).as_posix(), "reason": "zero-byte file"})
                continue
            fmt = _sniff(path)
            if fmt == "dicom":
                dicom.append(path)
            elif fmt is not None:
                others.append((path, fmt))
                if fmt == "metaimage" and (data := _metaimage_data_file(path)) is not None:
                    taken.add(data)
            else:
                others.append((path, ""))
        for path, fmt in others:
            if path in taken:
                continue
            rel = path.relative_to(base).as_posix()
            if not fmt:
                skipped.append({"path": rel, "reason": "not an image (format not recognised from its bytes)"})
                continue
            members = [path]
            if fmt == "metaimage" and (data := _metaimage_data_file(path)) is not None:
                members.append(data)
            items.append(_Item(rel, members, domain, fmt, size=sum(m.stat().st_size for m in members)))
        if dicom:
            rel = root_path.relative_to(base).as_posix()
            items.append(_Item(rel, dicom, domain, "dicom", size=sum(m.stat().st_size for m in dicom)))
    return items


def _named_subfolder(data_dir: Path, names: Iterable[str]) -> Path | None:
    """The single sub-folder of ``data_dir`` whose lower-cased name is in ``names``."""
    wanted = set(names)
    found = sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name.lower() in wanted)
    if len(found) > 1:
        raise InputError(data_dir, f"ambiguous folders {[p.name for p in found]}: keep one of them")
    return found[0] if found else None


def detect_layout(data_dir: PathLike) -> str:
    """Which layout ``data_dir`` has: ``"kaggle"``, ``"phantom"`` or ``"folders"`` (see the module docstring).

    Args:
        data_dir: the data set's root folder.

    Raises:
        InputError: ``data_dir`` is not a folder or has none of the layouts.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(root, "not a folder")
    if any((root / name).is_dir() for name in _KAGGLE_DIRS.values()):
        return "kaggle"
    if (root / "unpaired").is_dir() or (root / "paired").is_dir():
        return "phantom"
    if _named_subfolder(root, _FOLDER_NAMES["ct"]) or _named_subfolder(root, _FOLDER_NAMES["mri"]):
        return "folders"
    raise InputError(
        root,
        "no known layout: expected trainA/ trainB/ testA/ testB/ (A = CT, B = MRI), "
        "unpaired/{ct,mri}/ + paired/{ct,mri}/ (phantom), or ct/ and mri/ folders",
    )


def _collect(root: Path, layout: str, skipped: list[dict[str, str]]) -> dict[tuple[str, str], list[_Item]]:
    """Items of each (split, domain) before any filtering; phantom pairs go to ``("paired", domain)``."""
    found: dict[tuple[str, str], list[_Item]] = defaultdict(list)
    if layout == "kaggle":
        for key, name in _KAGGLE_DIRS.items():
            if (root / name).is_dir():
                found[key] = _scan_folder(root / name, root, key[1], skipped)
    elif layout == "phantom":
        for split, group in (("training", "unpaired"), ("paired", "paired")):
            for domain in DOMAINS:
                if (root / group / domain).is_dir():
                    found[split, domain] = _scan_folder(root / group / domain, root, domain, skipped)
    else:
        for domain in DOMAINS:
            folder = _named_subfolder(root, _FOLDER_NAMES[domain])
            if folder is not None:
                found["training", domain] = _scan_folder(folder, root, domain, skipped)
    return found


def _dedupe(items: list[_Item], dedupe: bool) -> tuple[list[_Item], list[dict[str, Any]], list[dict[str, str]]]:
    """Byte-duplicate groups of ``items``; with ``dedupe`` all but the first (natural path order) are dropped."""
    groups: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        if item.sha256 is not None:
            groups[item.sha256].append(item)
    report, dropped, drop_ids = [], [], set()
    for digest, group in groups.items():
        if len(group) > 1:
            report.append({"sha256": digest, "paths": [g.rel for g in group]})
            if dedupe:
                for extra in group[1:]:
                    dropped.append({"path": extra.rel, "reason": f"byte-identical to {group[0].rel}"})
                    drop_ids.add(id(extra))
    report.sort(key=lambda g: _natural_key(g["paths"][0]))
    return [i for i in items if id(i) not in drop_ids], report, dropped


def _leaks(items: list[_Item], reference: list[_Item]) -> list[dict[str, Any]]:
    """Items of ``items`` whose bytes also occur in ``reference``."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for ref in reference:
        if ref.sha256 is not None:
            by_hash[ref.sha256].append(ref.rel)
    return [
        {"path": i.rel, "sha256": i.sha256, "matches": by_hash[i.sha256]}
        for i in items
        if i.sha256 is not None and i.sha256 in by_hash
    ]


def _split_count(n: int, val_fraction: float, val_count: int | None) -> int:
    if val_count is not None:
        if val_count < 0:
            raise ValueError(f"val_count must be >= 0, got {val_count}")
        return min(val_count, n)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    return round(val_fraction * n)


def _label_contrast(
    items: Iterable[_Item], root: Path, labels: PathLike | Mapping[str, Mapping[str, Any]] | None
) -> None:
    """Give each MRI item its contrast fields: the hand label of its SHA-256 if there is one, else the
    classifier's (an image it cannot decode is ``other`` with confidence 0 and the flag ``unreadable``)."""
    from medtranslate.data.contrast import hand_label_entry, load_classifier, read_contrast_labels

    hand = read_contrast_labels(labels) if isinstance(labels, str | os.PathLike) else dict(labels or {})
    classifier = None
    for item in items:
        if item.sha256 is not None and item.sha256 in hand:
            item.contrast = hand_label_entry(hand[item.sha256])
            continue
        classifier = classifier or load_classifier()
        try:
            label = classifier.classify_file(root / item.rel)
        except Exception as exc:  # MONAI's Compose wraps the reader's MedTranslateError in a RuntimeError
            if find_user_error(exc) is None:
                raise
            label = {"contrast": "other", "contrast_confidence": 0.0, "flags": ["unreadable"]}
        item.contrast = {
            "contrast": label["contrast"],
            "contrast_confidence": label["contrast_confidence"],
            "contrast_source": "classifier",
            "flags": label["flags"],
        }


def build_manifest(
    data_dir: PathLike,
    *,
    subset: int | None = None,
    val_fraction: float = 0.0,
    val_count: int | None = None,
    seed: int = 0,
    dedupe: bool = True,
    name: str | None = None,
    hash_files: bool = True,
    metadata: Mapping[str, Any] | None = None,
    contrast: bool = False,
    contrast_labels: PathLike | Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Scan ``data_dir`` and return its manifest (see the module docstring for the layouts and keys).

    Steps, per domain: list the items (natural path order); hash them; report byte-duplicates within each split
    (with ``dedupe`` keep only the first of each group); report test items whose bytes occur in the training
    files (with ``dedupe`` drop them from the **test** list, never from training); then shuffle the remaining
    training items with a seeded RNG of their own per domain, move the first ``val_count`` (or
    ``round(val_fraction * n)``) to validation and keep the next ``subset`` (all when ``None``) for training.
    Lists are written in natural path order. Everything dropped is kept in ``report["duplicates_dropped"]`` and
    ``report["leakage_dropped"]``.

    Args:
        data_dir: the data set's root folder (layout ``"kaggle"``, ``"phantom"`` or ``"folders"``).
        subset: number of training items kept per domain (the paper used 500); ``None`` keeps all.
        val_fraction: fraction of each domain's training items moved to validation (ignored with ``val_count``).
        val_count: number of training items per domain moved to validation.
        seed: seed of the subset/validation draws; the same seed and files give the same lists.
        dedupe: drop byte-duplicates and test items leaking from training (they are reported either way).
        name: data set name stored in the manifest (default: the folder's name).
        hash_files: compute SHA-256 of every item; without it no duplicate or leakage check is possible
            (``report["hashed"]`` is False) but building is much faster.
        metadata: extra top-level keys (e.g. ``description``, ``licence``, ``reference``), as in MONAI's
            Decathlon datalists; they may not replace the manifest's own keys.
        contrast: label every listed MRI item's contrast (see the module docstring); the classifier decodes
            each image without a hand label (about 40 ms a slice).
        contrast_labels: hand labels, which take precedence: a labels file
            (:func:`medtranslate.data.contrast.read_contrast_labels`) or its result, a mapping by SHA-256.
        progress: show progress bars on stderr (tqdm) over the files as they are hashed and labelled.

    Raises:
        InputError: ``data_dir`` is not a folder or has no known layout, or the hand labels file is bad.
        EmptyInputError: the layout's folders hold no image.
        CorruptFileError: ``phantom.json`` or the hand labels file is not valid JSON.
        CheckpointError: ``contrast`` is on and the shipped contrast model is missing.
    """
    root = Path(data_dir)
    layout = detect_layout(root)
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive number of items per domain or None, got {subset}")
    skipped: list[dict[str, str]] = []
    found = _collect(root, layout, skipped)
    if not any(found.values()):
        raise EmptyInputError(root, f"no image files in its {layout} layout folders")

    listed = [item for items in found.values() for item in items]
    for item in tqdm(listed, desc="hash", unit="file", disable=not progress, dynamic_ncols=True):
        ext = _extension(item.rel)
        if hash_files:
            item.sha256 = _item_digest(root / item.rel, item.members)
        if ext in _EXTENSION_FORMATS and _EXTENSION_FORMATS[ext] != item.fmt:
            item.extra["extension_format"] = _EXTENSION_FORMATS[ext]

    report: dict[str, Any] = {
        "hashed": hash_files,
        "found": {f"{s}_{d}": len(v) for (s, d), v in sorted(found.items())},
        "formats": {},
        "extension_mismatch": [],
        "duplicates": {},
        "duplicates_dropped": [],
        "leakage": {},
        "leakage_dropped": [],
        "cross_domain": [],
        "skipped": skipped,
    }
    lists: dict[str, list[_Item]] = {f"{s}_{d}": [] for s in SPLITS for d in DOMAINS}
    paired_items: dict[str, list[_Item]] = {}
    for domain_index, domain in enumerate(DOMAINS):
        train, dup_report, dropped = _dedupe(found.get(("training", domain), []), dedupe)
        if dup_report:
            report["duplicates"][f"training_{domain}"] = dup_report
        report["duplicates_dropped"] += dropped
        test = found.get(("paired" if layout == "phantom" else "test", domain), [])
        _, dup_report, _ = _dedupe(test, dedupe=False)
        if dup_report:
            report["duplicates"][f"test_{domain}"] = dup_report
        if leaks := _leaks(test, train):
            report["leakage"][f"test_{domain}"] = leaks
            if dedupe:
                leaked = {leak["path"] for leak in leaks}
                report["leakage_dropped"] += [
                    {"path": leak["path"], "reason": f"byte-identical to training item {leak['matches'][0]}"}
                    for leak in leaks
                ]
                test = [i for i in test if i.rel not in leaked]
        test, _, dropped = _dedupe(test, dedupe)
        report["duplicates_dropped"] += dropped
        paired_items[domain] = test

        rng = random.Random(f"medtranslate-manifest:{seed}:{domain_index}")
        shuffled = list(train)
        rng.shuffle(shuffled)
        n_val = _split_count(len(shuffled), val_fraction, val_count)
        validation, rest = shuffled[:n_val], shuffled[n_val:]
        training = rest if subset is None else rest[:subset]
        if leaks := _leaks(validation, training):
            report["leakage"][f"validation_{domain}"] = leaks
        lists[f"training_{domain}"] = sorted(training, key=lambda i: _natural_key(i.rel))
        lists[f"validation_{domain}"] = sorted(validation, key=lambda i: _natural_key(i.rel))
        lists[f"test_{domain}"] = test

    if contrast:
        mri = [i for s in SPLITS for i in lists[f"{s}_mri"]]
        labelled = tqdm(mri, desc="contrast", unit="file", disable=not progress, dynamic_ncols=True)
        _label_contrast(labelled, root, contrast_labels)

    all_ct = [i for (_, d), v in found.items() if d == "ct" for i in v]
    mri_hashes = {i.sha256 for (_, d), v in found.items() if d == "mri" for i in v if i.sha256 is not None}
    report["cross_domain"] = [{"path": i.rel, "sha256": i.sha256} for i in all_ct if i.sha256 in mri_hashes]
    for key, items in lists.items():
        formats: dict[str, int] = defaultdict(int)
        for item in items:
            formats[item.fmt] += 1
            if "extension_format" in item.extra:
                report["extension_mismatch"].append(
                    {"path": item.rel, "extension": item.extra["extension_format"], "format": item.fmt}
                )
        if formats:
            report["formats"][key] = dict(sorted(formats.items()))
    report["counts"] = {key: len(items) for key, items in lists.items()}

    paired: list[dict[str, str]] = []
    manifest: dict[str, Any] = {
        "name": name if name is not None else root.resolve().name,
        "format_version": MANIFEST_VERSION,
        "layout": layout,
        "base_dir": str(root.resolve()),
        "seed": seed,
        "subset": subset,
        "val_fraction": val_fraction,
        "val_count": val_count,
        "dedupe": dedupe,
    }
    if layout == "phantom":
        by_name = {Path(i.rel).name: i.rel for i in paired_items["mri"]}
        paired = [
            {"ct": i.rel, "mri": by_name[Path(i.rel).name]} for i in paired_items["ct"] if Path(i.rel).name in by_name
        ]
        report["counts"]["paired"] = len(paired)
        info = root / "phantom.json"
        if info.is_file():
            try:
                manifest["phantom"] = json.loads(info.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise CorruptFileError(info, f"not valid JSON ({err})") from err
    for key, value in (metadata or {}).items():
        if key in manifest or key in lists or key in ("paired", "report"):
            raise ValueError(f"metadata key {key!r} would replace a manifest key")
        manifest[key] = value
    manifest.update({key: [item.entry() for item in items] for key, items in lists.items()})
    manifest["paired"] = paired
    manifest["report"] = report
    return manifest


def write_manifest(
    manifest: Mapping[str, Any], path: PathLike, overwrite: bool = False, base_dir: str | None = None
) -> Path:
    """Write ``manifest`` as indented JSON, atomically (temporary file in the same folder, then renamed).

    Args:
        manifest: a manifest from :func:`build_manifest`.
        path: the JSON file to write.
        overwrite: replace an existing file.
        base_dir: store this ``base_dir`` instead of the manifest's absolute one: a path relative to the
            manifest's folder, or :data:`DATASET_DIR_PLACEHOLDER` for a manifest shared with other machines.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    content = dict(manifest)
    if base_dir is not None:
        content["base_dir"] = base_dir
    atomic_write_text(path, json.dumps(content, indent=1) + "\n", overwrite=overwrite)
    return Path(path)


def read_manifest(path: PathLike) -> dict[str, Any]:
    """Read a manifest JSON written by :func:`write_manifest`.

    Args:
        path: the manifest file.

    Raises:
        InputError: the file is missing or is not a medtranslate manifest.
        CorruptFileError: the file is not valid JSON.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(file, "manifest file not found")
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(file, f"not valid JSON ({err})") from err
    missing = [
        f"{s}_{d}" for s in SPLITS for d in DOMAINS if not isinstance(manifest, dict) or f"{s}_{d}" not in manifest
    ]
    if missing:
        raise InputError(file, f"not a medtranslate manifest (missing {', '.join(missing)})")
    return manifest


def resolve_base_dir(manifest: Mapping[str, Any], manifest_path: PathLike, data_dir: PathLike | None = None) -> Path:
    """The folder a manifest's relative paths start from.

    Args:
        manifest: the manifest's content.
        manifest_path: where the manifest was read from (a relative ``base_dir`` starts there, as MONAI does).
        data_dir: the user's copy of the data set; overrides the stored ``base_dir``.

    Raises:
        InputError: no ``data_dir`` was given and the stored ``base_dir`` is the placeholder.
    """
    if data_dir is not None:
        return Path(data_dir)
    stored = manifest.get("base_dir")
    if stored in (None, DATASET_DIR_PLACEHOLDER):
        raise InputError(
            manifest_path, "the manifest does not say where the data are: pass the data folder (--dataset_dir)"
        )
    return Path(manifest_path).parent / stored


def verify_manifest(path: PathLike, data_dir: PathLike | None = None) -> list[str]:
    """Check that every listed item exists with the recorded size and SHA-256.

    Extra files in the folder are not problems (a manifest may describe a subset of a larger copy).

    Args:
        path: the manifest file.
        data_dir: the folder to check (default: the manifest's ``base_dir``).

    Returns:
        one line per problem (``"<path>: missing"``, ``"<path>: size ... != ..."``, ``"<path>: SHA-256 differs"``);
        empty when the copy matches.

    Raises:
        InputError: see :func:`read_manifest` and :func:`resolve_base_dir`.
    """
    manifest = read_manifest(path)
    base = resolve_base_dir(manifest, path, data_dir)
    if not base.is_dir():
        raise InputError(base, "data folder not found")
    problems: list[str] = []
    for key in (f"{s}_{d}" for s in SPLITS for d in DOMAINS):
        for entry in manifest[key]:
            item_path = base / entry["image"]
            if not item_path.exists():
                problems.append(f"{entry['image']}: missing")
                continue
            members = _members(item_path, entry.get("format"))
            size = sum(m.stat().st_size for m in members)
            if entry.get("size") is not None and size != entry["size"]:
                problems.append(f"{entry['image']}: size {size} != {entry['size']} recorded")
            elif entry.get("sha256") is not None and _item_digest(item_path, members) != entry["sha256"]:
                problems.append(f"{entry['image']}: SHA-256 differs from the recorded one")
    return problems


def _members(item_path: Path, fmt: str | None) -> list[Path]:
    """The files of one item as :func:`build_manifest` gathered them."""
    if item_path.is_dir():
        return sorted(
            (p for p in item_path.iterdir() if p.is_file() and not p.name.startswith(".") and _sniff(p) == "dicom"),
            key=lambda p: _natural_key(p.name),
        )
    if fmt == "metaimage" and (data := _metaimage_data_file(item_path)) is not None:
        return [item_path, data]
    return [item_path]
