"""MONAI's workflow checks of the bundle: ``ConfigWorkflow(...).initialize(); check_properties()`` finds every
standard inference and training property, the properties are the expected MONAI objects, ``run`` translates
through them, ``training`` is the alias of ``run``, and ``bundle_root`` follows the zoo's rule wherever it runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.engines import Evaluator, Trainer
from monai.inferers import Inferer, SliceInferer

import medtranslate
from medtranslate.data.phantom import make_subject, write_phantom_dataset
from medtranslate.errors import InputError
from medtranslate.io import write_nifti
from medtranslate.networks import ResNetGenerator

pytestmark = pytest.mark.filterwarnings("ignore:.*logging.*:UserWarning")

TINY_NET = {"ngf": 4, "n_blocks": 1}


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ct")
    subject = make_subject(5, shape=(48, 40, 3))
    write_nifti(subject.ct_hu[None].astype(np.int16), folder / "head_ct.nii.gz", affine=subject.affine)
    return folder


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.save(ResNetGenerator(channels=TINY_NET["ngf"], num_res_blocks=TINY_NET["n_blocks"]).state_dict(), path)
    return path


def _workflow(configs: Path, name: str, workflow_type: str, **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        config_file=str(configs / f"{name}.json"),
        meta_file=str(configs / "metadata.json"),
        logging_file=False,
        workflow_type=workflow_type,
        **overrides,
    )
    workflow.initialize()
    return workflow


def test_inference_has_every_standard_property_and_runs_through_them(
    configs: Path, ct_folder: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    workflow = _workflow(
        configs,
        "inference",
        "infer",
        dataset_dir=str(ct_folder),
        output_dir=str(out),
        ckpt_path=str(tiny_model),
        device="cpu",
        image_size=32,
        **TINY_NET,
    )
    assert workflow.check_properties() == []
    assert isinstance(workflow.inferer, SliceInferer) and tuple(workflow.inferer.roi_size) == (32, 32)
    assert isinstance(workflow.evaluator, Evaluator)
    assert [item["image"] for item in workflow.dataset] == [str(ct_folder / "head_ct.nii.gz")]
    assert workflow.evaluator.translator.inferer is workflow.inferer  # the property is the inferer that runs
    workflow.run()
    assert sorted(p.name for p in out.iterdir()) == ["head_ct_synthetic_mri.nii.gz"]


def test_inference_without_inputs_says_what_to_pass(configs: Path, tiny_model: Path, tmp_path: Path) -> None:
    workflow = _workflow(
        configs, "inference", "infer", output_dir=str(tmp_path), ckpt_path=str(tiny_model), device="cpu", **TINY_NET
    )
    assert workflow.check_properties() == []
    with pytest.raises(RuntimeError) as failure:  # MONAI wraps what an expression raises
        workflow.run()
    assert isinstance(failure.value.__cause__, InputError) and "--dataset_dir" in str(failure.value.__cause__)


def test_training_has_every_standard_property(configs: Path, tmp_path: Path) -> None:
    data = write_phantom_dataset(tmp_path / "phantom", n_unpaired=2, n_paired=1, shape=(32, 32, 4), seed=1)
    workflow = _workflow(
        configs,
        "train",
        "train",
        dataset_dir=str(data),
        output_dir=str(tmp_path / "run"),
        image_size=32,
        ndf=8,
        batch_size=2,
        epochs=1,
        epochs_decay=1,
        **TINY_NET,
    )
    assert workflow.check_properties() == []
    assert isinstance(workflow.trainer, Trainer) and workflow.max_epochs == 2
    assert isinstance(workflow.train_inferer, Inferer)
    assert len(workflow.train_dataset) > 0


def test_training_is_the_alias_of_run(configs: Path) -> None:
    train = json.loads((configs / "train.json").read_text())
    assert isinstance(train["run"], list) and train["training"] == "@run"


def test_bundle_root_is_the_shipped_bundle_or_the_bundle_run_from(
    configs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = configs.parent
    assert medtranslate.shipped_bundle() == bundle
    monkeypatch.chdir(tmp_path)
    assert medtranslate.bundle_root() == bundle
    monkeypatch.chdir(bundle)  # the zoo's way: commands run from inside the bundle
    assert medtranslate.bundle_root() == bundle
    copy = tmp_path / "my_bundle"
    (copy / "configs").mkdir(parents=True)
    (copy / "configs" / "metadata.json").write_text("{}")
    monkeypatch.chdir(copy)
    assert medtranslate.bundle_root() == copy
