"""Bundle model files: export ``G_A`` from a training checkpoint, load a generator safely for inference.

MONAI's model-zoo convention is followed: ``bundles/ct2mri/models/model.pt`` is a plain ``state_dict`` of the
bundle's ``network_def`` (the CT → MRI generator ``G_A``), saved with ``torch.save`` and loadable with
``torch.load(weights_only=True)``. :func:`load_generator` also accepts a training checkpoint of
:mod:`medtranslate.handlers.checkpoint` (a dict of state dicts ``g_a``, ``g_b``, ``d_a``, ...) and takes its
``g_a`` entry, so a run can be tried before its weights are exported. Every file is read with
``weights_only=True``: a file that needs arbitrary pickled objects is refused, never executed.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from medtranslate.errors import CheckpointError
from medtranslate.io.atomic import atomic_write_bytes
from medtranslate.networks.kind import check_kind, kind_of_network

__all__ = ["describe_generator_weights", "export_generator", "load_generator", "read_generator_state"]

PathLike = str | os.PathLike

_RES_BLOCK = re.compile(r"^res_blocks\.(\d+)\.")
_UNET_LEVEL = re.compile(r"^down\.(\d+)\.")


def _load_weights(path: Path, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into a one-line :class:`CheckpointError`."""
    if not path.exists():
        raise CheckpointError(path, "no such model file")
    if path.is_dir():
        raise CheckpointError(path, "is a folder; give a model.pt or checkpoint_<iteration>.pt file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights only" in first.lower() or "weights_only" in first.lower():
            raise CheckpointError(
                path, "unsafe file: it needs arbitrary pickled Python objects to load; refused (weights_only=True)"
            ) from e
        raise CheckpointError(path, f"not a readable PyTorch model file ({first})") from e
    except Exception as e:  # zip, EOF, unpickling and format errors all mean "not a usable model file"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(path, f"not a readable PyTorch model file ({type(e).__name__}: {first[:200]})") from e


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_generator_state(path: PathLike, key: str = "g_a", map_location: Any = "cpu") -> dict[str, torch.Tensor]:
    """Read a generator ``state_dict`` from a plain ``model.pt`` or from a training checkpoint's ``key`` entry.

    Args:
        path: a state-dict file (``models/model.pt``) or a training checkpoint (``checkpoint_<iteration>.pt``).
        key: the checkpoint entry to use when ``path`` is a training checkpoint (``"g_a"``: CT → MRI).
        map_location: ``torch.load``'s ``map_location``.

    Raises:
        CheckpointError: missing file, unreadable or corrupt file, unsafe pickle, or no generator weights inside.
    """
    path = Path(path)
    obj = _load_weights(path, map_location)
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping) and key in obj:
        if not _is_state_dict(obj[key]):
            raise CheckpointError(path, f"entry {key!r} is not a state dict of tensors")
        return dict(obj[key])
    if isinstance(obj, Mapping):
        found = ", ".join(sorted(str(k) for k in obj)[:12]) or "nothing"
        raise CheckpointError(path, f"neither a generator state dict nor a training checkpoint with {key!r} ({found})")
    raise CheckpointError(path, f"expected a state dict or a training checkpoint, found {type(obj).__name__}")


def describe_generator_weights(state: Mapping[str, torch.Tensor]) -> str | None:
    """The generator architecture a state dict was made for, as far as its keys and shapes tell.

    Recognises :class:`~medtranslate.networks.ResNetGenerator` (``channels`` from the first convolution,
    ``num_res_blocks`` from the block indices) and :class:`~medtranslate.networks.UNetGenerator`
    (``channels`` and ``num_downs``). Returns ``None`` for anything else.

    Args:
        state: a generator ``state_dict``.
    """
    blocks = {int(m.group(1)) for k in state if (m := _RES_BLOCK.match(k))}
    if "encoder.1.weight" in state:
        channels = int(state["encoder.1.weight"].shape[0])
        return f"ResNetGenerator(channels={channels}, num_res_blocks={len(blocks)})"
    levels = {int(m.group(1)) for k in state if (m := _UNET_LEVEL.match(k))}
    if "down.0.0.weight" in state:
        return f"UNetGenerator(channels={int(state['down.0.0.weight'].shape[0])}, num_downs={len(levels)})"
    return None


