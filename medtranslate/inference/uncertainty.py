"""A trust map for synthetic MRI: where the translation is likely wrong, as an expected absolute error on [0, 1].

Two raw features per voxel, both on the [0, 1] export scale ((x + 1) / 2 of the model's [-1, 1], clipped):

- ``spread``: the standard deviation (population, ``correction=0``) of ``G_A``'s output over the plain pass and a
  few exactly invertible augmentations: a left-right flip and, optionally, an integer in-plane shift (a circular
  roll). The augmentations are applied in the network's own grid, after the head crop of
  :class:`~medtranslate.inference.SliceTranslator` and undone before the crop is put back: an integer shift of
  the input slice would be cancelled exactly by the crop, which follows the head;
- ``cycle``: the cycle reconstruction error ``|G_B(G_A(x)) - x|`` when the reverse generator ``G_B`` is given,
  smoothed by a small box filter per axial slice (the raw error is noisy).

Cost: ``1 + n_aug (+ 1 with G_B)`` translations. The synthetic MRI returned is the plain pass, so switching the
map on does not change the synthetic image.

A calibration maps the features to the expected ``|synthetic - real|`` on [0, 1]:
``intercept + Σ coefficient · feature`` with every coefficient and the intercept ≥ 0 (non-negative least squares,
so the map is monotone in each feature), fitted inside the head on registered CT/MRI pairs
(:func:`calibrate_from_cases`, with leave-one-patient-out quality). Without a calibration the map is the plain sum
of the features (:func:`uncalibrated_calibration`), a score marked ``uncalibrated`` in every output's description.
The calibration is a small JSON-serialisable dict (:func:`load_uncertainty_calibration` reads one back).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from scipy import optimize, stats

from medtranslate.errors import ConfigError, DimensionError, InputError
from medtranslate.inference.sliding import VolumeTranslator
from medtranslate.inference.volume import SliceTranslator
from medtranslate.transforms import to_display_range
from medtranslate.transforms.head import find_head

__all__ = [
    "CALIBRATION_KIND",
    "FEATURES",
    "UNCERTAINTY_SUFFIX",
    "UncertaintyEstimator",
    "UncertaintyFeatures",
    "UncertaintySettings",
    "apply_uncertainty_calibration",
    "calibrate_from_cases",
    "calibration_quality",
    "describe_calibration",
    "fit_uncertainty_calibration",
    "load_uncertainty_calibration",
    "uncalibrated_calibration",
]

#: the raw features, in the order the calibration uses them.
FEATURES = ("spread", "cycle")
#: appended to the synthetic MRI's output prefix to name the map's outputs.
UNCERTAINTY_SUFFIX = "_uncertainty"
#: the ``kind`` of a calibration dict.
CALIBRATION_KIND = "medtranslate.uncertainty_calibration"

_SETTING = "uncertainty calibration"


class _Augmented(torch.nn.Module):
    """``network`` seen through an invertible in-plane augmentation of its ``(B, C, X, Y[, Z])`` input:
    ``undo(network(do(x)))``; a module around it, so its kind (2D, 2.5D, 3D) is the network's."""

    def __init__(self, network: Any, flip: bool = False, shift: int = 0) -> None:
        super().__init__()
        self.network = network
        self.flip = flip
        self.shift = shift

    def _apply(self, x: torch.Tensor, sign: int) -> torch.Tensor:
        if self.flip:
            x = torch.flip(x, dims=(2,))  # X: left-right in RAS
        if self.shift:
            x = torch.roll(x, shifts=(sign * self.shift, sign * self.shift), dims=(2, 3))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(self.network(self._apply(x, 1)), -1)


def _like(translator: SliceTranslator | VolumeTranslator, network: Any) -> SliceTranslator | VolumeTranslator:
    """A translator of ``network`` with ``translator``'s grid, batching, device and precision (eager)."""
    if isinstance(translator, VolumeTranslator):
        return VolumeTranslator(
            network,
            patch_size=translator.image_size,
            spacing=translator.spacing,
            sw_batch_size=translator.sw_batch_size,
            device=translator.device,
            amp=None if translator.amp else False,
            background=translator.background,
            head_crop=translator.head_crop,
        )
    return SliceTranslator(
        network,
        image_size=translator.image_size,
        sw_batch_size=translator.sw_batch_size,
        chunk_slices=translator.chunk_slices,
        device=translator.device,
        amp=None if translator.amp else False,
        background=translator.background,
        channels_last=translator.channels_last,
        head_crop=translator.head_crop,
    )


