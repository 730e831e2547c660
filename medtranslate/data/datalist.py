"""Datalists for training and inference: absolute paths per domain from a manifest or a data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medtranslate.data.manifest import DOMAINS, SPLITS, build_manifest, read_manifest, resolve_base_dir
from medtranslate.errors import EmptyInputError, InputError

__all__ = ["CONTRASTS", "load_datalist", "load_manifest", "paired_datalist", "select_contrast"]

#: MRI contrast labels of a manifest's MRI items (post-contrast T1 counts as ``T1``, flagged ``post_contrast``).
CONTRASTS = ("T1", "T2", "FLAIR", "other")

PathLike = str | os.PathLike


def load_manifest(
    source: PathLike, dataset_dir: PathLike | None = None, hash_files: bool = False, **build_options: Any
) -> tuple[dict[str, Any], Path]:
    """A manifest and the folder its relative paths start from.

    Args:
        source: a manifest JSON file, or a data folder in one of the layouts of
            :func:`~medtranslate.data.manifest.build_manifest` (its manifest is built in memory).
        dataset_dir: the data folder for a manifest file (overrides its ``base_dir``; needed when that is the
            placeholder, as in the project's checked-in manifests).
        hash_files: for a folder: hash the files so byte-duplicates and test items leaking from training are
            dropped (slower; off by default).
        build_options: for a folder: ``subset``, ``val_fraction``, ``val_count``, ``seed``, ``dedupe`` of
            :func:`~medtranslate.data.manifest.build_manifest`.

    Raises:
        InputError: ``source`` does not exist, is not a manifest, or the folder has no known layout.
        EmptyInputError: the folder holds no images.
    """
    path = Path(source)
    if path.is_dir():
        return build_manifest(path, hash_files=hash_files, **build_options), path
    if build_options:
        raise TypeError(f"options {sorted(build_options)} apply to a data folder, not to the manifest {path}")
    if not path.exists():
        raise InputError(path, "neither a manifest file nor a data folder")
    manifest = read_manifest(path)
    return manifest, resolve_base_dir(manifest, path, dataset_dir)


def _absolute(base: Path, rel: str) -> str:
    return os.path.normpath(os.path.abspath(base / rel))


def _check_exist(paths: list[str], base: Path, source: PathLike) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise InputError(
            base,
            f"{len(missing)} of {len(paths)} items listed in {os.fspath(source)} are missing (first: {missing[0]}); "
            "check the data folder or run verify_manifest",
        )


def load_datalist(
    source: PathLike,
    split: str = "training",
    *,
    dataset_dir: PathLike | None = None,
    hash_files: bool = False,
    contrast: str | None = None,
    **build_options: Any,
) -> dict[str, list[dict[str, str]]]:
    """Per-domain MONAI datalists of one split: ``{"ct": [{"image": abs_path}, ...], "mri": [...]}``.

    Args:
        source: a manifest JSON file or a data folder (see :func:`load_manifest`).
        split: ``"training"``, ``"validation"`` or ``"test"``.
        dataset_dir: the data folder for a manifest file (see :func:`load_manifest`).
        hash_files: for a folder: drop byte-duplicates and leaking test items (see :func:`load_manifest`).
        contrast: keep only the MRI items of this ``contrast`` (``"T1"``, ``"T2"``, ``"FLAIR"``, ``"other"``;
            case-insensitive) that are not flagged ``not_axial_brain``, by the manifest's ``contrast`` labels
            (``medtranslate manifest``); ``None`` keeps every MRI item.
        build_options: for a folder: options of :func:`~medtranslate.data.manifest.build_manifest`.

    Raises:
        EmptyInputError: the split has no item in either domain, or (``"training"``) none in one domain, since
            unpaired training needs both.
        InputError: listed files are missing, ``contrast`` is unknown or the manifest has no contrast labels, or
            see :func:`load_manifest`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    manifest, base = load_manifest(source, dataset_dir, hash_files, **build_options)
    entries = {d: manifest[f"{split}_{d}"] for d in DOMAINS}
    if contrast:
        entries["mri"] = select_contrast(entries["mri"], contrast, source)
    out = {d: [{"image": _absolute(base, e["image"])} for e in entries[d]] for d in DOMAINS}
    empty = [d for d in DOMAINS if not out[d]]
    if len(empty) == len(DOMAINS) or (split == "training" and empty):
        raise EmptyInputError(
            source,
            f"no {' or '.join(x.upper() for x in empty)} images in the {split} split ({manifest['layout']} layout)",
        )
    _check_exist([e["image"] for d in DOMAINS for e in out[d]], base, source)
    return out


def select_contrast(items: list[dict[str, Any]], contrast: str, source: PathLike) -> list[dict[str, Any]]:
    """The MRI manifest ``items`` labelled ``contrast`` and not flagged ``not_axial_brain``.

    Raises:
        InputError: an unknown contrast, or items without a ``contrast`` label (a manifest written without them).
    """
    wanted = str(contrast).strip().upper()
    if wanted not in {c.upper() for c in CONTRASTS}:
        raise InputError(source, f"unknown MRI contrast {contrast!r}; choose one of {', '.join(CONTRASTS)}")
    if any("contrast" not in item for item in items):
        raise InputError(source, "has MRI items without a contrast label: rebuild it with `medtranslate manifest`")
    return [
        item
        for item in items
        if item["contrast"].upper() == wanted and "not_axial_brain" not in item.get("flags", ())
    ]


def paired_datalist(source: PathLike, *, dataset_dir: PathLike | None = None) -> list[dict[str, str]]:
    """Matched CT/MRI pairs, ``[{"ct": abs_path, "mri": abs_path}, ...]`` (e.g. the phantom's ``paired/``).

    Args:
        source: a manifest JSON file or a data folder (see :func:`load_manifest`).
        dataset_dir: the data folder for a manifest file (see :func:`load_manifest`).

    Raises:
        EmptyInputError: the layout has no pairs.
        InputError: listed files are missing, or see :func:`load_manifest`.
    """
    manifest, base = load_manifest(source, dataset_dir)
    pairs = [{d: _absolute(base, pair[d]) for d in DOMAINS} for pair in manifest.get("paired", [])]
    if not pairs:
        raise EmptyInputError(source, f"no paired CT/MRI items in the {manifest['layout']} layout")
    _check_exist([p[d] for p in pairs for d in DOMAINS], base, source)
    return pairs
