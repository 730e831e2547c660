"""Atomic writes: overwrite refusal, input protection, cleanup on failure and on a full disk."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from medtranslate.errors import OutputExistsError
from medtranslate.io.atomic import atomic_dir, atomic_write, atomic_write_bytes, atomic_write_text, check_output_path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".old-")))


def test_write_keeps_final_name_as_suffix_and_renames(tmp_path):
    target = tmp_path / "sub" / "out.nii.gz"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith("-out.nii.gz") and tmp.name.startswith(".tmp-")
        assert not target.exists()
        tmp.write_bytes(b"abc")
    assert target.read_bytes() == b"abc"
    assert _leftovers(target.parent) == []


def test_refuses_existing_unless_overwrite(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "one")
    with pytest.raises(OutputExistsError, match="already exists"):
        atomic_write_text(target, "two")
    assert target.read_text() == "one"
    atomic_write_text(target, "two", overwrite=True)
    assert target.read_text() == "two"


def test_protect_refuses_input_even_with_overwrite(tmp_path, assert_unchanged):
    source = tmp_path / "in.dcm"
    source.write_bytes(b"input")
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "1.dcm").write_bytes(b"x")
    link = tmp_path / "link.dcm"
    link.symlink_to(source)
    with assert_unchanged(source, folder):
        for path in (source, link, folder / "new.dcm"):
            with pytest.raises(OutputExistsError, match="input"):
                atomic_write_bytes(path, b"out", overwrite=True, protect=[source, folder])
        with pytest.raises(OutputExistsError, match="holds the input"):
            check_output_path(tmp_path, overwrite=True, protect=[source])


@pytest.mark.parametrize("error", [RuntimeError("boom"), OSError(errno.ENOSPC, "No space left on device")])
def test_failure_leaves_nothing(tmp_path, error):
    target = tmp_path / "out.png"
    with pytest.raises(type(error)), atomic_write(target) as tmp:
        tmp.write_bytes(b"partial")
        raise error
    assert not target.exists() and _leftovers(tmp_path) == []


def test_failure_keeps_previous_file(tmp_path, monkeypatch):
    target = atomic_write_text(tmp_path / "keep.txt", "old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new", overwrite=True)
    monkeypatch.undo()
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_atomic_dir_appears_whole_and_replaces(tmp_path):
    target = tmp_path / "series"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        assert not target.exists()
    assert (target / "a").read_text() == "1"
    with pytest.raises(OutputExistsError), atomic_dir(target):
        pass
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert _leftovers(tmp_path) == []


def test_atomic_dir_failure_removes_temp(tmp_path):
    with pytest.raises(OSError), atomic_dir(tmp_path / "s") as tmp:
        (tmp / "a").write_text("1")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    """Temporary names are private (mkstemp's 0600); the renamed output has the mode ``open`` would give."""
    mask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "out.bin", b"x")
        with atomic_dir(tmp_path / "series") as folder:
            (folder / "a.dcm").write_bytes(b"y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "series").stat().st_mode) == 0o755
