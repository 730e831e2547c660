"""``kill -9`` during ``translate``: no partial file under a final name, and the next run cleans up and completes.

Each test runs :func:`medtranslate.inference.translate_path` (tiny network, 16×16×6 CT) in a child interpreter
that SIGKILLs itself (or, in one test, waits to be SIGKILLed from outside) at a chosen point of the write, found
by wrapping ``os.replace`` (the rename of a hidden temporary file or folder that publishes an output) and
``nibabel.save`` in the child script; the package is not modified. The next run of the same call runs in the
test process: a new process, as a new command would be.

Kill points: inside the NIfTI write with the temporary file half written; after the NIfTI is published, before the
PNG folder is; the same with ``overwrite=True`` over a previous run's outputs (which must come back byte for byte);
from outside, while the DICOM series is being written; between the two renames of ``atomic_dir`` replacing a folder.
A run that fails with an exception under ``overwrite=True`` keeps the previous outputs too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import pytest
import torch

import medtranslate.inference.translate as translate_module
from medtranslate.errors import OutputError, OutputExistsError
from medtranslate.inference import translate_path
from medtranslate.io.atomic import atomic_dir, recover_outputs
from medtranslate.networks import ResNetGenerator

PREFIX = "ct_synthetic_mri"

# The child: translate_path with the hooks that $HOOK (JSON) asks for, then the same call as the test's.
CHILD = r"""
import json, os, signal, sys, time
from pathlib import Path

hook = json.loads(os.environ["HOOK"])
_replace = os.replace

def _killing_replace(src, dst, *args, **kwargs):
    publishing = os.path.basename(os.fspath(src)).startswith(".tmp-")  # not a folder moved aside
    if publishing and os.path.basename(os.fspath(dst)) == hook.get("before_rename"):
        if hook.get("wait"):
            Path(hook["wait"]).touch()
            while True:
                time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)
    result = _replace(src, dst, *args, **kwargs)
    if os.path.basename(os.path.dirname(os.fspath(dst))).startswith(".old-") and hook.get("after_aside"):
        os.kill(os.getpid(), signal.SIGKILL)
    return result

os.replace = _killing_replace

import nibabel as nib
import torch

if hook.get("torn_nifti"):
    _save = nib.save

    def _torn_save(img, filename):
        _save(img, filename)
        Path(filename).write_bytes(Path(filename).read_bytes()[:200])
        os.kill(os.getpid(), signal.SIGKILL)

    nib.save = _torn_save

