"""CLI manners: ``--version``, the documented exit codes, a light start, progress bars only on a terminal, each error
printed once, and Ctrl-C: exit 130, no traceback, no partial output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import medtranslate
from medtranslate.cli import EXIT_CODES, main
from medtranslate.data.phantom import make_subject, write_phantom_dataset
from medtranslate.io import write_nifti
from medtranslate.networks import ResNetGenerator

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "medtranslate.cli"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _ct(path: Path, depth: int) -> Path:
    subject = make_subject(5, shape=(48, 40, depth))
    write_nifti(subject.ct_hu[None].astype(np.int16), path, affine=subject.affine)
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    """``--ckpt``/``--config`` options of a tiny random generator at 32²."""
    torch.manual_seed(0)
    model = tmp_path / "model.pt"
    torch.save(ResNetGenerator(channels=4, num_res_blocks=1).state_dict(), model)
    config = json.loads((REPO / "bundles" / "ct2mri" / "configs" / "inference.json").read_text())
    config.update({"ngf": 4, "n_blocks": 1, "image_size": 32})
    (tmp_path / "inference.json").write_text(json.dumps(config))
    return ["--ckpt", str(model), "--config", str(tmp_path / "inference.json"), "--device", "cpu"]


def test_version_and_exit_codes_in_help() -> None:
    version = subprocess.run([*CLI, "--version"], capture_output=True, text=True, env=ENV)
    assert version.returncode == 0 and version.stdout.strip() == f"medtranslate {medtranslate.__version__}"
    for args in (["--help"], ["translate", "--help"]):
        shown = subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV)
        assert shown.returncode == 0
        assert all(f"  {code:<4} {meaning}" in shown.stdout for code, meaning in EXIT_CODES.items())
    usage = subprocess.run([*CLI, "translate"], capture_output=True, text=True, env=ENV)
    assert usage.returncode == 2 and "required" in usage.stderr and "Traceback" not in usage.stderr


def test_the_entry_point_imports_neither_torch_nor_monai() -> None:
    """What ``--help``, ``--version`` and argument errors load: the parser only (the commands import the rest)."""
    code = "import sys, medtranslate.cli as c; c.build_parser(); print(sorted({'torch', 'monai'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_failed_input_is_reported_once(tmp_path: Path, tiny: list[str], capsys: pytest.CaptureFixture) -> None:
    inputs = tmp_path / "in"
    _ct(inputs / "good.nii.gz", 2)
    (inputs / "broken.nii").write_bytes(b"\x5c\x01\x00\x00" + b"\x00" * 100)
    assert main(["translate", str(inputs), "-o", str(tmp_path / "out"), *tiny]) == 1
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if "broken.nii" in line] == [
        line for line in captured.err.splitlines() if line.startswith("error: ")
    ]
    assert captured.err.count("broken.nii") == 1
    assert "translated 1 input(s), 1 failed" in captured.err


def _run_on_a_terminal(cmd: list[str]) -> tuple[int, str, str]:
    """Run ``cmd`` with stderr on a pseudo-terminal: ``(status, stdout, what the terminal showed)``."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, env=ENV, text=True)
    os.close(follower)
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(leader)
    return proc.returncode, stdout, b"".join(shown).decode(errors="replace")


def test_progress_bars_on_a_terminal_and_a_summary_otherwise(tmp_path: Path, tiny: list[str]) -> None:
    inputs = tmp_path / "in"
    for name in ("a", "b"):
        _ct(inputs / f"{name}.nii.gz", 3)
    cmd = [*CLI, "translate", str(inputs), "-o", str(tmp_path / "tty"), *tiny]
    status, stdout, terminal = _run_on_a_terminal(cmd)
    assert status == 0, terminal
    assert "translate: 100%" in terminal and "2/2" in terminal and "chunk" in terminal
    assert "translated 2 input(s), 0 failed" in stdout
    piped = subprocess.run(
        [*CLI, "translate", str(inputs), "-o", str(tmp_path / "pipe"), *tiny], capture_output=True, text=True, env=ENV
    )
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.splitlines()[-1] == "translated 2 input(s), 0 failed"


@pytest.mark.slow  # two CLI processes, one of them a (tiny) evaluation: 20-60 s on 2 busy cores
def test_manifest_and_evaluate_show_progress_on_a_terminal(tmp_path: Path) -> None:
    data = write_phantom_dataset(tmp_path / "phantom", n_unpaired=2, n_paired=1, shape=(32, 32, 8), seed=1)
    manifest = [*CLI, "manifest", str(data), "-o", str(tmp_path / "manifest.json"), "--no-contrast"]
    status, stdout, terminal = _run_on_a_terminal(manifest)
    assert status == 0, terminal
    assert "hash: 100%" in terminal and "file" in terminal and "wrote" in stdout
    evaluate = [*CLI, "evaluate", "-o", str(tmp_path / "eval"), "--paired", str(data), "--image-size", "32"]
    evaluate += ["--max-paired", "2", "--cnn-iterations", "0", "--device", "cpu", "--ckpt", str(tmp_path / "none.pt")]
    status, stdout, terminal = _run_on_a_terminal(evaluate)
    assert status == 0, terminal
    assert "paired volumes: 100%" in terminal and "report: " in stdout


def test_ctrl_c_exits_130_without_traceback_or_partial_output(tmp_path: Path) -> None:
    """SIGINT while the second input (the shipped 256² model over 240 slices) is being translated."""
    inputs = tmp_path / "in"
    _ct(inputs / "a_small.nii.gz", 1)
    _ct(inputs / "b_large.nii.gz", 240)  # long enough that the signal lands while it runs, even on a fast CPU
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, "translate", str(inputs), "-o", str(out), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
        # a terminal's default SIGINT: earlier tests may leave it ignored in pytest, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = out / "a_small_synthetic_mri.nii.gz"
    deadline = time.monotonic() + 240
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "interrupted"
    assert sorted(p.name for p in out.iterdir()) == [first.name]  # the finished input only, no temporary file
