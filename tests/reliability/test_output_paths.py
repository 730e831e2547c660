"""``medtranslate translate`` with bad destinations or bad geometry: one line, exit 1, nothing written.

Destinations: an existing file given as ``-o`` (or a file further up the path), a folder that cannot be written, an
output folder inside an input DICOM series, a folder where a file output goes. Geometry: a NIfTI whose sform holds
NaN, a DICOM series with zero PixelSpacing. Each case checks the exact stderr line, that stdout names no output and
that neither the inputs nor the destination changed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
import torch

from medtranslate.errors import OutputError, OutputExistsError
from medtranslate.inference import translate_path
from medtranslate.networks import ResNetGenerator

NETWORK = ("--ngf", "4", "--n-blocks", "1", "--image-size", "32", "--device", "cpu", "--fp32")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.save(ResNetGenerator(channels=4, num_res_blocks=1).state_dict(), path)
    return path


def _translate(cli: Callable, model: Path, inputs: Path, output: Path, *extra: str) -> tuple[int, str, str]:
    return cli("translate", inputs, "-o", output, "--ckpt", model, *NETWORK, *extra)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_existing_file_as_output_folder(
    tmp_path: Path, build: SimpleNamespace, cli: Callable, model: Path, assert_unchanged: Callable
) -> None:
    ct = build.nifti(tmp_path / "ct.nii.gz", build.ct_volume())
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    for output in (blocker, blocker / "deeper"):
        with assert_unchanged(ct, blocker):
            status, out, err = _translate(cli, model, ct, output)
        assert status == 1 and "->" not in out
        assert err == f"error: {blocker}: is a file, not a folder: nothing was written; choose an output folder\n"


def test_unwritable_output_folder(
    tmp_path: Path, build: SimpleNamespace, cli: Callable, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated with ``os.access`` (the tests may run as root, whom ``chmod`` does not stop)."""
    ct = build.nifti(tmp_path / "ct.nii.gz", build.ct_volume())
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    status, out, err = _translate(cli, model, ct, locked / "out")
    assert status == 1 and "->" not in out
    assert err == (
        f"error: {locked}: cannot write (Permission denied): nothing was written; choose a folder you may write to\n"
    )
    assert _tree(locked) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_folder_for_real(tmp_path: Path, build: SimpleNamespace, model: Path) -> None:
    ct = build.nifti(tmp_path / "ct.nii.gz", build.ct_volume())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied") as caught:
            translate_path(ct, locked, ResNetGenerator(channels=4, num_res_blocks=1), image_size=32)
    finally:
        locked.chmod(0o755)
    assert caught.value.errno == errno.EACCES and _tree(locked) == []


def test_output_inside_an_input_series_folder(
    tmp_path: Path, build: SimpleNamespace, cli: Callable, model: Path, assert_unchanged: Callable
) -> None:
    series = build.dicom_series(tmp_path / "series", [0.0, 1.0, 2.0])
    before = _tree(series)
    with assert_unchanged(series):
        status, out, err = _translate(cli, model, series, series / "synthetic", "--export", "nifti,dicom")
        assert status == 1 and "->" not in out
        assert err.startswith(f"error: {series / 'synthetic'}") and f"inside the input {series}" in err
        # one slice of the series as the input: its folder is still the series
        status, out, err = _translate(cli, model, series / "IM0000.dcm", series, "--overwrite")
        assert status == 1 and f"inside the input {series}\n" in err
    assert _tree(series) == before


def test_a_folder_where_a_file_output_goes_is_kept(tmp_path: Path, build: SimpleNamespace, model: Path) -> None:
    ct = build.nifti(tmp_path / "ct.nii.gz", build.ct_volume())
    (tmp_path / "out" / "ct_synthetic_mri.nii.gz").mkdir(parents=True)
    (tmp_path / "out" / "ct_synthetic_mri.nii.gz" / "notes.txt").write_text("mine")
    network = ResNetGenerator(channels=4, num_res_blocks=1).eval()
    with pytest.raises(OutputExistsError, match=r"is a folder, a file cannot replace it"):
        translate_path(ct, tmp_path / "out", network, image_size=32, overwrite=True)
    assert _tree(tmp_path / "out") == ["ct_synthetic_mri.nii.gz", "ct_synthetic_mri.nii.gz/notes.txt"]


def test_bad_geometry_is_refused_before_writing(
    tmp_path: Path, build: SimpleNamespace, cli: Callable, model: Path, assert_unchanged: Callable
) -> None:
    srows = np.diag([0.9, 0.9, 2.0, 1.0])[:3]
    srows[1, 1] = np.nan
    nan_sform = build.raw_nifti(tmp_path / "nan_sform.nii.gz", build.ct_volume(), srows, sform_code=1, qform_code=1)
    series = build.dicom_series(tmp_path / "flat", [0.0, 1.0, 2.0])
    for path in series.iterdir():
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [0.0, 0.8]
        ds.save_as(path)
    with assert_unchanged(nan_sform, series):
        status, out, err = _translate(cli, model, nan_sform, tmp_path / "out", "--export", "nifti,dicom")
        assert status == 1 and "->" not in out
        assert err.splitlines()[0] == f"error: {nan_sform}: the sform (sform_code 1) holds NaN/Inf values"
        status, out, err = _translate(cli, model, series, tmp_path / "out")
        assert status == 1 and "->" not in out
        assert err.splitlines()[0].endswith("IM0000.dcm: PixelSpacing [0.0, 0.8] must be two finite positive values")
    assert not (tmp_path / "out").exists()
