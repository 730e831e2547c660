"""Datasets for training and validation from one ``dataset_dir``: what the bundle configs and the CLI call.

``dataset_dir`` may be a Kaggle-layout folder (``trainA/trainB/testA/testB``), a manifest JSON, folders of
NIfTI/DICOM volumes (``ct/`` + ``mri/``) or the built-in phantom; ``None`` (or ``""``) means the built-in
phantom, generated once (seeded, deterministic) into ``phantom_dir``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import Dataset
from monai.transforms import Compose, DeleteItemsd, EnsureTyped, SpatialPadd

from medtranslate.data.datalist import load_datalist, paired_datalist
from medtranslate.data.dataset import UnpairedDataset
from medtranslate.data.phantom import ensure_phantom_dataset
from medtranslate.errors import EmptyInputError, InputError
from medtranslate.io import LoadMedicalImaged
from medtranslate.transforms import (
    AxialOrientationd,
    AxialSlicesd,
    CTWindowd,
    EnsureGrayscaled,
    HeadCropd,
    HeadMaskd,
    MRINormalized,
    ct_transforms,
    mri_transforms,
    volume_transforms,
)
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW

__all__ = [
    "PHANTOM_DEFAULTS",
    "SLICE_SUFFIXES",
    "paired_validation_dataset",
    "require_volumes",
    "resolve_dataset",
    "train_dataset",
    "train_patch_dataset",
    "validation_dataset",
    "validation_volume_dataset",
]

#: file suffixes of 2D slice images, which 2.5D and 3D training cannot use.
SLICE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: The built-in phantom of the default training job: 12 CT and 12 other MRI subjects, 2 paired ones.
PHANTOM_DEFAULTS: dict[str, Any] = {"n_unpaired": 12, "n_paired": 2, "shape": (96, 96, 48), "seed": 0}


def resolve_dataset(dataset_dir: str | Path | None, phantom_dir: str | Path, **phantom_kwargs: Any) -> Path:
    """``dataset_dir`` as a path, or the built-in phantom (written to ``phantom_dir`` once) when it is empty.

    Args:
        dataset_dir: a dataset folder or manifest; ``None`` or ``""`` selects the phantom.
        phantom_dir: where the phantom lives; reused when its ``phantom.json`` matches the parameters.
        phantom_kwargs: overrides of :data:`PHANTOM_DEFAULTS` (see
            :func:`medtranslate.data.phantom.write_phantom_dataset`).
    """
    if dataset_dir:
        return Path(dataset_dir)
    return ensure_phantom_dataset(phantom_dir, **{**PHANTOM_DEFAULTS, **phantom_kwargs})


def train_dataset(
    dataset_dir: str | Path,
    image_size: int = 256,
    load_size: int | None = None,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    flip_prob: float = 0.5,
    affine_prob: float = 0.0,
    cache_rate: float = 1.0,
    length: str | int = "max",
    seed: int = 0,
    manifest: str | Path | None = None,
    contrast: str | None = None,
    slab: int = 1,
) -> UnpairedDataset:
    """The unpaired training set: CT and MRI items drawn independently, each with its own augmentation.

    Volumes give one random non-empty axial slice per draw; the deterministic prefix (load, orientation,
    intensity) is cached in memory (``cache_rate``) so that a volume is read once.

    Args:
        dataset_dir: see the module docstring (not ``None`` here: call :func:`resolve_dataset` first).
        image_size: side of the training slices.
        load_size: side before the random crop (CycleGAN: 286 for 256); default ``image_size · 286 / 256``.
        window: CT window preset or ``(level, width)`` in HU.
        flip_prob: probability of the random horizontal flip.
        affine_prob: probability of a small random affine.
        cache_rate: fraction of each domain cached by MONAI's ``CacheDataset``.
        length: ``"max"`` (CycleGAN's epoch), ``"min"`` or a number of samples per epoch.
        seed: seeds the pairing and each domain's random transforms.
        manifest: a manifest JSON listing the items of ``dataset_dir`` to use (e.g. the checked-in
            ``data_manifests/kaggle_ct2mri.json``, which drops the duplicate MRI); default: every image found.
        contrast: train on the MRI items of this contrast only (e.g. ``"T1"``), by the manifest's labels
            (see :func:`~medtranslate.data.load_datalist`); ``None`` or ``""``: every MRI item.
        slab: the generators' slab ``k`` of a 2.5D model: each item is ``2k - 1`` adjacent axial slices as
            channels (:mod:`medtranslate.engines.slab`), which needs volumes; 1: one slice (2D).

    Raises:
        InputError: ``slab > 1`` on a dataset of 2D slices.
    """
    load_size = load_size or round(image_size * 286 / 256)
    lists = {
        domain: [{"image": item["image"]} for item in items]  # paths only: hashes etc. don't collate
        for domain, items in _datalist(dataset_dir, manifest, "training", contrast).items()
    }
    if slab > 1:
        require_volumes(dataset_dir, [item["image"] for items in lists.values() for item in items], "2.5D training")
    common = {
        "image_size": image_size,
        "load_size": load_size,
        "flip_prob": flip_prob,
        "affine_prob": affine_prob,
        "slab": 2 * slab - 1,
    }
    # one flat Compose per domain: CacheDataset caches up to the first random transform of the top-level list,
    # and a nested Compose counts as random, which would leave orientation/intensity/masking uncached
    ct = Compose([LoadMedicalImaged("ct"), *ct_transforms("ct", window=window, track_meta=False, **common).transforms])
    mri = Compose([LoadMedicalImaged("mri"), *mri_transforms("mri", track_meta=False, **common).transforms])
    return UnpairedDataset(lists["ct"], lists["mri"], ct, mri, length=length, seed=seed, cache_rate=cache_rate)


def require_volumes(dataset_dir: str | Path, images: Sequence[str | Path], what: str) -> None:
    """Refuse, in one line, a dataset whose items include 2D slices (PNG/JPEG/BMP/TIFF) for ``what`` (2.5D or 3D
    training, which need volumes)."""
    slices = [Path(p) for p in images if Path(p).suffix.lower() in SLICE_SUFFIXES]
    if slices:
        raise InputError(
            dataset_dir,
            f"{what} needs CT and MRI volumes (NIfTI, DICOM series); {len(slices)} of its {len(images)} items are "
            f"2D slices (e.g. {slices[0].name}) — train a 2D model on it with configs/train.json",
        )


def _datalist(
    dataset_dir: str | Path, manifest: str | Path | None, split: str, contrast: str | None = None
) -> dict[str, list[dict[str, str]]]:
    """The ``split`` of ``manifest`` with its paths under ``dataset_dir``, or of ``dataset_dir`` itself; MRI of
    ``contrast`` only when given."""
    if manifest:
        return load_datalist(manifest, split, dataset_dir=dataset_dir, contrast=contrast or None)
    return load_datalist(dataset_dir, split, contrast=contrast or None)


def _unpaired_validation_lists(
    dataset_dir: str | Path, manifest: str | Path | None, contrast: str | None
) -> dict[str, list[dict[str, str]]]:
    """The ``validation`` split's CT and MRI items, or the ``test`` split's when validation lacks either.

    Raises:
        EmptyInputError: neither split has both.
    """
    for split in ("validation", "test"):
        try:
            lists = _datalist(dataset_dir, manifest, split, contrast)
        except EmptyInputError:
            continue
        if lists["ct"] and lists["mri"]:
            return lists
    raise EmptyInputError(dataset_dir, "no validation or test CT and MRI to validate on")


def _evenly(items: list, count: int) -> list:
    """``count`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def paired_validation_dataset(
    pairs: Sequence[dict[str, str]],
    image_size: int = 256,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_slices: int = 16,
    slab: int = 1,
) -> Dataset:
    """Registered CT/MRI pairs (volumes or slices) cut at the same axial slices, both cropped to the CT's head and
    resized to ``image_size``.

    The slices are chosen by the CT's head mask and spread evenly over the head; the result is materialised
    once so every validation sees the same images. With ``slab`` (a 2.5D model's ``k``) each item is ``2k - 1``
    adjacent slices as channels, like the training items.
    """
    pipeline = Compose(
        [
            LoadMedicalImaged(("ct", "mri")),
            EnsureGrayscaled(("ct", "mri")),
            AxialOrientationd(("ct", "mri"), axcodes="RAS"),
            CTWindowd("ct", window=window),
            MRINormalized("mri"),
            HeadMaskd("ct", "ct_mask"),
            AxialSlicesd(("ct", "mri"), mask_key="ct_mask", slab=2 * slab - 1),
            DeleteItemsd("ct_mask"),
            HeadCropd(("ct", "mri"), spatial_size=image_size, background=-1.0, joint=True),
            EnsureTyped(("ct", "mri"), data_type="tensor", dtype=torch.float32, track_meta=False),
        ]
    )
    slices: list[dict] = []
    for pair in pairs:
        out = pipeline(dict(pair))
        slices.extend(out if isinstance(out, list) else [out])
    if not slices:
        raise EmptyInputError(None, "no paired CT/MRI slice with enough head in it")
    return Dataset(_evenly(slices, max_slices))


def validation_dataset(
    dataset_dir: str | Path,
    image_size: int = 256,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_cases: int = 16,
    manifest: str | Path | None = None,
    contrast: str | None = None,
    slab: int = 1,
) -> tuple[Dataset, bool]:
    """A fixed validation set and whether it is paired.

    Paired CT/MRI (the phantom's ``paired/``, a manifest's ``paired`` list) give paired metrics; otherwise the
    ``validation`` split (or ``test`` when there is none) gives up to ``max_cases`` CT and MRI items side by
    side, unpaired, for distribution distances.
    """
    try:
        return paired_validation_dataset(paired_datalist(dataset_dir), image_size, window, max_cases, slab), True
    except EmptyInputError:  # no registered pairs in this layout: validate on unpaired distributions
        pass
    lists = _unpaired_validation_lists(dataset_dir, manifest, contrast)
    fixed = {"augment": False, "track_meta": False, "slab": 2 * slab - 1}
    ct = Compose([LoadMedicalImaged("ct"), ct_transforms("ct", image_size, window=window, **fixed)])
    mri = Compose([LoadMedicalImaged("mri"), mri_transforms("mri", image_size, **fixed)])
    n = min(max_cases, len(lists["ct"]), len(lists["mri"]))
    items = []
    for c, m in zip(_evenly(lists["ct"], n), _evenly(lists["mri"], n), strict=True):
        a, b = ct({"ct": c["image"]}), mri({"mri": m["image"]})
        a, b = a[len(a) // 2] if isinstance(a, list) else a, b[len(b) // 2] if isinstance(b, list) else b
        items.append({"ct": a["ct"], "mri": b["mri"]})
    return Dataset(items), False


def train_patch_dataset(
    dataset_dir: str | Path,
    patch_size: int = 32,
    spacing: float = 2.0,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    flip_prob: float = 0.5,
    cache_rate: float = 1.0,
    length: str | int = "max",
    seed: int = 0,
    manifest: str | Path | None = None,
    contrast: str | None = None,
) -> UnpairedDataset:
    """The unpaired training set of a 3D model: random ``(1, P, P, P)`` head patches of CT and MRI volumes
    resampled to ``spacing`` mm (:func:`~medtranslate.transforms.volume_transforms`), each domain drawn
    independently; the resampled volumes are cached (``cache_rate``).

    Args: see :func:`train_dataset`; ``patch_size``: the patch side in voxels, ``spacing``: the isotropic voxel
        size in mm.

    Raises:
        InputError: the dataset holds 2D slices.
    """
    lists = {
        domain: [{"image": item["image"]} for item in items]
        for domain, items in _datalist(dataset_dir, manifest, "training", contrast).items()
    }
    require_volumes(dataset_dir, [item["image"] for items in lists.values() for item in items], "3D training")
    common = {"patch_size": patch_size, "spacing": spacing, "flip_prob": flip_prob}
    ct = Compose([LoadMedicalImaged("ct"), *volume_transforms("ct", "CT", window=window, **common).transforms])
    mri = Compose([LoadMedicalImaged("mri"), *volume_transforms("mri", "MR", **common).transforms])
    return UnpairedDataset(lists["ct"], lists["mri"], ct, mri, length=length, seed=seed, cache_rate=cache_rate)


def validation_volume_dataset(
    dataset_dir: str | Path,
    spacing: float = 2.0,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_cases: int = 4,
    manifest: str | Path | None = None,
    contrast: str | None = None,
) -> tuple[Dataset, bool]:
    """The fixed validation set of a 3D model and whether it is paired: registered CT/MRI volumes (the phantom's
    ``paired/``) resampled to ``spacing`` mm and cropped together to the CT's head, or else up to ``max_cases``
    unpaired CT and MRI volumes of the validation (or test) split, all padded with background to one shape (so
    that the validation handler can stack them).

    Raises:
        InputError: the dataset holds 2D slices; EmptyInputError: nothing to validate on.
    """
    pairs = []
    with contextlib.suppress(EmptyInputError):  # no registered pairs in this layout: unpaired volumes
        pairs = paired_datalist(dataset_dir)
    if pairs:
        require_volumes(dataset_dir, [p[k] for p in pairs for k in ("ct", "mri")], "3D validation")
        load = Compose(
            [
                LoadMedicalImaged(("ct", "mri")),
                volume_transforms(("ct", "mri"), ("CT", "MR"), patch_size=None, spacing=spacing, window=window),
            ]
        )
        items = [load({"ct": p["ct"], "mri": p["mri"]}) for p in _evenly(list(pairs), max_cases)]
        return Dataset(_common_shape(items)), True
    lists = _unpaired_validation_lists(dataset_dir, manifest, contrast)
    images = [item["image"] for items in lists.values() for item in items]
    require_volumes(dataset_dir, images, "3D validation")
    ct = Compose([LoadMedicalImaged("ct"), volume_transforms("ct", "CT", None, spacing, window)])
    mri = Compose([LoadMedicalImaged("mri"), volume_transforms("mri", "MR", None, spacing)])
    n = min(max_cases, len(lists["ct"]), len(lists["mri"]))
    items = [
        {"ct": ct({"ct": c["image"]})["ct"], "mri": mri({"mri": m["image"]})["mri"]}
        for c, m in zip(_evenly(lists["ct"], n), _evenly(lists["mri"], n), strict=True)
    ]
    return Dataset(_common_shape(items)), False


def _common_shape(items: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """The volumes of ``items`` padded (centred, background -1) to their largest shape."""
    shape = tuple(max(int(item[key].shape[d]) for item in items for key in ("ct", "mri")) for d in (1, 2, 3))
    pad = SpatialPadd(("ct", "mri"), spatial_size=shape, mode="constant", value=-1.0)
    return [pad(item) for item in items]
