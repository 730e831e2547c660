"""``multi_gpu_train.json``: two CPU processes (gloo) under ``torchrun`` train in lockstep, only rank 0 writes,
and the checkpoint (unwrapped networks) resumes with and without DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from monai.bundle import ConfigParser
from monai.utils import set_determinism

from medtranslate.data.phantom import ensure_phantom_dataset
from medtranslate.networks import build_generator

NETWORKS = ("g_a", "g_b", "d_a", "d_b")
#: a tiny run: 8 samples per epoch split over 2 ranks, batch 2 → 2 iterations per epoch on each rank
TINY_RUN = {
    "image_size": 32,
    "ngf": 4,
    "ndf": 8,
    "n_blocks": 1,
    "samples_per_epoch": 8,
    "batch_size": 2,
    "epochs": 1,
    "epochs_decay": 0,
    "val_interval": 1,
}

pytestmark = pytest.mark.filterwarnings("ignore:.*config_file.*:UserWarning")


def _probe(tmp: Path, name: str) -> Path:
    """An extra config: each rank writes to ``<name>/rank<R>`` and dumps its networks and last losses."""
    probe = {
        "output_dir": f"$'{tmp / name}/rank' + os.environ['RANK']",
        "+run": [
            f"$torch.save({{'weights': {{n: getattr(@train#trainer, n).module.state_dict() for n in {NETWORKS}}}, "
            "'loss_G': @train#trainer.state.output['loss_G'], 'iteration': @train#trainer.state.iteration}, "
            f"'{tmp / name}_dump_rank' + os.environ['RANK'] + '.pt')"
        ],
    }
    path = tmp / f"{name}_probe.json"
    path.write_text(json.dumps(probe))
    return path


def _torchrun(repo_root: Path, tmp: Path, name: str, **overrides: Any) -> list[dict[str, Any]]:
    """Run the bundle's DDP training on 2 CPU processes; return each rank's dump."""
    configs = [
        str(repo_root / "bundles/ct2mri/configs/train.json"),
        str(repo_root / "bundles/ct2mri/configs/multi_gpu_train.json"),
        str(_probe(tmp, name)),
    ]
    args = [f"--{k}={v}" for k, v in {**TINY_RUN, "dataset_dir": tmp / "phantom", **overrides}.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "monai.bundle", "run", "training", "--config_file", repr(configs), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return [torch.load(tmp / f"{name}_dump_rank{r}.pt", weights_only=True) for r in (0, 1)]


def _assert_same_weights(a: dict[str, dict[str, torch.Tensor]], b: dict[str, dict[str, torch.Tensor]]) -> None:
    for net in NETWORKS:
        assert a[net].keys() == b[net].keys()
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), f"{net}.{key}"


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """One epoch of DDP training on a tiny phantom: ``(tmp folder, [rank 0 dump, rank 1 dump])``."""
    repo_root = Path(__file__).resolve().parents[2]
    tmp = tmp_path_factory.mktemp("ddp")
    ensure_phantom_dataset(tmp / "phantom", n_unpaired=2, n_paired=1, shape=(40, 40, 8))
    return tmp, _torchrun(repo_root, tmp, "run")


def test_ranks_train_in_lockstep_and_only_rank0_writes(ddp_run: tuple[Path, list[dict[str, Any]]]) -> None:
    tmp, (rank0, rank1) = ddp_run
    # different batches on each rank, identical networks: the gradients were averaged
    assert rank0["iteration"] == rank1["iteration"] == 2
    assert rank0["loss_G"] != rank1["loss_G"]
    _assert_same_weights(rank0["weights"], rank1["weights"])
    initial = build_generator("resnet", channels=4, num_res_blocks=1, seed=0).state_dict()
    assert any(not torch.equal(initial[k], v) for k, v in rank0["weights"]["g_a"].items())

    out = tmp / "run" / "rank0"
    assert not (tmp / "run" / "rank1").exists()
    assert (out / "checkpoints" / "checkpoint_2.pt").is_file()
    assert len(list((out / "checkpoints").glob("best_checkpoint_2_*.pt"))) == 1
    assert list((out / "tensorboard").iterdir())
    assert (out / "samples" / "epoch_001.png").is_file()
    assert {"losses.csv", "losses.json", "loss_curves.png"} <= {p.name for p in out.iterdir()}

    # the checkpoint holds the unwrapped networks (no "module." prefix), equal to what every rank ended with
    checkpoint = torch.load(out / "checkpoints" / "checkpoint_2.pt", weights_only=True)
    _assert_same_weights({n: checkpoint[n] for n in NETWORKS}, rank0["weights"])


def test_ddp_checkpoint_resumes_without_ddp(ddp_run: tuple[Path, list[dict[str, Any]]], repo_root: Path) -> None:
    """One process with 4 samples per epoch has the DDP run's epoch length (2 iterations): it resumes exactly
    there with the DDP-trained weights and trains one more epoch."""
    tmp, (rank0, _) = ddp_run
    parser = ConfigParser()
    parser.read_config(str(repo_root / "bundles/ct2mri/configs/train.json"))
    overrides = {**TINY_RUN, "samples_per_epoch": 4, "epochs": 2, "dataset_dir": str(tmp / "phantom")}
    overrides |= {"output_dir": str(tmp / "single"), "resume": str(tmp / "run/rank0/checkpoints/checkpoint_2.pt")}
    parser.update(overrides)
    try:
        parser.get_parsed_content("initialize")
        handlers = parser.get_parsed_content("handlers")
        trainer = parser.get_parsed_content("train#trainer")
        assert handlers.resumed_from == tmp / "run/rank0/checkpoints/checkpoint_2.pt"
        assert (trainer.state.iteration, trainer.state.epoch) == (2, 1)
        _assert_same_weights({n: getattr(trainer, n).state_dict() for n in NETWORKS}, rank0["weights"])
        trainer.run()
    finally:
        set_determinism(None)
    assert (trainer.state.iteration, trainer.state.epoch) == (4, 2)
    assert (tmp / "single" / "checkpoints" / "checkpoint_4.pt").is_file()


@pytest.mark.slow  # a second torchrun that compiles: ~1-2 min on a shared 2-core machine
def test_ddp_checkpoint_resumes_under_ddp_on_the_fast_path(
    ddp_run: tuple[Path, list[dict[str, Any]]], repo_root: Path
) -> None:
    """Scale-out keeps the training fast path: compiled, channels_last and (where native) bf16 DDP ranks resume
    the fp32 checkpoint and stay in lockstep."""
    tmp, _ = ddp_run
    checkpoint = tmp / "run/rank0/checkpoints/checkpoint_2.pt"
    fast = {"compile": True, "channels_last": True}  # amp: train.json's default, bf16 where native
    rank0, rank1 = _torchrun(repo_root, tmp, "resumed", resume=checkpoint, epochs=2, **fast)
    assert rank0["iteration"] == rank1["iteration"] == 4
    _assert_same_weights(rank0["weights"], rank1["weights"])
    assert not (tmp / "resumed" / "rank1").exists()
    assert {p.name for p in (tmp / "resumed/rank0/checkpoints").glob("checkpoint_*.pt")} == {"checkpoint_4.pt"}
