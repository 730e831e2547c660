"""The bundle's inference config: run the model-zoo way (monai.bundle run) and agree with train.json."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigParser, run

from medtranslate.errors import CheckpointError, find_user_error

# monai.bundle run warns that a config evaluates code; this is the bundle's own config
pytestmark = pytest.mark.filterwarnings("ignore:parsing config_file")

REPO = Path(__file__).resolve().parents[2]
BUNDLE_CONFIG = REPO / "bundles" / "ct2mri" / "configs" / "inference.json"


def test_network_def_matches_the_recipe_of_the_shipped_weights() -> None:
    """inference.json describes the network that ``train.json`` + ``kaggle_t1.json`` (the shipped model's recipe)
    trains."""
    train = json.loads((BUNDLE_CONFIG.parent / "train.json").read_text())
    recipe = {**train, **json.loads((BUNDLE_CONFIG.parent / "kaggle_t1.json").read_text())}
    infer = json.loads(BUNDLE_CONFIG.read_text())
    assert infer["network_def"] == train["network_def"]
    evaluate = json.loads((BUNDLE_CONFIG.parent / "evaluate.json").read_text())
    for key in ("ngf", "n_blocks", "image_size", "window"):
        assert infer[key] == recipe[key] == evaluate[key], key


def test_default_paths_from_the_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    parser = ConfigParser()
    parser.read_config(str(BUNDLE_CONFIG))
    bundle = REPO / "bundles" / "ct2mri"  # medtranslate.bundle_root(): the checkout's bundle, as an absolute path
    assert parser.get_parsed_content("ckpt_path") == str(bundle / "models" / "model.pt")
    assert parser.get_parsed_content("output_dir") == str(bundle / "outputs" / "inference")


def test_bundle_run_translates_a_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ct_nifti: Path, model_path: Path, tiny_sizes: dict
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "bundle_out"
    run(
        config_file=str(BUNDLE_CONFIG),
        dataset_dir=str(ct_nifti.parent),
        output_dir=str(out),
        ckpt_path=str(model_path),
        export="nifti,png",
        **tiny_sizes,
    )
    result = out / "head_ct_synthetic_mri.nii.gz"
    np.testing.assert_allclose(nib.load(result).affine, nib.load(ct_nifti).affine, atol=1e-5)
    assert len(list((out / "head_ct_synthetic_mri_png").iterdir())) == nib.load(ct_nifti).shape[2]


def test_bundle_run_without_weights_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ct_nifti: Path):
    monkeypatch.chdir(REPO)
    with pytest.raises(Exception) as info:
        run(
            config_file=str(BUNDLE_CONFIG),
            dataset_dir=str(ct_nifti.parent),
            output_dir=str(tmp_path / "out"),
            ckpt_path=str(tmp_path / "models" / "model.pt"),
        )
    error = find_user_error(info.value)
    assert isinstance(error, CheckpointError) and "no trained weights yet" in str(error)
    assert not (tmp_path / "out").exists()
