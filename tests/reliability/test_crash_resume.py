"""Crash safety of bundle training: ``kill -9`` at several points, resume, and get the uninterrupted run exactly.

Each run is ``python -m monai.bundle run training`` on a 32×32×8 phantom with a 1-block generator, 4 iterations
per epoch, 3 epochs and a checkpoint after every iteration. Kill points (one per process, then ``--resume True``):

1. from outside, once ``checkpoint_3.pt`` is published (the run waits there to be killed, so the newest
   checkpoint ``n`` is 3 however busy the machine is);
2. inside the write of checkpoint ``n + 3``: the temporary file is cut to half its size and the process
   SIGKILLs itself before the rename (a write torn by the kill);
3. inside the write of checkpoint ``n + 6``, after the temporary file is complete, just before the rename;

and, between 1 and 2, a truncated ``checkpoint_<n + 1>.pt`` is planted as the newest file (what a non-atomic
writer or a torn copy leaves): the resume must skip it with a warning and load ``checkpoint_<n>.pt``.

The kills inside a write come from a ``sitecustomize`` module put on ``PYTHONPATH`` that wraps ``os.replace``
(which the checkpoint saver calls to publish a checkpoint); the package is not modified.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from medtranslate.data.phantom import write_phantom_dataset

REPO = Path(__file__).resolve().parents[2]
TRAIN_CONFIG = REPO / "bundles" / "ct2mri" / "configs" / "train.json"
ITERATIONS = 12  # 3 epochs × (8 samples / batch 2)
OVERRIDES = {
    "image_size": 32,
    "ngf": 4,
    "ndf": 8,
    "n_blocks": 1,
    "samples_per_epoch": 8,
    "batch_size": 2,
    "epochs": 2,
    "epochs_decay": 1,
    "val_interval": 100,
    "checkpoint_every_n_iterations": 1,
}

# Wraps os.replace: when the target is checkpoint_<KILL_AT>.pt, optionally cut the temporary file to half, then
# SIGKILL this process, so the kill lands inside the checkpoint write; mode "pause" publishes the checkpoint, creates
# the file <output_dir>/paused and waits there to be killed from outside.
SITECUSTOMIZE = """
import os, re, signal, time

_spec = os.environ.get("MEDTRANSLATE_TEST_KILL_AT")
if _spec:
    _at, _mode = _spec.split(":")
    _replace = os.replace

    def _killing_replace(src, dst, *args, **kwargs):
        if re.fullmatch(rf"checkpoint_{_at}\\.pt", os.path.basename(os.fspath(dst))):
            if _mode == "pause":
                _replace(src, dst, *args, **kwargs)
                open(os.path.join(os.path.dirname(os.fspath(dst)), "paused"), "w").close()
                while True:
                    time.sleep(1)
            if _mode == "torn":
                os.truncate(src, os.path.getsize(src) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(src, dst, *args, **kwargs)

    os.replace = _killing_replace
"""


def _command(output_dir: Path, data_dir: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(TRAIN_CONFIG)]
    cmd += [arg for key, value in OVERRIDES.items() for arg in (f"--{key}", str(value))]
    cmd += ["--output_dir", str(output_dir), "--dataset_dir", str(data_dir)]
    return cmd + (["--resume", "True"] if resume else [])


def _env(hooks: Path, kill_at: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}
    env.pop("MEDTRANSLATE_TEST_KILL_AT", None)
    if kill_at:
        env["MEDTRANSLATE_TEST_KILL_AT"] = kill_at
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(cmd: list[str], env: dict[str, str], log: Path) -> int:
    with open(log, "wb") as out:
        return subprocess.run(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=900).returncode


def _run_and_kill_when(cmd: list[str], env: dict[str, str], log: Path, trigger: Path) -> int:
    """Start ``cmd`` and SIGKILL it once ``trigger`` exists (the process waits for it there: no race)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while not trigger.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _iterations(ckpt_dir: Path) -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in ckpt_dir.glob("checkpoint_*.pt"))


