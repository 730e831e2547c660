"""Fixtures of the ``ct2mri`` bundle tests: where the repository and the bundle configs are."""

from __future__ import annotations

from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_root() -> Path:
    """The repository root: the bundle configs find ``bundles/ct2mri`` from there."""
    return _REPO_ROOT


@pytest.fixture
def configs() -> Path:
    """``bundles/ct2mri/configs``."""
    return _REPO_ROOT / "bundles" / "ct2mri" / "configs"
