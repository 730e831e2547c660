"""The weights the bundle ships: they load into the bundle's network, translate a CT with no training step, and
their bf16 output stays within the documented tolerance of float32."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.cli import main
from medtranslate.data.phantom import make_subject
from medtranslate.inference import load_generator
from medtranslate.inference.bundle import read_inference_settings
from medtranslate.inference.volume import AMP_TOLERANCE, SliceTranslator
from medtranslate.io import write_nifti
from medtranslate.transforms import CTWindow

MODEL = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri" / "models" / "model.pt"


@pytest.fixture(scope="module")
def ct_volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    subject = make_subject(5, shape=(48, 40, 4))
    path = tmp_path_factory.mktemp("shipped") / "head_ct.nii.gz"
    write_nifti(subject.ct_hu[None].astype(np.int16), path, affine=subject.affine)
    return path


def test_weights_are_shipped_small_and_safe() -> None:
    assert MODEL.is_file(), "bundles/ct2mri/models/model.pt is part of the bundle"
    assert MODEL.stat().st_size <= 25 * 2**20
    state = torch.load(MODEL, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_fresh_clone_translates_a_ct_volume_with_the_shipped_model(
    ct_volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(MODEL.parents[3])  # the repository root, as README's commands run
    out = tmp_path / "out"
    assert main(["translate", str(ct_volume), "-o", str(out), "--export", "nifti,png"]) == 0, capsys.readouterr()
    source, result = nib.load(ct_volume), nib.load(out / "head_ct_synthetic_mri.nii.gz")
    assert result.shape == source.shape and np.allclose(result.affine, source.affine)
    data = result.get_fdata()
    assert np.isfinite(data).all() and data.std() > 0
    assert len(list((out / "head_ct_synthetic_mri_png").glob("*.png"))) == source.shape[2]


def test_bf16_output_of_the_shipped_model_is_within_tolerance(ct_volume: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: True)  # emulated if not native
    settings = read_inference_settings(None, None, {"device": "cpu"})
    network = load_generator(settings.ckpt_path, settings.network, "cpu")
    ct = CTWindow(settings.window)(torch.as_tensor(nib.load(ct_volume).get_fdata(), dtype=torch.float32)[None])
    fp32 = SliceTranslator(network, settings.image_size, sw_batch_size=2, amp=False)(ct)
    bf16 = SliceTranslator(network, settings.image_size, sw_batch_size=2)(ct)
    diff = (bf16 - fp32).abs()
    assert diff.mean() <= AMP_TOLERANCE["mean"] and diff.max() <= AMP_TOLERANCE["max"], (diff.mean(), diff.max())


@pytest.mark.skipif(not os.environ.get("MEDTRANSLATE_SHARED_DATA"), reason="MEDTRANSLATE_SHARED_DATA is not set")
def test_shipped_model_translates_a_real_kaggle_ct_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ct = sorted((Path(os.environ["MEDTRANSLATE_SHARED_DATA"]) / "kaggle_ct2mri" / "testA").glob("*.png"))[0]
    monkeypatch.chdir(MODEL.parents[3])
    assert main(["translate", str(ct), "-o", str(tmp_path), "--export", "png"]) == 0
    from PIL import Image

    image = np.asarray(Image.open(next(tmp_path.glob("*.png"))))
    assert image.shape == np.asarray(Image.open(ct)).shape[:2] and image.std() > 10
