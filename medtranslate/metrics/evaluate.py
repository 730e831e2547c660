"""The evaluation workflow: paired metrics on registered pairs, unpaired distances, the paper's protocol, baselines.

Four questions, each answered with its protocol written next to the number:

1. **Paired** — does the synthetic MRI match *this patient's* MRI? Only on slices of one subject at the same
   level. The real MRI is registered (SimpleITK, affine, Mattes mutual information) onto the CT; the
   registration never sees a synthetic image, so every method is scored against the same resampled reference.
   Metrics are on [0, 1] (``data_range`` 1) inside the CT's head mask ∩ the registration's valid region.
2. **Unpaired** — does the synthetic MRI look like real MRI as a population? Multi-scale sliced Wasserstein
   distance and intensity Wasserstein distance against the held-out real MRI (duplicates and items leaking
   from training dropped by the manifest), with bootstrap 95 % confidence intervals.
3. **The paper's protocol** — MAE/MSE/PSNR against arbitrarily paired real MRI, with the paper's scale-mixed
   PSNR next to the consistent ones.
4. **Volumes** — when the paired inputs are voxel-aligned volumes (the phantom's ``paired/``): each whole CT
   translated as ``medtranslate translate`` does, scored in 3D with the through-plane consistency
   (:mod:`medtranslate.metrics.volume_evaluation`); the only paired score of 2.5D and 3D models.

Every method is scored the same way: the model (``G_A``) when given, the identity (the CT itself), inversion +
histogram matching, and the paper's CNN trained on randomly paired slices.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Compose
from tqdm.auto import tqdm

from medtranslate.data.datalist import load_manifest, paired_datalist, select_contrast
from medtranslate.data.loaders import paired_validation_dataset
from medtranslate.errors import EmptyInputError, InputError
from medtranslate.inference import SliceTranslator, load_generator, make_translator
from medtranslate.io import LoadMedicalImaged
from medtranslate.metrics.baselines import identity_baseline, inversion_histogram_baseline
from medtranslate.metrics.cnn_baseline import train_cnn_baseline
from medtranslate.metrics.figures import save_case_figure
from medtranslate.metrics.paired import HEAD_FRACTION, ct_head_mask, paired_metrics, symmetric_to_unit
from medtranslate.metrics.protocol import paper_protocol
from medtranslate.metrics.registration import register_to
from medtranslate.metrics.report import REPORT_FILES, summarise, write_report
from medtranslate.metrics.unpaired import bootstrap_ci, intensity_wasserstein, sliced_wasserstein_distance
from medtranslate.metrics.volume_evaluation import load_paired_volumes, volume_evaluation
from medtranslate.networks.kind import kind_of_network
from medtranslate.transforms import ct_transforms, mri_transforms
from medtranslate.transforms.presets import DEFAULT_CT_WINDOW

__all__ = [
    "HEAD_FRACTION",
    "PAIRED_CT_FOLDER",
    "PairedCase",
    "evaluate",
    "find_paired_slices",
    "load_paired_cases",
    "load_unpaired_split",
    "paired_evaluation",
    "register_pair",
    "unpaired_evaluation",
]

PathLike = str | os.PathLike
Translator = Callable[[torch.Tensor], torch.Tensor]

#: CT sub-folder of each patient in the paired slice layout ``<patient>/{CT,T1-MRI,T2-MRI}/NNN.png``.
PAIRED_CT_FOLDER = "CT"


@dataclass
class PairedCase:
    """One evaluated slice: the CT, the real MRI on the CT's grid, the mask metrics use, and how it was aligned.

    ``ct`` and ``mri`` are (1, S, S) on [-1, 1]; ``mask`` (1, S, S) bool is the CT's head mask ∩ the region the
    registered MRI covers; ``group`` is the subject (cases of one group never serve as each other's reference).
    """

    case_id: str
    group: str
    ct: torch.Tensor
    mri: torch.Tensor
    mask: torch.Tensor
    registration: dict[str, Any] = field(default_factory=dict)


def find_paired_slices(paired_dir: PathLike, reference: str = "T1-MRI") -> list[dict[str, str]]:
    """Slice pairs of the layout ``<patient>/CT/NNN.png`` + ``<patient>/<reference>/NNN.png`` (same name = level).

    Args:
        paired_dir: folder of patient folders.
        reference: the MRI sub-folder compared against (``"T1-MRI"`` or ``"T2-MRI"``).

    Returns:
        ``[{"case_id": "<patient>/<stem>", "group": "<patient>", "ct": path, "mri": path}, ...]`` in name
        order; empty when the folder does not have this layout.
    """
    pairs = []
    for ct_dir in sorted(Path(paired_dir).glob(f"*/{PAIRED_CT_FOLDER}")):
        mri_dir = ct_dir.parent / reference
        if not mri_dir.is_dir():
            continue
        for ct_file in sorted(p for p in ct_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            mri_file = mri_dir / ct_file.name
            if mri_file.is_file():
                patient = ct_dir.parent.name
                pairs.append(
                    {"case_id": f"{patient}/{ct_file.stem}", "group": patient, "ct": str(ct_file), "mri": str(mri_file)}
                )
    return pairs


def register_pair(
    ct: torch.Tensor, mri: torch.Tensor, transform: str = "affine", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Register the real MRI (moving) onto the CT (fixed) with :func:`register_to` and resample it there.

    Args:
        ct: (1, X, Y) CT on [-1, 1] (the fixed grid).
        mri: (1, X', Y') real MRI on [-1, 1] of the same level.
        transform: ``"rigid"``, ``"similarity"`` or ``"affine"``.
        seed: seeds the metric sampling.

    Returns:
        the registered MRI (1, X, Y) with -1 where it has no data, the valid mask (1, X, Y) bool, and a record
        ``{"applied": True, "transform", "mattes_mi"}``.
    """
    result = register_to(ct[0].numpy(), mri[0].numpy(), transform=transform, seed=seed)
    valid = torch.from_numpy(result.valid)[None]
    moved = torch.from_numpy(result.image)[None].float().where(valid, torch.tensor(-1.0))
    return moved, valid, {"applied": True, "transform": transform, "mattes_mi": result.metric}


def _case(case_id: str, group: str, ct: torch.Tensor, mri: torch.Tensor, valid: torch.Tensor, reg: dict) -> PairedCase:
    mask = ct_head_mask(ct) & valid.bool()
    return PairedCase(case_id, group, ct.float(), mri.float(), mask, reg)


def load_paired_cases(
    paired_dir: PathLike,
    image_size: int = 128,
    reference: str = "T1-MRI",
    registered: bool | None = None,
    transform: str = "affine",
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_cases: int | None = None,
    seed: int = 0,
    skipped: list[dict[str, str]] | None = None,
    progress: bool = False,
) -> list[PairedCase]:
    """Load paired CT/MRI at ``image_size``, bring the MRI onto the CT's grid and build the metric mask.

    Two layouts: patient folders of slice-matched PNGs (:func:`find_paired_slices`; not registered, so the MRI
    is registered to the CT) and data sets with registered ``paired/{ct,mri}`` volumes such as the phantom
    (:func:`~medtranslate.data.paired_datalist`; axial slices through the head, no registration).

    Args:
        paired_dir: either layout.
        image_size: side the slices are resized/padded to (aspect kept), as for the generator.
        reference: MRI sub-folder of the slice layout.
        registered: the pairs are already voxel-aligned (skip registration); ``None``: True for volume pairs,
            False for the slice layout.
        transform: registration transform (see :func:`register_pair`).
        window: CT window for HU data (8-bit CT is mapped linearly, as in training).
        max_cases: at most this many slices, spread evenly (``None``: all slice pairs; 8 per volume pair).
        seed: seeds the registration's metric sampling.
        skipped: receives ``{"case_id", "reason"}`` for each slice pair whose registration failed (e.g. no
            overlap for mutual information); such a pair is left out rather than scored against a wrong reference.
        progress: show a progress bar on stderr (tqdm) over the slice or volume pairs.

    Raises:
        InputError: ``paired_dir`` has neither layout.
        EmptyInputError: no pair was found.
    """
    slices = find_paired_slices(paired_dir, reference)
    cases: list[PairedCase] = []
    if slices:
        if max_cases is not None and len(slices) > max_cases:
            slices = [slices[int(i)] for i in np.linspace(0, len(slices) - 1, max_cases).round()]
        ct_load = Compose(
            [LoadMedicalImaged("ct"), ct_transforms("ct", image_size, window=window, augment=False, volume=False)]
        )
        mri_load = Compose([LoadMedicalImaged("mri"), mri_transforms("mri", image_size, augment=False, volume=False)])
        for pair in tqdm(slices, desc="paired cases", unit="case", disable=not progress, dynamic_ncols=True):
            ct = torch.as_tensor(ct_load({"ct": pair["ct"]})["ct"]).float()
            mri = torch.as_tensor(mri_load({"mri": pair["mri"]})["mri"]).float()
            if registered:
                valid, reg = torch.ones_like(ct, dtype=torch.bool), {"applied": False}
            else:
                try:
                    mri, valid, reg = register_pair(ct, mri, transform, seed)
                except RuntimeError as err:  # SimpleITK: the metric found no overlap, the optimiser diverged, ...
                    reason = f"registration failed: {' '.join(str(err).split())[-300:]}"
                    (skipped if skipped is not None else []).append({"case_id": pair["case_id"], "reason": reason})
                    continue
            cases.append(_case(pair["case_id"], pair["group"], ct, mri, valid, reg))
        if not cases:
            raise EmptyInputError(paired_dir, f"no slice pair could be registered ({len(slices)} tried)")
        return cases
    try:
        pairs = paired_datalist(paired_dir)
    except InputError as err:
        raise InputError(
            paired_dir,
            f"neither <patient>/{PAIRED_CT_FOLDER}/ + <patient>/{reference}/ slices nor paired volumes ({err})",
        ) from err
    per_pair = 8 if max_cases is None else max(1, math.ceil(max_cases / len(pairs)))
    for pair in tqdm(pairs, desc="paired volumes", unit="volume", disable=not progress, dynamic_ncols=True):
        subject = Path(pair["ct"]).name.split(".")[0]
        for k, item in enumerate(paired_validation_dataset([pair], image_size, window, per_pair)):
            ct, mri = torch.as_tensor(item["ct"]), torch.as_tensor(item["mri"])
            if registered is False:
                mri, valid, reg = register_pair(ct, mri, transform, seed)
            else:
                valid, reg = torch.ones_like(ct, dtype=torch.bool), {"applied": False}
            cases.append(_case(f"{subject}/slice{k:02d}", subject, ct, mri, valid, reg))
    if not cases:
        raise EmptyInputError(paired_dir, "no paired CT/MRI slice")
    return cases[:max_cases] if max_cases is not None else cases


def _load_items(paths: Sequence[str], load: Compose, key: str, image_size: int) -> torch.Tensor:
    """Load items through ``load``; a volume contributes its middle non-empty axial slice. → (N, 1, S, S)."""
    out = []
    for path in paths:
        item = load({key: path})
        item = item[len(item) // 2] if isinstance(item, list) else item
        out.append(torch.as_tensor(item[key]).float())
    return torch.stack(out) if out else torch.empty(0, 1, image_size, image_size)


def _spread(items: list, count: int | None) -> list:
    if count is None or len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def load_unpaired_split(
    source: PathLike,
    split: str = "test",
    image_size: int = 128,
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_images: int | None = None,
    contrast: str | None = None,
    dataset_dir: PathLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """CT and MRI of one split of an unpaired data set, deduplicated and leakage-free, on [-1, 1].

    A data folder is scanned with hashing (:func:`~medtranslate.data.manifest.build_manifest`): byte-duplicates
    and test items identical to training items are dropped; a manifest file is used as written.

    Args:
        source: data folder (Kaggle ``trainA/trainB/testA/testB``, phantom, ``ct/`` + ``mri/``) or manifest.
        split: ``"training"``, ``"validation"`` or ``"test"``.
        image_size: output side (aspect kept, padded with -1).
        window: CT window for HU data.
        max_images: at most this many images per domain, spread evenly over the list.
        contrast: MRI of this contrast only, by the manifest's labels (see
            :func:`~medtranslate.data.datalist.select_contrast`); ``None``: every MRI item.
        dataset_dir: the data folder of a manifest ``source`` (needed when its ``base_dir`` is the placeholder).

    Returns:
        ``(ct (N, 1, S, S), mri (M, 1, S, S), info)`` with ``info`` naming the source, split, counts and the
        number of items the manifest dropped.
    """
    if Path(source).is_dir():
        manifest, base = load_manifest(source, hash_files=True)
    else:
        manifest, base = load_manifest(source, dataset_dir)
    entries = {d: manifest[f"{split}_{d}"] for d in ("ct", "mri")}
    if contrast:
        entries["mri"] = select_contrast(entries["mri"], contrast, source)
    paths = {d: _spread([str(base / e["image"]) for e in entries[d]], max_images) for d in ("ct", "mri")}
    ct_load = Compose([LoadMedicalImaged("ct"), ct_transforms("ct", image_size, window=window, augment=False)])
    mri_load = Compose([LoadMedicalImaged("mri"), mri_transforms("mri", image_size, augment=False)])
    report = manifest.get("report", {})
    info = {
        "source": str(source),
        "split": split,
        "n_ct": len(paths["ct"]),
        "n_mri": len(paths["mri"]),
        "available": {d: len(entries[d]) for d in ("ct", "mri")},
        "contrast": contrast or "any",
        "duplicates_dropped": len(report.get("duplicates_dropped", [])),
        "leakage_dropped": len(report.get("leakage_dropped", [])),
    }
    return (
        _load_items(paths["ct"], ct_load, "ct", image_size),
        _load_items(paths["mri"], mri_load, "mri", image_size),
        info,
    )


def _translate(translator: Translator, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.stack([torch.as_tensor(translator(image)).float() for image in images])


def paired_evaluation(
    cases: Sequence[PairedCase], predictions: Mapping[str, torch.Tensor], reference: str = "real MRI"
) -> dict[str, Any]:
    """Score every method's predictions against the cases' registered MRI.

    Args:
        cases: from :func:`load_paired_cases`.
        predictions: method name → (N, 1, S, S) synthetic MRI on [-1, 1], row ``i`` for ``cases[i]``.
        reference: what the real MRI is, for the protocol sentence (e.g. ``"T1-MRI"``).

    Returns:
        ``{"protocol", "n", "rows": [per image and method], "summary": {method: {metric: mean/std/n}}}``.
    """
    applied = {bool(c.registration.get("applied")) for c in cases}
    registration = (
        "real MRI registered to the CT (SimpleITK affine, Mattes MI; the synthetic image is not used)"
        if applied == {True}
        else "pairs already voxel-aligned, no registration"
        if applied == {False}
        else "registration where the pair needed it"
    )
    protocol = (
        f"paired: synthetic MRI vs the same slice's {reference}; {registration}; "
        "intensities on [0, 1] ((x + 1) / 2 of the model's [-1, 1]), data_range 1; "
        "MAE/MSE/PSNR/SSIM inside the CT head mask ∩ the registration's valid region"
    )
    rows = []
    for method, pred in predictions.items():
        for i, case in enumerate(cases):
            values = paired_metrics(symmetric_to_unit(pred[i]), symmetric_to_unit(case.mri), case.mask, data_range=1.0)
            rows.append({"evaluation": "paired", "method": method, "case_id": case.case_id, **values})
    return {"protocol": protocol, "n": len(cases), "rows": rows, "summary": summarise(rows)}


def unpaired_evaluation(
    synthetic: Mapping[str, torch.Tensor], real_mri: torch.Tensor, n_boot: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Distribution distances and the paper's protocol of every method against a held-out real MRI set.

    Args:
        synthetic: method name → (N, 1, S, S) synthetic MRI on [-1, 1].
        real_mri: (M, 1, S, S) real MRI on [-1, 1], never used to build any method.
        n_boot: bootstrap resamples for the 95 % intervals.
        seed: seeds the distances and the bootstrap.

    Returns:
        ``{"protocol", "methods": {name: {"SWD", "intensity_W1", "paper"}}, "real_mri_split_half_SWD"}``; the
        last is the distance between two halves of the real set, the floor any method can reach.
    """

    def swd(x: torch.Tensor, y: torch.Tensor) -> float:
        return sliced_wasserstein_distance(x, y, seed=seed)

    methods = {}
    for name, fake in synthetic.items():
        methods[name] = {
            "SWD": bootstrap_ci(swd, fake, real_mri, n_boot=n_boot, seed=seed),
            "intensity_W1": bootstrap_ci(intensity_wasserstein, fake, real_mri, n_boot=n_boot, seed=seed),
            "paper": paper_protocol(fake, real_mri),
        }
    half = len(real_mri) // 2
    floor = swd(real_mri[:half], real_mri[half:]) if half >= 2 else float("nan")
    protocol = (
        "unpaired: synthetic MRI from the test CT vs the held-out real test MRI (byte-duplicates and items "
        "identical to training dropped); SWD = multi-scale sliced Wasserstein (×10³, 7×7 patches, Laplacian "
        "pyramid) on [-1, 1]; intensity_W1 = 1D Wasserstein of intensities > -0.9 on [-1, 1]; 95 % percentile "
        f"bootstrap over images ({n_boot} resamples); paper = MAE/MSE vs arbitrarily paired real MRI"
    )
    return {"protocol": protocol, "methods": methods, "real_mri_split_half_SWD": floor}


def _leave_group_out_histmatch(cases: Sequence[PairedCase]) -> tuple[torch.Tensor, str]:
    """Inversion + histogram matching, each case matched to the real MRI of the *other* subjects."""
    out = []
    groups = {c.group for c in cases}
    for case in cases:
        others = [c.mri for c in cases if c.group != case.group] if len(groups) > 1 else [c.mri for c in cases]
        out.append(inversion_histogram_baseline(case.ct, torch.stack(others)))
    note = "matched to the other subjects' real MRI" if len(groups) > 1 else "matched to the evaluated MRI (1 subject)"
    return torch.stack(out), note


def _resolve_generator(
    generator: torch.nn.Module | Translator | PathLike | None,
    network: torch.nn.Module | None,
    device: str,
    key: str = "g_a",
) -> tuple[Translator | None, str | None]:
    """A callable generator or ``None`` with the reason it is skipped; paths load ``key`` into a copy of ``network``."""
    if generator is None:
        return None, f"no generator ({key}) given"
    if isinstance(generator, (str, os.PathLike)):
        if not Path(generator).is_file():
            return None, f"no trained weights at {os.fspath(generator)}"
        if network is None:
            raise InputError(generator, "a checkpoint path needs the generator architecture (network)")
        return load_generator(generator, copy.deepcopy(network), device, key=key), None
    return generator, None


def _volume_section(
    paired_dir: PathLike,
    model: torch.nn.Module | Translator | None,
    required: bool | None,
    max_volumes: int | None,
    window: str | Sequence[float],
    image_size: int,
    device: str,
    spacing: float | None,
    output_dir: Path,
    overwrite: bool,
    reference: str,
) -> dict[str, Any] | None:
    """The volume evaluation of ``paired_dir``'s volume pairs, or ``None`` when there are none (and not required).

    A module is wrapped by :func:`make_translator` (float32, the product's head crop); a callable is used as is.
    """
    slice_layout = bool(find_paired_slices(paired_dir, reference))
    pairs = [] if slice_layout else load_paired_volumes(paired_dir, window, max_volumes)
    if not pairs:
        if required:
            raise InputError(paired_dir, "volume evaluation asked for, but there are no paired CT/MRI volumes")
        return None
    translators: dict[str, Translator] = {}
    if isinstance(model, torch.nn.Module):
        translators["model"] = make_translator(model, image_size=image_size, device=device, amp=False, spacing=spacing)
    elif model is not None:
        translators["model"] = model
    return volume_evaluation(pairs, translators, window, output_dir / "figures", overwrite=overwrite)


def evaluate(
    output_dir: PathLike,
    paired_dir: PathLike | None = None,
    unpaired_dir: PathLike | None = None,
    generator: torch.nn.Module | Translator | PathLike | None = None,
    generator_b: torch.nn.Module | Translator | PathLike | None = None,
    network: torch.nn.Module | None = None,
    image_size: int = 128,
    reference: str = "T1-MRI",
    registered: bool | None = None,
    transform: str = "affine",
    window: str | Sequence[float] = DEFAULT_CT_WINDOW,
    max_paired: int | None = None,
    max_unpaired: int | None = 64,
    cnn_iterations: int = 300,
    cnn_train_images: int = 64,
    cnn_image_size: int = 64,
    n_boot: int = 100,
    max_figures: int | None = 16,
    device: str = "cpu",
    seed: int = 0,
    overwrite: bool = False,
    contrast: str | None = None,
    model_image_size: int | None = None,
    dataset_dir: PathLike | None = None,
    progress: bool = False,
    volumes: bool | None = None,
    max_volumes: int | None = None,
    spacing: float | None = None,
) -> dict[str, Any]:
    """Evaluate ``G_A`` (when given) and the baselines; write ``report.json``, CSVs and per-case figures.

    Methods: ``model`` (``generator``), ``identity`` (the CT), ``inversion_histmatch`` (inverted CT histogram-
    matched to real MRI that is not the reference being scored) and ``cnn_random_pairs`` (the paper's CNN,
    trained here; ``cnn_iterations=0`` leaves it out). The CNN and the histogram matching of the unpaired part
    use the unpaired set's *training* split; without ``unpaired_dir`` the CNN trains on the paired slices,
    randomly paired (its protocol says so).

    Args:
        output_dir: folder for ``report.json``, ``per_image.csv``, ``summary.csv`` and ``figures/``.
        paired_dir: paired data (see :func:`load_paired_cases`); ``None`` skips the paired evaluation.
        unpaired_dir: unpaired data set or manifest with a test split (see :func:`load_unpaired_split`);
            ``None`` skips the unpaired evaluation.
        generator: ``G_A`` as a module or callable mapping (1, X, Y) on [-1, 1] to the same, or a checkpoint path
            loaded with :func:`medtranslate.inference.load_generator` into ``network``; a missing path or
            ``None`` skips the model with a message in the report.
        generator_b: ``G_B`` (MRI → CT) for the reconstructed-CT column of the figures: a module, a callable or a
            training checkpoint (its ``g_b`` entry is loaded into a copy of ``network``).
        network: the generator architecture a checkpoint path is loaded into.
        image_size: side of the evaluated slices (the generator's training size).
        reference: MRI folder of the paired slice layout.
        registered: see :func:`load_paired_cases`.
        transform: registration transform.
        window: CT window for HU data.
        max_paired: at most this many paired slices (``None``: all).
        max_unpaired: at most this many test images per domain (``None``: all).
        cnn_iterations: training iterations of the CNN baseline (0: no CNN baseline).
        cnn_train_images: training images per domain for the CNN and the histogram reference.
        cnn_image_size: side the CNN is trained and run at (CPU cost; its output is resized to ``image_size``).
        n_boot: bootstrap resamples of the unpaired distances.
        max_figures: figures per evaluation (``None``: one per case).
        device: device a checkpoint is loaded to.
        seed: seeds registration sampling, the CNN, distances and bootstrap.
        overwrite: replace existing report files.
        contrast: the unpaired MRI (held-out test images, and the training images of the baselines) of this
            contrast only, by the manifest's labels (e.g. ``"T1"`` for a T1 model); ``None``: every MRI.
        model_image_size: the side the generator was trained at when it differs from ``image_size`` (e.g. an
            earlier 128² model scored on 256² slices: each slice is resized to it and the output back).
        dataset_dir: the data folder of a manifest given as ``unpaired_dir``.
        progress: show a progress bar on stderr (tqdm) over the paired cases as they are loaded and registered.
        volumes: the volume evaluation (:func:`~medtranslate.metrics.volume_evaluation.volume_evaluation`: whole
            CT volumes through :func:`~medtranslate.inference.translate_image` with
            :func:`~medtranslate.inference.make_translator`'s translator, 3D metrics, through-plane consistency,
            reformat figures); ``None``: whenever ``paired_dir`` holds volume pairs, ``False``: never, ``True``:
            required (an error without volume pairs). The slice-wise rows score 2D models only; a 2.5D or 3D
            model is scored here.
        max_volumes: at most this many volume pairs (``None``: all).
        spacing: a 3D model's isotropic voxel size in mm (see :func:`~medtranslate.inference.make_translator`).

    Returns:
        the report dictionary that was written (see ``docs/evaluation.md``).

    Raises:
        InputError: neither ``paired_dir`` nor ``unpaired_dir`` is given, or see the loaders.
    """
    if paired_dir is None and unpaired_dir is None:
        raise InputError(None, "evaluation needs paired_dir, unpaired_dir or both")
    output_dir = Path(output_dir)
    model, skip = _resolve_generator(generator, network, device)
    messages = [f"model skipped: {skip} (baselines only)"] if skip else []
    if generator_b is not None:
        generator_b, skip_b = _resolve_generator(generator_b, network, device, key="g_b")
        messages += [f"reconstructed CT not shown: {skip_b}"] if skip_b else []
    translators: dict[str, Translator] = {}
    kind = kind_of_network(model)
    if model is not None and kind.name != "2d":
        messages.append(f"slice-wise model rows skipped: {kind.describe()} is scored on whole volumes only")
    elif model is not None:
        # float32 throughout, so reported metrics do not depend on whether the machine has native bf16
        translators["model"] = (
            SliceTranslator(model, model_image_size or image_size, amp=False, head_crop=False)  # loaders crop
            if isinstance(model, torch.nn.Module)
            else model
        )
    rec = generator_b
    if isinstance(generator_b, torch.nn.Module):
        rec = SliceTranslator(generator_b, model_image_size or image_size, amp=False, head_crop=False)
    report: dict[str, Any] = {
        "settings": {
            "paired_dir": None if paired_dir is None else str(paired_dir),
            "unpaired_dir": None if unpaired_dir is None else str(unpaired_dir),
            "image_size": image_size,
            "model_image_size": model_image_size or image_size,
            "reference": reference,
            "registration": transform,
            "window": window if isinstance(window, str) else list(window),
            "seed": seed,
            "n_boot": n_boot,
            "contrast": contrast or "any",
        },
        "messages": messages,
        "baselines": {},
    }

    train_ct = train_mri = None
    if unpaired_dir is not None:
        train_ct, train_mri, train_info = load_unpaired_split(
            unpaired_dir, "training", image_size, window, cnn_train_images, contrast, dataset_dir
        )
        report["baselines"]["training_data"] = train_info
    skipped: list[dict[str, str]] = []
    cases = (
        load_paired_cases(
            paired_dir, image_size, reference, registered, transform, window, max_paired, seed, skipped, progress
        )
        if paired_dir is not None
        else []
    )
    messages += [f"paired case {item['case_id']} left out: {item['reason']}" for item in skipped]
    if cnn_iterations > 0:
        if train_ct is None:
            train_ct, train_mri = torch.stack([c.ct for c in cases]), torch.stack([c.mri for c in cases])
            where = "the evaluated paired slices themselves, randomly re-paired (no unpaired training set given)"
        else:
            where = f"the training split of {unpaired_dir}"
        size = min(cnn_image_size, image_size)
        cnn = train_cnn_baseline(
            F.interpolate(train_ct, size=(size, size), mode="area"),
            F.interpolate(train_mri, size=(size, size), mode="area"),
            iterations=cnn_iterations,
            seed=seed,
        )
        # resizes to its size and back
        translators["cnn_random_pairs"] = SliceTranslator(cnn.network, size, amp=False, head_crop=False)
        report["baselines"]["cnn_random_pairs"] = {
            "protocol": f"{cnn.protocol}; trained at {size}² (applied at {size}², resized back) on {where}",
            "loss_first": cnn.losses[0],
            "loss_last": float(np.mean(cnn.losses[-10:])),
        }
    figures: list[str] = []

    if cases:
        cts = torch.stack([c.ct for c in cases])
        preds = {name: _translate(t, cts) for name, t in translators.items() if name == "model"}
        preds["identity"] = identity_baseline(cts)
        preds["inversion_histmatch"], note = _leave_group_out_histmatch(cases)
        if "cnn_random_pairs" in translators:
            preds["cnn_random_pairs"] = _translate(translators["cnn_random_pairs"], cts)
        report["paired"] = paired_evaluation(cases, preds, reference)
        report["paired"]["inversion_histmatch_reference"] = note
        report["paired"]["registration"] = [{"case_id": c.case_id, **c.registration} for c in cases]
        report["paired"]["skipped"] = skipped
        recon = _translate(rec, preds["model"]) if rec is not None and "model" in preds else None
        primary = "model" if "model" in preds else "inversion_histmatch"
        for case in _spread(list(range(len(cases))), max_figures):
            path = output_dir / "figures" / f"paired_{cases[case].case_id.replace('/', '_')}.png"
            save_case_figure(
                path,
                cases[case].ct,
                {k: v[case] for k, v in preds.items()},
                real_mri=cases[case].mri,
                reconstructed_ct=None if recon is None else recon[case],
                difference_of=primary,
                mask=cases[case].mask,
                overwrite=overwrite,
            )
            figures.append(str(path))

    if unpaired_dir is not None:
        test_ct, test_mri, info = load_unpaired_split(
            unpaired_dir, "test", image_size, window, max_unpaired, contrast, dataset_dir
        )
        if len(test_ct) == 0 or len(test_mri) == 0:
            raise EmptyInputError(unpaired_dir, "the test split needs CT and MRI for the unpaired evaluation")
        fakes = {name: _translate(t, test_ct) for name, t in translators.items() if name == "model"}
        fakes["identity"] = identity_baseline(test_ct)
        fakes["inversion_histmatch"] = inversion_histogram_baseline(test_ct, train_mri)
        if "cnn_random_pairs" in translators:
            fakes["cnn_random_pairs"] = _translate(translators["cnn_random_pairs"], test_ct)
        report["unpaired"] = {**unpaired_evaluation(fakes, test_mri, n_boot, seed), "data": info}
        report["unpaired"]["inversion_histmatch_reference"] = f"the training MRI of {unpaired_dir}"
        recon = _translate(rec, fakes["model"]) if rec is not None and "model" in fakes else None
        for index in _spread(list(range(len(test_ct))), max_figures):
            path = output_dir / "figures" / f"unpaired_{index:03d}.png"
            save_case_figure(
                path,
                test_ct[index],
                {k: v[index] for k, v in fakes.items()},
                reconstructed_ct=None if recon is None else recon[index],
                overwrite=overwrite,
            )
            figures.append(str(path))
    if paired_dir is not None and volumes is not False:
        section = _volume_section(
            paired_dir, model, volumes, max_volumes, window, model_image_size or image_size, device, spacing,
            output_dir, overwrite, reference,
        )  # fmt: skip
        if section is not None:
            report["volume"] = section
            figures += section["figures"]
    report["figures"] = figures
    report["files"] = {name: str(output_dir / name) for name in REPORT_FILES}
    write_report(report, output_dir, overwrite)
    return report