def _check_architecture(path: Path, network: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise a :class:`CheckpointError` naming the differing keys/shapes and the architecture of the weights."""
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es) (e.g. {shapes[0]}, file vs network)")
    made_for, expected = describe_generator_weights(state), describe_generator_weights(own)
    hint = ""
    if made_for is not None:
        hint = f"; the weights look made for {made_for}"
        hint += f", the network is {expected}" if expected is not None else ""
        hint += " (medtranslate: --ngf/--n-blocks; bundle: --ngf/--n_blocks; or another --config)"
    raise CheckpointError(path, f"weights do not fit the network: {', '.join(parts)}{hint}")


def load_generator(
    path: PathLike,
    network: torch.nn.Module,
    device: torch.device | str | None = None,
    key: str = "g_a",
) -> torch.nn.Module:
    """Load generator weights into ``network`` for inference and return it on ``device`` in ``eval`` mode.

    ``path`` may be the bundle's ``models/model.pt`` (a plain state dict, fp32 or fp16) or a training
    checkpoint (its ``key`` entry is used). Keys and shapes are checked before anything is loaded, so a
    mismatch leaves ``network`` untouched and the error says which keys/shapes differ and, when it can be
    inferred, which ``channels``/``num_res_blocks`` the weights were made for.

    Args:
        path: model or checkpoint file.
        network: the instantiated generator (the bundle's ``network_def``).
        device: where the network runs; ``None`` keeps its current device.
        key: the training-checkpoint entry holding the generator (``"g_a"`` for CT → MRI).

    Raises:
        CheckpointError: missing file (with a hint to train or pass ``--ckpt_path`` when it is a bundle's
            ``models/model.pt``), unreadable/corrupt file, unsafe pickle, or an architecture mismatch.
    """
    path = Path(path)
    if not path.exists() and path.name == "model.pt" and path.parent.name == "models":
        raise CheckpointError(
            path,
            "the bundle has no trained weights yet: train it (python -m monai.bundle run training ...), export "
            "G_A with medtranslate.inference.export_generator, or pass --ckpt_path/--ckpt PATH",
        )
    state = read_generator_state(path, key=key)
    check_kind(path, state, kind_of_network(network))
    _check_architecture(path, network, state)
    network.load_state_dict(state)
    if device is not None:
        network = network.to(device)
    return network.eval()


def export_generator(
    checkpoint_path: PathLike,
    out_path: PathLike,
    key: str = "g_a",
    half: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write one generator of a training checkpoint as a plain ``state_dict`` file (the bundle's ``model.pt``).

    The file is written atomically (:mod:`medtranslate.io.atomic`) and holds only tensors, so it loads with
    ``torch.load(weights_only=True)``; :func:`load_generator` loads it into the bundle's ``network_def``.

    Args:
        checkpoint_path: a training checkpoint (``checkpoint_<iteration>.pt``) or a state-dict file.
        out_path: the file to write, e.g. ``bundles/ct2mri/models/model.pt``.
        key: the generator to export: ``"g_a"`` (CT → MRI, the bundle's network) or ``"g_b"`` (MRI → CT).
        half: store floating-point tensors as float16 (half the size; loaded back into fp32 parameters).
        overwrite: replace an existing ``out_path``.

    Raises:
        CheckpointError: see :func:`read_generator_state`.
        OutputExistsError: ``out_path`` exists and ``overwrite`` is False, or it is ``checkpoint_path``.
    """
    state = read_generator_state(checkpoint_path, key=key)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous().clone()
        for k, v in state.items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(out_path, buffer.getvalue(), overwrite=overwrite, protect=[checkpoint_path])
