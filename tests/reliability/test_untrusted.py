"""Untrusted files: a checkpoint whose unpickling would run code is refused and runs nothing.

The payloads are real: loaded with ``weights_only=False`` they do create the marker (checked first), so its
absence after the package's loaders proves that no code ran.
"""

from __future__ import annotations

import ast
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from monai.utils import set_determinism

from medtranslate.engines import CycleGANTrainer
from medtranslate.errors import CheckpointError
from medtranslate.handlers import default_checkpoint_objects, resume_from


class _Payload:
    """Unpickling calls ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch '{self.marker}'",)


class _PathPayload:
    """Unpickling calls ``pathlib.Path.touch`` on the marker (no shell needed)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return Path.touch, (self.marker,)


def _trainer() -> CycleGANTrainer:
    set_determinism(0)
    conv = lambda: torch.nn.Conv2d(1, 1, 3, padding=1)  # noqa: E731
    g_a, g_b, d_a, d_b = conv(), conv(), conv(), conv()
    batches = [{"ct": torch.zeros(1, 1, 8, 8), "mri": torch.zeros(1, 1, 8, 8)}]
    g_opt = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()])
    d_opt = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()])
    return CycleGANTrainer("cpu", 1, batches, g_a, g_b, d_a, d_b, g_opt, d_opt, pool_size=0)


@pytest.fixture
def trainer() -> CycleGANTrainer:
    yield _trainer()
    set_determinism(None)


def _evil_files(folder: Path, marker: Path) -> list[Path]:
    """A checkpoint in torch's zip format and one in its legacy (pre-1.6) format, each holding a payload."""
    folder.mkdir()
    zipped = folder / "checkpoint_7.pt"
    torch.save({"g_a": {"weight": torch.zeros(1)}, "trainer": _Payload(marker)}, zipped)
    legacy = folder / "checkpoint_8.pt"
    torch.save({"g_a": _PathPayload(marker)}, legacy, _use_new_zipfile_serialization=False)
    return [zipped, legacy]


def test_payloads_are_live(tmp_path: Path) -> None:
    assert shutil.which("touch"), "the os.system payload needs `touch`"
    marker = tmp_path / "ran"
    for path in _evil_files(tmp_path / "evil", marker):
        torch.load(path, weights_only=False)
        assert marker.exists(), f"{path.name}: the payload should run when unpickled without weights_only"
        marker.unlink()


def test_resume_from_refuses_a_malicious_checkpoint(trainer: CycleGANTrainer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    objects = default_checkpoint_objects(trainer)
    for path in _evil_files(tmp_path / "evil", marker):
        with pytest.raises(CheckpointError, match=rf"{path.name}: unreadable or unsafe checkpoint"):
            resume_from(trainer, path, objects)
        assert not marker.exists()


def test_resume_skips_malicious_newest_and_loads_the_good_one(trainer: CycleGANTrainer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    objects = default_checkpoint_objects(trainer)
    folder = tmp_path / "evil"
    _evil_files(folder, marker)
    trainer.state.iteration = 1
    good = {name: obj.state_dict() for name, obj in objects.items()}
    torch.save(good, folder / "checkpoint_1.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = resume_from(trainer, folder, objects)
    assert loaded == folder / "checkpoint_1.pt" and not marker.exists()
    skipped = sorted(str(w.message).split(":")[0] for w in caught if "unsafe" in str(w.message))
    assert skipped == [str(folder / "checkpoint_7.pt"), str(folder / "checkpoint_8.pt")]


def test_no_unrestricted_torch_load_in_the_package() -> None:
    """Every ``torch.load`` call in the package passes ``weights_only=True`` (the only safe way to read a file)."""
    package = Path(__file__).resolve().parents[2] / "medtranslate"
    calls = []
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                safe = any(
                    k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{source.relative_to(package)}:{node.lineno}", safe))
    assert calls, "expected the checkpoint loader at least"
    assert [where for where, safe in calls if not safe] == []
