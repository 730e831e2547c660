"""`medtranslate evaluate`: the model row from the bundle's architecture, baselines always, one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medtranslate.cli import main
from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.networks import ResNetGenerator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paired_phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_phantom_dataset(tmp_path_factory.mktemp("ev") / "p", n_unpaired=1, n_paired=1, shape=(32, 32, 8))


def _args(out: Path, data: Path, *extra: str) -> list[str]:
    return [
        "evaluate",
        "-o",
        str(out),
        "--paired",
        str(data),
        "--image-size",
        "32",
        "--max-paired",
        "2",
        "--cnn-iterations",
        "5",
        "--device",
        "cpu",
        *extra,
    ]


def test_evaluate_scores_model_and_baselines(paired_phantom: Path, tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "model.pt"
    config = json.loads((REPO / "bundles" / "ct2mri" / "configs" / "inference.json").read_text())
    net = ResNetGenerator(channels=config["ngf"], num_res_blocks=config["n_blocks"])  # the bundle's architecture
    torch.save({"g_a": net.state_dict(), "g_b": net.state_dict()}, ckpt)  # a training checkpoint's generators
    argv = _args(tmp_path / "report", paired_phantom, "--ckpt", str(ckpt), "--ckpt-b", str(ckpt))
    assert main([*argv, "--model-image-size", "32"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    methods = set(report["paired"]["summary"])
    assert {"model", "identity", "inversion_histmatch", "cnn_random_pairs"} <= methods
    assert "inside the CT head mask" in report["paired"]["protocol"]
    assert report["paired"]["summary"]["identity"]["MAE"]["mean"] > 0
    assert "model" in capsys.readouterr().out
    assert report["figures"] and not any("reconstructed CT not shown" in m for m in report["messages"])


def test_missing_model_reports_baselines_only(paired_phantom: Path, tmp_path: Path, capsys) -> None:
    assert main(_args(tmp_path / "report", paired_phantom, "--ckpt", str(tmp_path / "absent.pt"))) == 0
    out = capsys.readouterr().out
    assert "model skipped" in out and "identity" in out


def test_wrong_architecture_is_one_line(paired_phantom: Path, tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "small.pt"
    torch.save(ResNetGenerator(channels=4, num_res_blocks=1).state_dict(), ckpt)
    assert main(_args(tmp_path / "report", paired_phantom, "--ckpt", str(ckpt))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "small.pt" in err[0]
    assert not (tmp_path / "report").exists()


def test_volume_section_runs_on_volume_pairs_unless_skipped(paired_phantom: Path, tmp_path: Path, capsys) -> None:
    argv = _args(tmp_path / "a", paired_phantom, "--ckpt", str(tmp_path / "absent.pt"), "--cnn-iterations", "0")
    assert main(argv) == 0
    assert "through_plane_consistency" in capsys.readouterr().out
    assert "volume" in json.loads((tmp_path / "a" / "report.json").read_text())
    argv = _args(tmp_path / "b", paired_phantom, "--ckpt", str(tmp_path / "absent.pt"), "--no-volumes")
    assert main(argv) == 0
    assert "volume" not in json.loads((tmp_path / "b" / "report.json").read_text())
