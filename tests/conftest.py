"""Shared fixtures: the real-data folder (skipped when absent), input hashing, tiny seeded RNG."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

SHARED_ENV = "MEDTRANSLATE_SHARED_DATA"

# Tests use tiny networks and images; one thread keeps several pytest workers or helpers from fighting.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` as named by ``$MEDTRANSLATE_SHARED_DATA``; skips the test when it is not there."""
    root = os.environ.get(SHARED_ENV)
    if not root:
        pytest.skip(f"{SHARED_ENV} is not set: real-data test skipped (CI sets it to ../shared/data)")
    path = Path(root)
    if not path.is_dir():
        pytest.skip(f"{SHARED_ENV}={root} is not a folder: real-data test skipped")
    return path


def _tree_digest(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def assert_unchanged() -> Callable:
    """``with assert_unchanged(path): ...`` fails if any file under ``path`` changes bytes."""
    import contextlib

    @contextlib.contextmanager
    def _check(*paths: str | os.PathLike):
        before = {str(p): _tree_digest(Path(p)) for p in paths}
        yield
        after = {str(p): _tree_digest(Path(p)) for p in paths}
        assert before == after, "an input file was modified"

    return _check
