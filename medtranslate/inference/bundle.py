"""Read the bundle's inference settings (``configs/inference.json``) the way ``python -m monai.bundle run`` does.

The ``medtranslate translate`` command takes the network architecture, the training image size, the CT window
and the default model file from the bundle's own ``configs/inference.json`` (or a config the user names), parsed
with :class:`monai.bundle.ConfigParser`; only the items it needs are evaluated (never ``run``), and command-line
values override the config's before parsing, exactly like ``--key value`` overrides of ``monai.bundle run``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser

import medtranslate
from medtranslate.errors import ConfigError, find_user_error

__all__ = ["InferenceSettings", "default_bundle_root", "read_inference_settings"]


#: the config ids an inference config must define (an override file defines only some).
_REQUIRED = ("network_def", "ckpt_path", "image_size", "window", "device")


def default_bundle_root() -> Path:
    """The bundle used when none is named: the working folder when it is a bundle, else the one shipped with the
    package (see :func:`medtranslate.bundle_root`)."""
    return medtranslate.bundle_root()


@dataclass
class InferenceSettings:
    """What the bundle's inference config says: an un-loaded ``network`` and the values around it; the optional
    ``reverse_ckpt_path`` (G_B, MRI → CT) and ``uncertainty_calibration`` serve the trust map; ``spacing`` is a
    3D model's voxel size in mm (``None`` for 2D and 2.5D models)."""

    network: torch.nn.Module
    ckpt_path: Path
    image_size: int
    window: Any
    device: torch.device
    config_file: list[Path]
    reverse_ckpt_path: Path | None = None
    uncertainty_calibration: Path | None = None
    spacing: float | None = None


def read_inference_settings(
    bundle_root: str | os.PathLike | None = None,
    config_file: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    overrides: dict[str, Any] | None = None,
) -> InferenceSettings:
    """Parse the inference config and build its ``network_def``.

    Args:
        bundle_root: the bundle folder; default :func:`default_bundle_root`. Set as the config's ``bundle_root``.
        config_file: the config to read, or several merged in order as ``monai.bundle run --config_file`` does;
            default ``<bundle_root>/configs/inference.json``. When the first lacks one of :data:`_REQUIRED` it is
            an override (e.g. ``configs/inference_3d.json``) and is merged over the bundle's ``inference.json``.
        overrides: config ids → values set before parsing (``None`` values are ignored), e.g.
            ``{"ckpt_path": "run/checkpoint_100.pt", "image_size": 128}``.

    Raises:
        ConfigError: the config is missing or one of its items cannot be built.
    """
    root = Path(bundle_root) if bundle_root is not None else default_bundle_root()
    base = root / "configs" / "inference.json"
    if config_file is None:
        configs = [base]
    elif isinstance(config_file, (str, os.PathLike)):
        configs = [Path(config_file)]
    else:
        configs = [Path(c) for c in config_file]
    for path in configs:
        if not path.is_file():
            raise ConfigError(path, "no inference config here; pass --bundle-root or --config")
    parser = ConfigParser()
    try:
        if not set(_REQUIRED) <= set(ConfigParser.load_config_files([str(configs[0])])):
            configs = [base, *configs]  # an override such as inference_3d.json
        parser.read_config([str(c) for c in configs])
    except ValueError as e:
        raise ConfigError(configs[-1], f"not a readable config ({str(e).splitlines()[0]})") from e
    config = configs[-1]
    parser["bundle_root"] = str(root)
    for key, value in (overrides or {}).items():
        if value is not None:
            parser[key] = value
    values: dict[str, Any] = {}
    for key in _REQUIRED:
        if key not in parser:
            raise ConfigError(config, f"the config has no {key!r}")
        try:
            values[key] = parser.get_parsed_content(key, instantiate=True)
        except Exception as e:
            user_error = find_user_error(e)
            if user_error is not None:
                raise user_error from e
            cause = e.__cause__ or e
            raise ConfigError(config, f"cannot build {key!r}: {type(cause).__name__}: {cause}") from e
    optional = {
        key: Path(parser.get_parsed_content(key)) if parser.get(key) else None
        for key in ("reverse_ckpt_path", "uncertainty_calibration")
    }
    spacing = parser.get_parsed_content("spacing") if parser.get("spacing") else None
    if not isinstance(values["network_def"], torch.nn.Module):
        raise ConfigError(config, f"network_def must build a torch module, got {type(values['network_def']).__name__}")
    return InferenceSettings(
        network=values["network_def"],
        ckpt_path=Path(values["ckpt_path"]),
        image_size=int(values["image_size"]),
        window=values["window"],
        device=torch.device(values["device"]),
        config_file=configs,
        spacing=None if spacing is None else float(spacing),
        **optional,
    )