@pytest.mark.slow
def test_kill_9_at_several_points_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    data = write_phantom_dataset(tmp_path / "phantom", n_unpaired=2, n_paired=1, shape=(32, 32, 8), seed=1)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    ref, run = tmp_path / "reference", tmp_path / "interrupted"
    ckpts = run / "checkpoints"

    # the uninterrupted reference runs while the interrupted one starts: both are seeded and single-threaded
    with open(tmp_path / "reference.log", "wb") as ref_log:
        reference = subprocess.Popen(
            _command(ref, data, resume=False), env=_env(hooks, None), cwd=REPO, stdout=ref_log, stderr=subprocess.STDOUT
        )
        try:
            # kill point 1: from outside, once checkpoint 3 is published (the run waits there for the kill)
            trigger = ckpts / "paused"
            rc = _run_and_kill_when(_command(run, data, False), _env(hooks, "3:pause"), tmp_path / "1.log", trigger)
            assert rc == -signal.SIGKILL
            trigger.unlink()
            last = max(_iterations(ckpts))
            assert last == 3
            # a torn file as the newest checkpoint (what a non-atomic copy leaves): skipped, never loaded
            whole = (ckpts / f"checkpoint_{last}.pt").read_bytes()
            (ckpts / f"checkpoint_{last + 1}.pt").write_bytes(whole[: len(whole) // 2])

            # kill point 2: the resumed run dies inside a checkpoint write, its temporary file half written
            torn_at = last + 3
            rc = _run(_command(run, data, True), _env(hooks, f"{torn_at}:torn"), tmp_path / "2.log")
            log2 = (tmp_path / "2.log").read_text(errors="replace")
            assert rc == -signal.SIGKILL
            assert f"checkpoint_{last + 1}.pt: skipped, unreadable or unsafe checkpoint" in log2
            assert f"resuming from iteration {last}," in log2
            assert _iterations(ckpts)[-1] == torn_at - 1 and not (ckpts / f"checkpoint_{torn_at}.pt").exists()
            # the torn temporary file stays behind under its hidden name, which resume never considers
            assert any(p.name.startswith(".tmp-") for p in ckpts.iterdir())

            # kill point 3: dies with the temporary file complete, just before the rename
            complete_at = torn_at + 3
            rc = _run(_command(run, data, True), _env(hooks, f"{complete_at}:complete"), tmp_path / "3.log")
            assert rc == -signal.SIGKILL
            assert f"resuming from iteration {torn_at - 1}," in (tmp_path / "3.log").read_text(errors="replace")
            assert _iterations(ckpts)[-1] == complete_at - 1

            # last resume runs to the end
            rc = _run(_command(run, data, True), _env(hooks, None), tmp_path / "4.log")
            assert rc == 0, (tmp_path / "4.log").read_text(errors="replace")[-3000:]
            assert f"resuming from iteration {complete_at - 1}," in (tmp_path / "4.log").read_text(errors="replace")
        finally:
            if reference.poll() is None:
                reference.wait(timeout=900)
    assert reference.returncode == 0, (tmp_path / "reference.log").read_text(errors="replace")[-3000:]

    assert (run / "losses.csv").read_text() == (ref / "losses.csv").read_text()
    assert len((ref / "losses.csv").read_text().splitlines()) == ITERATIONS + 1
    assert (run / "losses.json").read_text() == (ref / "losses.json").read_text()
    final_run = torch.load(ckpts / f"checkpoint_{ITERATIONS}.pt", weights_only=True)
    final_ref = torch.load(ref / "checkpoints" / f"checkpoint_{ITERATIONS}.pt", weights_only=True)
    for net in ("g_a", "g_b", "d_a", "d_b"):
        for key, value in final_ref[net].items():
            assert torch.equal(final_run[net][key], value), f"{net}.{key} differs after the interrupted run"
