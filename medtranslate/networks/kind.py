"""Which kind of model a generator is — 2D (slice by slice), 2.5D (a slab of adjacent slices in, its centre
slice out) or 3D (patches of the volume) — read from the network or from its weights.

The kind is recorded in the weights themselves: the first convolution's kernel has ``spatial_dims`` spatial
axes and ``in_channels`` input channels (the slab for 2.5D). So a checkpoint, the bundle's ``model.pt`` and a
TorchScript export all say what they are, and inference refuses a model of the wrong kind in one line
(:func:`check_kind`) instead of failing deep inside a convolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from medtranslate.errors import CheckpointError

__all__ = ["KINDS", "ModelKind", "check_kind", "kind_of_network", "kind_of_state"]

#: the kinds by name, as configs and reports spell them.
KINDS: tuple[str, ...] = ("2d", "2.5d", "3d")


@dataclass(frozen=True)
class ModelKind:
    """A generator's kind: ``spatial_dims`` (2 or 3) and ``slab`` (adjacent axial slices seen as channels)."""

    spatial_dims: int = 2
    slab: int = 1

    @property
    def name(self) -> str:
        """``"2d"``, ``"2.5d"`` or ``"3d"``."""
        if self.spatial_dims == 3:
            return "3d"
        return "2.5d" if self.slab > 1 else "2d"

    def describe(self) -> str:
        """The kind in words, e.g. ``"a 2.5D model (5 slices in)"``."""
        if self.name == "2.5d":
            return f"a 2.5D model ({self.slab} slices in)"
        return f"a {self.name.upper()} model"

    @classmethod
    def from_name(cls, name: str, slab: int = 1) -> ModelKind:
        """The kind called ``name`` (see :data:`KINDS`); ``slab`` counts for ``"2.5d"`` only."""
        if name not in KINDS:
            raise ValueError(f"unknown model kind {name!r}; choose from {', '.join(KINDS)}")
        return cls(3, 1) if name == "3d" else cls(2, slab if name == "2.5d" else 1)


def _first_conv(weights: list[torch.Tensor]) -> torch.Tensor | None:
    return next((w for w in weights if w.ndim in (4, 5) and w.is_floating_point()), None)


def kind_of_state(state: Mapping[str, torch.Tensor]) -> ModelKind | None:
    """The kind a generator ``state_dict`` was made for (its first convolution kernel); ``None`` if it has none."""
    weight = _first_conv(list(state.values()))
    return None if weight is None else ModelKind(weight.ndim - 2, int(weight.shape[1]))


def kind_of_network(network: nn.Module | object) -> ModelKind:
    """The kind of an instantiated generator (a module, or a TorchScript module with parameters); anything
    without a convolution (an identity, a plain function) counts as 2D."""
    parameters = network.parameters() if isinstance(network, nn.Module) else ()
    weight = _first_conv(list(parameters))
    return ModelKind() if weight is None else ModelKind(weight.ndim - 2, int(weight.shape[1]))


def check_kind(path: object, state: Mapping[str, torch.Tensor], expected: ModelKind) -> None:
    """Refuse weights of another kind than ``expected`` with one line naming both and the config to use.

    Raises:
        CheckpointError: the weights are of another kind.
    """
    found = kind_of_state(state)
    if found is None or found == expected:
        return
    if found.name == "2d":
        hint = "use the bundle's configs/inference.json"
    else:
        config = {"2.5d": "inference_2p5d.json", "3d": "inference_3d.json"}[found.name]
        hint = f"bundle: add configs/{config} to --config_file; medtranslate: --config <bundle>/configs/{config}"
        hint += f" with --slab {found.slab}" if found.name == "2.5d" else ""
    raise CheckpointError(path, f"is {found.describe()}, but this network is {expected.describe()} ({hint})")
