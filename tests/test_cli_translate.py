"""``medtranslate translate``: exports, slices, overwrite, batches with a bad file (exit 1), checkpoint errors (exit 1),
option values refused as usage errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.cli import main
from medtranslate.data.phantom import make_subject
from medtranslate.io import write_nifti
from medtranslate.networks import ResNetGenerator

REPO = Path(__file__).resolve().parents[1]
TINY = {"ngf": 4, "n_blocks": 1, "image_size": 32}


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    """A folder with one CT NIfTI, a tiny model.pt and an inference config made for it."""
    subject = make_subject(5, shape=(32, 24, 5))
    inputs = tmp_path / "inputs"
    write_nifti(subject.ct_hu[None].astype(np.int16), inputs / "ct.nii.gz", affine=subject.affine)
    torch.manual_seed(0)
    model = tmp_path / "model.pt"
    torch.save(ResNetGenerator(channels=4, num_res_blocks=1).state_dict(), model)
    config = json.loads((REPO / "bundles" / "ct2mri" / "configs" / "inference.json").read_text())
    config.update(TINY)
    config_path = tmp_path / "inference.json"
    config_path.write_text(json.dumps(config))
    return {"inputs": inputs, "model": model, "config": config_path, "out": tmp_path / "out"}


def _args(s: dict[str, Path], *extra: str) -> list[str]:
    return ["translate", str(s["inputs"]), "-o", str(s["out"]), "--ckpt", str(s["model"]), "--config", str(s["config"]),
            "--device", "cpu", *extra]  # fmt: skip


def test_translate_all_exports(setup: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(_args(setup, "--export", "nifti,png,dicom,nifti-slices", "--bit-depth", "16")) == 0
    out = setup["out"]
    assert sorted(p.name for p in out.iterdir()) == [
        "ct_synthetic_mri.nii.gz",
        "ct_synthetic_mri_dicom",
        "ct_synthetic_mri_png",
        "ct_synthetic_mri_slices",
    ]
    assert nib.load(out / "ct_synthetic_mri.nii.gz").shape == (32, 24, 5)
    assert "translated 1 input(s), 0 failed" in capsys.readouterr().out


def test_slices_option(setup: dict[str, Path]) -> None:
    assert main(_args(setup, "--slices", "1:3", "--export", "png")) == 0
    assert [p.name[-8:] for p in sorted((setup["out"] / "ct_synthetic_mri_png").iterdir())] == ["z000.png", "z001.png"]


def test_refuses_to_overwrite_without_the_flag(setup: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(_args(setup)) == 0
    capsys.readouterr()
    assert main(_args(setup)) == 1
    err = capsys.readouterr().err
    assert "already exists; pass overwrite=True" in err and "1 failed" in err
    assert main(_args(setup, "--overwrite")) == 0


def test_folder_with_a_corrupt_file_continues_and_exits_non_zero(
    setup: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    (setup["inputs"] / "corrupt.nii").write_bytes(b"\x5c\x01\x00\x00" + b"\x00" * 100)
    assert main(_args(setup)) == 1
    captured = capsys.readouterr()
    assert (setup["out"] / "ct_synthetic_mri.nii.gz").is_file()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt.nii" in errors[0]


def test_checkpoint_errors_are_one_line_without_output(setup: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    wrong = setup["model"].parent / "wrong.pt"
    torch.save(ResNetGenerator(channels=8, num_res_blocks=2).state_dict(), wrong)
    for ckpt, expected in [
        (wrong, "made for ResNetGenerator(channels=8, num_res_blocks=2)"),
        (setup["model"].parent / "missing.pt", "no such model file"),
    ]:
        args = _args(setup)
        args[args.index("--ckpt") + 1] = str(ckpt)
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert not setup["out"].exists()


def test_bundle_without_weights_says_to_train(
    setup: dict[str, Path], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "inference.json").write_text(setup["config"].read_text())
    args = ["translate", str(setup["inputs"]), "-o", str(setup["out"]), "--bundle-root", str(bundle)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "models/model.pt: the bundle has no trained weights yet" in err and "--ckpt" in err
    assert not setup["out"].exists()


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [("--export", "jpeg", "unknown export jpeg"), ("--slices", "x", "x"), ("--window", "nonsense", "nonsense")],
)
def test_bad_option_values_are_usage_errors(
    setup: dict[str, Path], capsys: pytest.CaptureFixture, option: str, value: str, reason: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(_args(setup, option, value))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert err.startswith("usage: medtranslate translate") and len(errors) == 1 and reason in errors[0]
    assert not setup["out"].exists()


def test_weights_of_another_recipe_with_the_bundle_config(setup: dict[str, Path], capsys) -> None:
    """The bundle's own inference.json describes the shipped network; --ngf/--n-blocks/--image-size fit others."""
    base = ["translate", str(setup["inputs"]), "-o", str(setup["out"]), "--ckpt", str(setup["model"])]
    assert main(base) == 1
    err = capsys.readouterr().err
    assert "ResNetGenerator(channels=4, num_res_blocks=1)" in err and "--ngf/--n-blocks" in err
    assert main([*base, "--ngf", "4", "--n-blocks", "1", "--image-size", "32"]) == 0
    assert nib.load(setup["out"] / "ct_synthetic_mri.nii.gz").shape == (32, 24, 5)
