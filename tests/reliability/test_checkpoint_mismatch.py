"""Through the bundle: resuming from a checkpoint made with another architecture or image size is refused.

``tests/handlers/test_checkpoint.py::test_architecture_mismatch_names_the_problem`` covers ``resume_from`` on its
own; here the checkpoint comes from a real ``train.json`` run, the resume from the same config with other network
settings or another ``image_size``, and the message says which network and parameter, or which image sizes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from monai.bundle import run

from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.errors import CheckpointError, find_user_error

TRAIN_CONFIG = str(Path(__file__).resolve().parents[2] / "bundles" / "ct2mri" / "configs" / "train.json")
TINY = {
    "image_size": 32,
    "ngf": 4,
    "ndf": 8,
    "n_blocks": 1,
    "batch_size": 2,
    "samples_per_epoch": 2,
    "epochs": 1,
    "epochs_decay": 0,
    "val_interval": 100,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One iteration of the tiny bundle run: ``(dataset_dir, output_dir)`` holding ``checkpoint_1.pt``."""
    root = tmp_path_factory.mktemp("mismatch")
    data = write_phantom_dataset(root / "phantom", n_unpaired=1, n_paired=1, shape=(32, 32, 4), seed=2)
    run("training", config_file=TRAIN_CONFIG, output_dir=str(root / "run"), dataset_dir=str(data), **TINY)
    assert (root / "run" / "checkpoints" / "checkpoint_1.pt").exists()
    return data, root / "run"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ngf": 8}, r"g_a: shape mismatch for parameter '.*': checkpoint \(4, .*\) vs model \(8, "),
        ({"n_blocks": 2}, r"g_a was saved from another architecture: missing keys \[.*\], unexpected keys \[\]"),
        ({"ndf": 16}, r"d_a: shape mismatch for parameter"),
        ({"image_size": 48}, r"trained on images of \(32, 32\), this run gives \(48, 48\): resume with the same"),
    ],
    ids=["wider_generator", "more_res_blocks", "wider_discriminator", "other_image_size"],
)
def test_resume_with_another_architecture_is_refused(trained: tuple[Path, Path], change: dict, message: str) -> None:
    data, output = trained
    before = (output / "checkpoints" / "checkpoint_1.pt").read_bytes()
    with pytest.raises(Exception) as err:  # the bundle runner wraps it: the CLI would unwrap it the same way
        run(
            "training",
            config_file=TRAIN_CONFIG,
            output_dir=str(output),
            dataset_dir=str(data),
            resume=True,
            **{**TINY, "epochs": 2, **change},
        )
    user_error = find_user_error(err.value)
    assert isinstance(user_error, CheckpointError), err.value
    assert str(user_error).startswith(str(output / "checkpoints" / "checkpoint_1.pt"))
    assert re.search(message, user_error.reason), user_error.reason
    assert (output / "checkpoints" / "checkpoint_1.pt").read_bytes() == before
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == ["checkpoint_1.pt"]
