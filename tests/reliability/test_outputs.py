"""Outputs under hostile conditions: read-only folder, full disk, odd paths. Nothing partial is ever left behind.

Every writer goes through :mod:`medtranslate.io.atomic`, so these cases are checked on each writer once: the
failure is one :class:`~medtranslate.errors.OutputError` naming the output, no file (or temporary file) is left,
an existing output being replaced is kept as it was, and the input is unchanged.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.errors import OutputError
from medtranslate.io import load_image, write_dicom_series, write_nifti, write_png, write_png_slices


def _volume() -> MetaTensor:
    data = torch.linspace(-1000, 1000, 8 * 6 * 4).reshape(1, 8, 6, 4)
    return MetaTensor(data, affine=torch.diag(torch.tensor([0.8, 0.8, 2.0, 1.0])))


WRITERS: dict[str, Callable[[Path], object]] = {
    "nifti": lambda d: write_nifti(_volume(), d / "out.nii.gz"),
    "png": lambda d: write_png(_volume()[..., 0], d / "out.png"),
    "png_slices": lambda d: write_png_slices(_volume(), d, "out"),
    "dicom_series": lambda d: write_dicom_series(_volume(), d / "series", modality="CT"),
}


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", list(WRITERS))
def test_disk_full_leaves_nothing(writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC when the data are flushed to disk (``os.fsync``, as a full disk reports it on write-back)."""
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(OutputError, match=r"cannot write \(No space left on device\): nothing was written") as err:
        WRITERS[writer](tmp_path)
    assert str(tmp_path) in str(err.value) and err.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_disk_full_inside_the_library_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC raised by nibabel half-way through its write: the previous output stays whole."""
    import nibabel as nib

    target = write_nifti(_volume(), tmp_path / "out.nii.gz")
    before = target.read_bytes()
    save = nib.save

    def half_then_full(img: object, filename: str) -> None:
        save(img, filename)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])
        _enospc()

    monkeypatch.setattr(nib, "save", half_then_full)
    with pytest.raises(OutputError, match=r"out\.nii\.gz: cannot write"):
        write_nifti(_volume() * 2, target, overwrite=True)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.nii.gz"]


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS], ids=["permission_denied", "read_only_fs"])
def test_read_only_output_folder(writer: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder refuses new files (simulated: the tests may run as root, for whom ``chmod`` does not block)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(OutputError, match=rf"cannot write \({os.strerror(code)}\)"):
        WRITERS[writer](tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_for_real(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"Permission denied"):
            write_nifti(_volume(), folder / "out.nii.gz")
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_cli_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable, assert_unchanged: Callable
) -> None:
    data = write_phantom_dataset(tmp_path / "phantom", n_unpaired=1, n_paired=0, shape=(16, 16, 4), seed=0)
    monkeypatch.setattr(os, "fsync", _enospc)
    with assert_unchanged(data):
        status, out, err = cli("manifest", data, "-o", tmp_path / "out" / "manifest.json")
    assert status == 1 and out == ""
    assert (
        err == f"error: {tmp_path / 'out' / 'manifest.json'}: cannot write (No space left on device): nothing "
        "was written; free some space or choose another disk\n"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_non_utf8_bytes_and_spaces_in_output_paths(tmp_path: Path) -> None:
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/out put \xe9\xff"))
    written = write_nifti(_volume(), folder / "synthetic mri \udcfe.nii.gz")
    assert written.exists() and load_image(written).shape == (1, 8, 6, 4)
    slices = write_png_slices(_volume(), folder, "slice \udce9")
    assert all(p.exists() for p in slices) and len(slices) == 4
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    np.testing.assert_allclose(load_image(written).affine.numpy(), np.diag([0.8, 0.8, 2.0, 1.0]))