call = json.loads(sys.argv[1])
if call.get("folder"):
    from medtranslate.io.atomic import atomic_dir

    with atomic_dir(call["folder"], overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
else:
    from medtranslate.inference import translate_path
    from medtranslate.networks import ResNetGenerator

    torch.manual_seed(0)
    network = ResNetGenerator(channels=4, num_res_blocks=1).eval()
    translate_path(call["input"], call["output"], network, image_size=32, export=call["export"],
                   overwrite=call["overwrite"], device="cpu", amp=False)
"""


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return ResNetGenerator(channels=4, num_res_blocks=1).eval()


def _child(tmp_path: Path, call: dict, hook: dict, wait_for: Path | None = None) -> int:
    """Run the child until it dies (or, with ``wait_for``, SIGKILL it once that file exists); its exit status."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "HOOK": json.dumps(hook), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    log = open(tmp_path / "child.log", "wb")  # noqa: SIM115 - closed below, after the child is gone
    proc = subprocess.Popen([sys.executable, str(script), json.dumps(call)], env=env, stdout=log, stderr=log)
    try:
        if wait_for is not None:
            while not wait_for.exists() and proc.poll() is None:
                time.sleep(0.05)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _final_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _call(ct: Path, out: Path, export: str, overwrite: bool = False) -> dict:
    return {"input": str(ct), "output": str(out), "export": export, "overwrite": overwrite}


def _rerun(call: dict) -> list[Path]:
    return translate_path(
        call["input"], call["output"], _network(), image_size=32, export=call["export"], overwrite=call["overwrite"]
    )


@pytest.fixture
def ct(tmp_path: Path, build: SimpleNamespace) -> Path:
    return build.nifti(tmp_path / "ct.nii.gz", build.ct_volume())


@pytest.mark.slow
def test_kill_inside_the_nifti_write_then_the_same_run_completes(tmp_path: Path, ct: Path) -> None:
    out = tmp_path / "out"
    call = _call(ct, out, "nifti")
    assert _child(tmp_path, call, {"torn_nifti": True}) == -signal.SIGKILL
    assert _final_names(out) == []  # the torn file is only under its hidden name
    assert [n for n in _hidden(out) if n.endswith(f"-{PREFIX}.nii.gz")], _hidden(out)
    written = _rerun(call)
    assert _final_names(out) == [f"{PREFIX}.nii.gz"] and _hidden(out) == []
    assert nib.load(written[0]).shape == (16, 16, 6)


@pytest.mark.slow
def test_kill_between_two_exports_then_the_same_run_completes(tmp_path: Path, ct: Path) -> None:
    out = tmp_path / "out"
    call = _call(ct, out, "nifti,png")
    assert _child(tmp_path, call, {"before_rename": f"{PREFIX}_png"}) == -signal.SIGKILL
    assert _final_names(out) == [f"{PREFIX}.nii.gz"]  # complete, but half of what was asked for
    assert any(n.endswith(f"-{PREFIX}.nii.gz.outputs") for n in _hidden(out)), _hidden(out)
    _rerun(call)  # without overwrite: the killed run's NIfTI is its own, so it is removed, not "already exists"
    assert _final_names(out) == [f"{PREFIX}.nii.gz", f"{PREFIX}_png"] and _hidden(out) == []
    assert len(list((out / f"{PREFIX}_png").iterdir())) == 6


@pytest.mark.slow
def test_kill_during_overwrite_brings_the_previous_outputs_back(tmp_path: Path, ct: Path) -> None:
    out = tmp_path / "out"
    translate_path(ct, out, _network(), image_size=32, export="nifti,png")
    previous = _snapshot(out)
    call = _call(ct, out, "nifti,png", overwrite=True)
    assert _child(tmp_path, call, {"before_rename": f"{PREFIX}_png"}) == -signal.SIGKILL
    assert _final_names(out) == [f"{PREFIX}.nii.gz"]  # the new NIfTI; the previous PNG folder is aside
    recover_outputs([out / f"{PREFIX}.nii.gz", out / f"{PREFIX}_png"])  # what the next run does first
    assert _snapshot(out) == previous and _hidden(out) == []
    _rerun(call)
    assert _final_names(out) == [f"{PREFIX}.nii.gz", f"{PREFIX}_png"] and _hidden(out) == []


@pytest.mark.slow
def test_kill_from_outside_during_the_dicom_write(tmp_path: Path, ct: Path) -> None:
    out = tmp_path / "out"
    call = _call(ct, out, "nifti,dicom")
    paused = tmp_path / "paused"
    hook = {"before_rename": f"{PREFIX}_dicom", "wait": str(paused)}
    assert _child(tmp_path, call, hook, wait_for=paused) == -signal.SIGKILL
    assert _final_names(out) == [f"{PREFIX}.nii.gz"]
    _rerun(call)
    assert _final_names(out) == [f"{PREFIX}.nii.gz", f"{PREFIX}_dicom"] and _hidden(out) == []
    assert len(list((out / f"{PREFIX}_dicom").iterdir())) == 6


@pytest.mark.slow
def test_kill_between_the_renames_of_a_folder_replacement(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    with atomic_dir(folder) as tmp:
        (tmp / "old.txt").write_text("old")
    assert _child(tmp_path, {"folder": str(folder)}, {"after_aside": True}) == -signal.SIGKILL
    assert not folder.exists()  # moved aside, the new one not yet renamed in: nothing partial under the name
    recover_outputs([folder])  # what the next write of the folder does first
    assert _snapshot(folder) == {"old.txt": b"old"} and _hidden(tmp_path) == []
    with pytest.raises(OutputExistsError, match="already exists"):  # so a write without overwrite refuses
        atomic_dir(folder).__enter__()


def test_failed_overwrite_keeps_the_previous_outputs(tmp_path: Path, ct: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    translate_path(ct, out, _network(), image_size=32, export="nifti,png,dicom")
    previous = _snapshot(out)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OutputError(out / f"{PREFIX}_dicom", "cannot write (No space left on device)")

    monkeypatch.setattr(translate_module, "write_dicom_series", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        translate_path(ct, out, _network(), image_size=32, export="nifti,png,dicom", overwrite=True)
    assert _snapshot(out) == previous and _hidden(out) == []


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_dead_leftovers_of_this_tool_for_the_target_are_touched(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    target = tmp_path / f"{PREFIX}.nii.gz"
    target.write_bytes(b"made by the killed run")
    (tmp_path / "victim.txt").write_text("not ours")
    leftovers = {
        f".tmp-{dead}-abcdefgh-{PREFIX}.nii.gz": "dead, this target: removed",
        f".tmp-{alive}-abcdefgh-{PREFIX}.nii.gz": "a running process's: kept",
        f".tmp-{dead}-abcdefgh-other.nii.gz": "another target: kept",
        f".tmp-abcdefgh-{PREFIX}.nii.gz": "no process id (older versions): kept",
    }
    for name, text in leftovers.items():
        (tmp_path / name).write_text(text)
    hostile = tmp_path / f".tmp-{dead}-ijklmnop-{PREFIX}.nii.gz.outputs"
    hostile.write_text(json.dumps({"created": ["../victim.txt", f"{PREFIX}.nii.gz"], "replaced": {}}))
    recover_outputs([target])
    assert (tmp_path / "victim.txt").read_text() == "not ours" and target.exists()  # the journal names ../: ignored
    kept = sorted(n for n in leftovers if "kept" in leftovers[n])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p != hostile) == kept
    journal = tmp_path / f".tmp-{dead}-qrstuvwx-{PREFIX}.nii.gz.outputs"
    journal.write_text(json.dumps({"created": [f"{PREFIX}.nii.gz"], "replaced": {}}))
    recover_outputs([target])
    assert not target.exists() and not journal.exists()  # the killed run's own output is rolled back