def _plain(x: torch.Tensor) -> torch.Tensor:
    return (x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)).float()


def _unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1], clipped (the exports' scale)."""
    return to_display_range(_plain(x), "0-1")


def _box_filter(image: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over a ``size``×``size`` box in each axial slice of a (1, X, Y[, Z]) tensor (edges: the pixels inside)."""
    if size == 1:
        return image
    slices = image[None] if image.ndim == 3 else image.permute(3, 0, 1, 2)
    smooth = F.avg_pool2d(slices, size, stride=1, padding=size // 2, count_include_pad=False)
    return smooth[0] if image.ndim == 3 else smooth.permute(1, 2, 3, 0)


def _head_mask(image: torch.Tensor) -> torch.Tensor:
    """The translator's head mask of each axial slice (:func:`find_head`; no head found: the whole slice)."""
    volume = image if image.ndim == 4 else image[..., None]
    masks = []
    for k in range(volume.shape[-1]):
        head = find_head(volume[..., k])
        masks.append(torch.ones(volume.shape[1:3], dtype=torch.bool) if head is None else torch.from_numpy(head))
    mask = torch.stack(masks, dim=-1)[None]
    return mask if image.ndim == 4 else mask[..., 0]


@dataclass
class UncertaintyFeatures:
    """What :meth:`UncertaintyEstimator.estimate` found for one image.

    Attributes:
        mri: the synthetic MRI (plain pass) on [-1, 1], the input's shape and metadata.
        features: feature name (:data:`FEATURES`) → per-voxel value on the [0, 1] scale, the input's shape.
        head: where the translator sees the head (bool, the input's shape; the map is 0 outside it), or ``None``
            when the translator does not crop to the head (the whole image counts).
    """

    mri: torch.Tensor
    features: dict[str, torch.Tensor]
    head: torch.Tensor | None


class UncertaintyEstimator:
    """Per-voxel trust map of ``G_A``'s synthetic MRI from test-time-augmentation spread and cycle error.

    Args:
        translator: the :class:`SliceTranslator` of ``G_A`` (CT → MRI).
        reverse: the :class:`SliceTranslator` of ``G_B`` (MRI → CT); ``None`` leaves out the cycle error.
        flip: add a left-right flipped pass.
        shift: add a pass shifted by ``shift`` pixels along both in-plane axes of the network's grid (circular,
            undone exactly); 0 for none.
        cycle_smoothing: side (odd) of the box filter applied to the cycle error; 1 for none.
        calibration: a dict from :func:`fit_uncertainty_calibration`/:func:`calibrate_from_cases` made with the
            same settings; ``None`` for :func:`uncalibrated_calibration` of the available features.

    Raises:
        ConfigError: nothing to estimate (no augmentation and no ``reverse``), a negative shift, an even or
            non-positive ``cycle_smoothing``, or a calibration that does not fit these features or settings.
    """

    def __init__(
        self,
        translator: SliceTranslator,
        reverse: SliceTranslator | None = None,
        *,
        flip: bool = True,
        shift: int = 0,
        cycle_smoothing: int = 5,
        calibration: Mapping[str, Any] | None = None,
    ) -> None:
        if shift < 0:
            raise ConfigError("uncertainty shift", f"must be >= 0 pixels, got {shift}")
        if cycle_smoothing < 1 or cycle_smoothing % 2 == 0:
            raise ConfigError("uncertainty cycle_smoothing", f"must be an odd number >= 1, got {cycle_smoothing}")
        augmentations = ([_Augmented(translator.network, flip=True)] if flip else []) + (
            [_Augmented(translator.network, shift=shift)] if shift else []
        )
        if not augmentations and reverse is None:
            raise ConfigError("uncertainty", "nothing to estimate: enable flip or shift, or give G_B (reverse)")
        self.translator = translator
        self.reverse = reverse
        self.settings = {"flip": bool(flip), "shift": int(shift), "cycle_smoothing": int(cycle_smoothing)}
        self._augmented = [_like(translator, a) for a in augmentations]
        present = {"spread": bool(augmentations), "cycle": reverse is not None}
        self.features = tuple(n for n in FEATURES if present[n])
        self.calibration = _check_calibration(calibration or uncalibrated_calibration(self.features, self.settings))
        missing = [f for f in self.calibration["features"] if f not in self.features]
        if missing:
            raise ConfigError(_SETTING, f"needs feature(s) {', '.join(missing)}, not computed with these settings")
        made_with = self.calibration.get("estimator")
        if made_with is not None and dict(made_with) != self.settings:
            raise ConfigError(_SETTING, f"was fitted with estimator settings {dict(made_with)}, not {self.settings}")

    @property
    def description(self) -> str:
        """What the map holds, in one line (see :func:`describe_calibration`)."""
        return describe_calibration(self.calibration)

    @torch.inference_mode()
    def estimate(self, image: torch.Tensor) -> UncertaintyFeatures:
        """The synthetic MRI and the raw features of a windowed CT ``(1, X, Y[, Z])`` on [-1, 1].

        Raises:
            DimensionError/NonFiniteError: from the translator's checks of ``image``.
        """
        mri = self.translator(image)
        features: dict[str, torch.Tensor] = {}
        if self._augmented:
            passes = torch.stack([_unit(mri), *(_unit(t(image)) for t in self._augmented)])
            features["spread"] = passes.std(0, correction=0)
        if self.reverse is not None:
            error = (_unit(self.reverse(mri)) - _unit(image)).abs()  # with its affine: a 3D reverse resamples
            features["cycle"] = _box_filter(error, self.settings["cycle_smoothing"])
        head = _head_mask(_plain(image)) if self.translator.head_crop else None
        return UncertaintyFeatures(mri, features, head)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mri, map)``: the synthetic MRI on [-1, 1] and the calibrated map on [0, 1] (0 outside the head);
        a MetaTensor input gives MetaTensors with its metadata."""
        found = self.estimate(image)
        unc = apply_uncertainty_calibration(self.calibration, found.features)
        if found.head is not None:
            unc = unc.where(found.head, 0.0)
        if isinstance(image, MetaTensor):
            unc = MetaTensor(unc, meta=dict(image.meta), applied_operations=list(image.applied_operations))
        return found.mri, unc


@dataclass(frozen=True)
class UncertaintySettings:
    """How :func:`~medtranslate.inference.translate_path` builds its :class:`UncertaintyEstimator` around the
    ``G_A`` translator it uses (``G_B`` gets the same grid, batching, device and precision).

    Args:
        reverse: the ``G_B`` generator (MRI → CT) in eval mode, for the cycle error; ``None`` leaves it out.
        calibration: see :class:`UncertaintyEstimator`; ``None`` for the uncalibrated default.
        flip: see :class:`UncertaintyEstimator`.
        shift: see :class:`UncertaintyEstimator`.
        cycle_smoothing: see :class:`UncertaintyEstimator`.

    Raises:
        ConfigError: the settings or the calibration are invalid (checked here, before any input is read).
    """

    reverse: torch.nn.Module | None = None
    calibration: Mapping[str, Any] | None = None
    flip: bool = True
    shift: int = 0
    cycle_smoothing: int = 5
    _calibration: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        probe = SliceTranslator(torch.nn.Identity(), image_size=8, device="cpu", amp=False)  # checks only, no run
        estimator = UncertaintyEstimator(
            probe,
            probe if self.reverse is not None else None,
            flip=self.flip,
            shift=self.shift,
            cycle_smoothing=self.cycle_smoothing,
            calibration=self.calibration,
        )
        object.__setattr__(self, "_calibration", estimator.calibration)

    @property
    def calibrated(self) -> bool:
        """Whether the map is a fitted error estimate (else the uncalibrated default score)."""
        return bool(self._calibration["calibrated"])

    @property
    def description(self) -> str:
        """What the map holds, in one line (:func:`describe_calibration`)."""
        return describe_calibration(self._calibration)

    def estimator(self, translator: SliceTranslator) -> UncertaintyEstimator:
        """The estimator for ``translator`` (the ``G_A`` one); ``reverse`` is moved to its device."""
        reverse = None
        if self.reverse is not None:
            reverse = _like(translator, self.reverse.to(translator.device))
        return UncertaintyEstimator(
            translator,
            reverse,
            flip=self.flip,
            shift=self.shift,
            cycle_smoothing=self.cycle_smoothing,
            calibration=self.calibration,
        )


def uncalibrated_calibration(
    features: Sequence[str] = FEATURES, estimator: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The default when no paired calibration exists: the plain sum of the features (intercept 0, weights 1).

    It is a ranking score on [0, 1], not an error estimate; outputs made with it say ``uncalibrated``.

    Args:
        features: the features to add up (names from :data:`FEATURES`).
        estimator: the estimator settings it belongs to (``None``: any).
    """
    return {
        "kind": CALIBRATION_KIND,
        "version": 1,
        "calibrated": False,
        "features": list(features),
        "intercept": 0.0,
        "coefficients": {name: 1.0 for name in features},
        "estimator": None if estimator is None else dict(estimator),
        "protocol": "uncalibrated: the plain sum of the raw features on [0, 1]; not fitted to any paired error",
    }


def _check_calibration(calibration: Mapping[str, Any]) -> dict[str, Any]:
    """``calibration`` as a dict, or a :class:`ConfigError` saying what is wrong with it."""
    if not isinstance(calibration, Mapping) or calibration.get("kind") != CALIBRATION_KIND:
        raise ConfigError(_SETTING, f"not a calibration dict (expected kind {CALIBRATION_KIND!r})")
    features = calibration.get("features")
    coefficients = calibration.get("coefficients")
    if not isinstance(features, list) or not features or any(f not in FEATURES for f in features):
        raise ConfigError(_SETTING, f"features must be a non-empty list of {', '.join(FEATURES)}, got {features!r}")
    if not isinstance(coefficients, Mapping) or set(coefficients) != set(features):
        raise ConfigError(_SETTING, f"coefficients must name exactly the features {features}, got {coefficients!r}")
    values = [calibration.get("intercept"), *coefficients.values()]
    if not all(isinstance(v, (int, float)) and np.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(_SETTING, f"intercept and coefficients must be finite and >= 0, got {values}")
    return dict(calibration)


def load_uncertainty_calibration(path: str | os.PathLike) -> dict[str, Any]:
    """Read a calibration written as JSON (``json.dump`` of :func:`calibrate_from_cases`'s dict) and check it.

    Raises:
        InputError: the file is missing or not JSON.
        ConfigError: the JSON is not a valid calibration.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(path, f"cannot read the uncertainty calibration ({type(e).__name__}: {e})") from e
    try:
        return _check_calibration(data)
    except ConfigError as e:
        raise ConfigError(path, e.reason) from e


def describe_calibration(calibration: Mapping[str, Any]) -> str:
    """One line saying what a map made with ``calibration`` holds (for NIfTI/DICOM descriptions and logs)."""
    if not calibration.get("calibrated"):
        return f"UNCALIBRATED score on [0, 1]: {' + '.join(calibration['features'])} (not an error estimate)"
    held_out = (calibration.get("quality") or {}).get("held_out") or {}
    rho = held_out.get("spearman")
    quality = f", held-out Spearman {rho:.2f}" if isinstance(rho, float) else ""
    return f"expected |synthetic - real MRI| on [0, 1] from {' + '.join(calibration['features'])}{quality}"


def apply_uncertainty_calibration(calibration: Mapping[str, Any], features: Mapping[str, Any]) -> torch.Tensor:
    """The calibrated map, expected absolute error on [0, 1]: ``intercept + Σ coefficient · feature``, clipped.

    Args:
        calibration: from :func:`fit_uncertainty_calibration` or :func:`uncalibrated_calibration`.
        features: name → tensor/array (all of one shape), at least the calibration's features.

    Raises:
        ConfigError: an invalid calibration or a feature it needs is missing.
    """
    calibration = _check_calibration(calibration)
    missing = [f for f in calibration["features"] if f not in features]
    if missing:
        raise ConfigError(_SETTING, f"needs feature(s) {', '.join(missing)} (the cycle error needs G_B)")
    weights = calibration["coefficients"]
    parts = [float(weights[f]) * torch.as_tensor(features[f]).float() for f in calibration["features"]]
    return (float(calibration["intercept"]) + torch.stack(parts).sum(0)).clamp(0.0, 1.0)


def _nan_to_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def calibration_quality(predicted: Any, actual: Any, deciles: int = 10) -> dict[str, Any]:
    """How well a predicted error ranks and matches the actual one, per pixel (1-D arrays inside the head).

    Returns:
        ``{"pixels", "pearson", "spearman", "mae", "deciles": [{"mean_predicted", "mean_actual", "pixels"}, ...]}``;
        deciles are equal-count groups of pixels by predicted error, lowest first; a correlation is ``None`` when
        either side is constant.
    """
    predicted, actual = np.asarray(predicted, np.float64).ravel(), np.asarray(actual, np.float64).ravel()
    constant = predicted.min() == predicted.max() or actual.min() == actual.max()
    order = np.argsort(predicted, kind="stable")
    groups = [g for g in np.array_split(order, min(deciles, predicted.size)) if g.size]
    return {
        "pixels": int(predicted.size),
        "pearson": None if constant else _nan_to_none(stats.pearsonr(predicted, actual)[0]),
        "spearman": None if constant else _nan_to_none(stats.spearmanr(predicted, actual)[0]),
        "mae": float(np.abs(predicted - actual).mean()),
        "deciles": [
            {"mean_predicted": float(predicted[g].mean()), "mean_actual": float(actual[g].mean()), "pixels": g.size}
            for g in groups
        ],
    }


def _masked(raw_features: Mapping[str, Any], abs_error: Any, mask: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The features and the error inside ``mask`` as 1-D float64 arrays (shapes checked)."""
    error = np.asarray(torch.as_tensor(abs_error).float(), np.float64)
    inside = np.asarray(torch.as_tensor(mask), bool)
    if inside.shape != error.shape:
        raise DimensionError(None, f"mask {inside.shape} and error {error.shape} differ in shape")
    features = {}
    for name, value in raw_features.items():
        if name not in FEATURES:
            raise ConfigError(_SETTING, f"unknown feature {name!r}; known: {', '.join(FEATURES)}")
        array = np.asarray(torch.as_tensor(value).float(), np.float64)
        if array.shape != error.shape:
            raise DimensionError(None, f"feature {name} {array.shape} and error {error.shape} differ in shape")
        features[name] = array[inside]
    if not features:
        raise ConfigError(_SETTING, "no feature to fit")
    if not inside.any():
        raise InputError(None, "no pixel inside the mask to fit the uncertainty calibration on")
    return features, error[inside]


def fit_uncertainty_calibration(
    raw_features: Mapping[str, Any],
    abs_error: Any,
    mask: Any,
    estimator: Mapping[str, Any] | None = None,
    protocol: str = "",
) -> dict[str, Any]:
    """Fit ``|synthetic - real| ≈ intercept + Σ coefficient · feature`` (all ≥ 0, NNLS) inside ``mask``.

    Args:
        raw_features: name (:data:`FEATURES`) → per-voxel feature on [0, 1] (any shape, that of ``abs_error``).
        abs_error: the actual ``|synthetic - real|`` on [0, 1].
        mask: bool, where to fit (inside the head, where the real MRI is registered).
        estimator: the estimator settings the features were made with (:attr:`UncertaintyEstimator.settings`).
        protocol: what the data are, appended to the fit's protocol sentence.

    Returns:
        a calibration dict (JSON-serialisable) with ``quality["in_sample"]`` from :func:`calibration_quality`.

    Raises:
        DimensionError: shapes differ. InputError: the mask is empty. ConfigError: an unknown feature.
    """
    features, error = _masked(raw_features, abs_error, mask)
    names = [n for n in FEATURES if n in features]
    design = np.column_stack([np.ones_like(error), *(features[n] for n in names)])
    solution, _ = optimize.nnls(design, error)
    calibration = {
        "kind": CALIBRATION_KIND,
        "version": 1,
        "calibrated": True,
        "features": names,
        "intercept": float(solution[0]),
        "coefficients": {n: float(c) for n, c in zip(names, solution[1:], strict=True)},
        "estimator": None if estimator is None else dict(estimator),
        "protocol": (
            "non-negative least squares of |synthetic - real MRI| on [0, 1] on the features (on [0, 1]) and an "
            "intercept, per pixel inside the mask" + (f"; {protocol}" if protocol else "")
        ),
    }
    predicted = design @ solution
    calibration["quality"] = {"in_sample": calibration_quality(np.clip(predicted, 0, 1), error)}
    return calibration


class _Paired(Protocol):
    """A :class:`~medtranslate.metrics.evaluate.PairedCase` as far as the calibration needs it."""

    ct: torch.Tensor
    mri: torch.Tensor
    mask: torch.Tensor


def calibrate_from_cases(
    estimator: UncertaintyEstimator, cases: Sequence[_Paired | tuple], leave_one_group_out: bool = True
) -> dict[str, Any]:
    """Run ``estimator`` on each paired CT, fit the calibration on all cases and report its held-out quality.

    Use the estimator's translators the way the cases need them: cases from
    :func:`~medtranslate.metrics.evaluate.load_paired_cases` are already cropped to the head at the model's size,
    so build them with ``head_crop=False`` as the evaluation does.

    Args:
        estimator: the estimator (its calibration is not used).
        cases: :class:`~medtranslate.metrics.evaluate.PairedCase` objects (``.ct``, ``.mri`` on [-1, 1] (1, S, S),
            ``.mask`` (1, S, S) bool, ``.group`` the patient) or ``(ct, mri, mask[, group])`` tuples.
        leave_one_group_out: also fit once per group without it and score the fit on that group
            (``quality["held_out"]`` pools those predictions; ``quality["per_group"]`` per group); needs two
            groups or more.

    Returns:
        the calibration dict fitted on all cases (see :func:`fit_uncertainty_calibration`).

    Raises:
        InputError: no case, or a case whose CT, MRI and mask differ in shape.
    """
    if not cases:
        raise InputError(None, "no paired case to calibrate the uncertainty on")
    features: dict[str, list[np.ndarray]] = {}
    errors, masks, groups = [], [], []
    for k, case in enumerate(cases):
        if isinstance(case, tuple):
            ct, mri, mask, group = (*case, f"case{k}")[:4]
        else:
            ct, mri, mask, group = case.ct, case.mri, case.mask, getattr(case, "group", f"case{k}")
        if not (tuple(ct.shape) == tuple(mri.shape) == tuple(mask.shape)):
            raise InputError(None, f"case {k}: ct {tuple(ct.shape)}, mri {tuple(mri.shape)}, mask differ in shape")
        found = estimator.estimate(_plain(ct))
        for name, value in found.features.items():
            features.setdefault(name, []).append(value.numpy().ravel())
        errors.append((_unit(found.mri) - _unit(mri)).abs().numpy().ravel())
        masks.append(np.asarray(torch.as_tensor(mask), bool).ravel())
        groups.append(np.full(errors[-1].size, str(group)))
    stacked = {n: np.concatenate(v) for n, v in features.items()}
    error, mask, group = np.concatenate(errors), np.concatenate(masks), np.concatenate(groups)
    names = sorted(set(group.tolist()))
    protocol = f"{len(cases)} paired slice(s) of {len(names)} group(s), estimator {estimator.settings}"
    calibration = fit_uncertainty_calibration(stacked, error, mask, estimator.settings, protocol)
    calibration["protocol_cases"] = {"cases": len(cases), "groups": names, "pixels": int(mask.sum())}
    if leave_one_group_out and len(names) > 1:
        calibration["quality"].update(_leave_one_group_out(stacked, error, mask, group, names))
    return calibration


def _leave_one_group_out(
    features: dict[str, np.ndarray], error: np.ndarray, mask: np.ndarray, group: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Fit without each group, predict it; the pooled held-out and the per-group quality."""
    predicted, actual, per_group = [], [], {}
    for name in names:
        held = group == name
        fit = fit_uncertainty_calibration(features, error, mask & ~held)
        inside = mask & held
        if not inside.any():
            continue
        guess = apply_uncertainty_calibration(fit, {n: torch.from_numpy(v[inside]) for n, v in features.items()})
        predicted.append(guess.numpy())
        actual.append(error[inside])
        per_group[name] = calibration_quality(predicted[-1], actual[-1])
        per_group[name].pop("deciles")
    return {
        "held_out": calibration_quality(np.concatenate(predicted), np.concatenate(actual)),
        "per_group": per_group,
        "held_out_protocol": "leave one group (patient) out: fit on the others, predict the group; pooled",
    }
