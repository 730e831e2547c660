"""CT window presets (level/width in HU) and their lookup."""

from __future__ import annotations

from collections.abc import Sequence

from medtranslate.errors import InputError

__all__ = ["CT_WINDOW_PRESETS", "DEFAULT_CT_WINDOW", "resolve_window"]

#: Named CT windows as ``(level, width)`` in Hounsfield units. ``"head"`` is the default for training: a wide
#: soft-tissue head window (level 40, width 400, i.e. -160..240 HU) that keeps grey/white matter, CSF,
#: scalp fat and the inner/outer table edge of the skull distinguishable, which the narrow ``"brain"`` window
#: (0..80 HU) saturates.
CT_WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "head": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "bone": (600.0, 2800.0),
}

DEFAULT_CT_WINDOW = "head"


def resolve_window(window: str | Sequence[float]) -> tuple[float, float]:
    """
    Return ``(level, width)`` in HU for a preset name or a custom ``(level, width)`` pair.

    Args:
        window: a key of :data:`CT_WINDOW_PRESETS` (case-insensitive) or a ``(level, width)`` pair in HU.

    Raises:
        InputError: unknown preset name, a pair of the wrong length, a non-finite value or ``width <= 0``.
    """
    if isinstance(window, str):
        name = window.strip().lower()
        if name not in CT_WINDOW_PRESETS:
            raise InputError(None, f"unknown CT window {window!r}; choose one of {sorted(CT_WINDOW_PRESETS)}")
        return CT_WINDOW_PRESETS[name]
    values = tuple(float(v) for v in window)
    if len(values) != 2:
        raise InputError(None, f"a custom CT window is (level, width) in HU, got {window!r}")
    level, width = values
    if not (abs(level) < float("inf") and 0.0 < width < float("inf")):
        raise InputError(None, f"a CT window needs a finite level and a positive finite width, got {window!r}")
    return level, width
