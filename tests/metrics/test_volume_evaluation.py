"""Volume evaluation: 3D metrics of whole translated volumes, the report's volume section, reformat figures."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.errors import InputError
from medtranslate.metrics.evaluate import evaluate
from medtranslate.metrics.figures import reformat_figure
from medtranslate.metrics.report import VOLUME_METRICS
from medtranslate.metrics.volume import volume_metrics
from medtranslate.networks import ResNetGenerator


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_phantom_dataset(tmp_path_factory.mktemp("vol") / "p", n_unpaired=1, n_paired=1, shape=(32, 32, 16))


def _ball(shape: tuple[int, int, int] = (24, 24, 16)) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured ball on [0, 1] and its mask, (1, X, Y, Z)."""
    torch.manual_seed(0)
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, s) for s in shape], indexing="ij"))
    mask = (grid**2).sum(0) < 0.8
    volume = torch.where(mask, 0.5 + 0.3 * torch.sin(4 * grid[0]) * torch.cos(3 * grid[2]), 0.0)
    return volume[None], mask[None]


def test_3d_ssim_of_identical_volumes_is_one() -> None:
    volume, mask = _ball()
    values = volume_metrics(volume, volume, mask)
    assert values["SSIM"] == pytest.approx(1.0, abs=1e-5)
    assert values["MAE"] == 0 and math.isinf(values["PSNR"]) and values["through_plane_consistency"] == 1.0
    noisy = volume_metrics((volume + 0.1 * torch.randn_like(volume)).clamp(0, 1), volume, mask)
    assert noisy["SSIM"] < 0.9 and noisy["MAE"] > 0


def test_a_head_thinner_than_the_ssim_window_scores_the_rest() -> None:
    volume, mask = _ball((24, 24, 8))
    values = volume_metrics(volume, volume * 0.5, mask)
    assert math.isnan(values["SSIM"]) and values["MAE"] > 0 and math.isfinite(values["PSNR"])


def test_reformat_figure_has_a_row_per_volume_at_the_stated_size(tmp_path: Path) -> None:
    volume, _ = _ball()
    rows = {"real MRI": volume * 2 - 1, "2D": -volume[0], "2.5D": volume[0], "3D": volume}
    path = reformat_figure(tmp_path / "f" / "reformat.png", rows, (2.0, 2.0, 3.0), title="phantom", dpi=50)
    assert Image.open(path).size == (360, 495)  # 3 × 2.4 in and 4 × 2.4 + 0.3 in at 50 dpi
    with pytest.raises(ValueError, match="one shape"):
        reformat_figure(tmp_path / "g.png", {"a": volume, "b": volume[..., :8]}, (2.0, 2.0, 3.0))


def test_evaluate_scores_whole_volumes_of_a_tiny_model(phantom: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = ResNetGenerator(channels=4, num_res_blocks=1)
    report = evaluate(
        tmp_path, paired_dir=phantom, generator=network, image_size=32, cnn_iterations=0, max_paired=2, max_figures=1
    )
    volume = report["volume"]
    assert volume["n"] == 1 and "through_plane_consistency" in volume["protocol"]
    assert "3D SSIM (MONAI" in volume["protocol"] and "[0, 1]" in volume["protocol"]
    assert {r["method"] for r in volume["rows"]} == {"model", "identity"}
    row = next(r for r in volume["rows"] if r["method"] == "model")
    assert row["spacing_mm"] == [2.0, 2.0, 3.0] and row["shape"] == [32, 32, 16]
    assert all(math.isfinite(row[m]) for m in ("MAE", "PSNR", "SSIM", "through_plane_consistency"))
    (figure,) = volume["figures"]
    assert figure in report["figures"] and Image.open(figure).size == (720, 750)  # CT, model, real MRI + title
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["volume"]["summary"]["model"]["through_plane_consistency"]["n"] == 1
    with open(tmp_path / "per_image.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["evaluation"] == "volume"]
    assert len(rows) == 2 and all(r["through_plane_consistency"] for r in rows)
    with open(tmp_path / "summary.csv") as f:
        metrics = {r["metric"] for r in csv.DictReader(f) if r["evaluation"] == "volume"}
    assert metrics == set(VOLUME_METRICS) - {"MS-SSIM"}


@pytest.mark.parametrize(
    ("network", "words"),
    [
        (ResNetGenerator(in_channels=3, channels=4, num_res_blocks=1), "2.5D model (3 slices in)"),
        (ResNetGenerator(spatial_dims=3, channels=2, num_res_blocks=1), "3D model"),
    ],
    ids=["2.5d", "3d"],
)
def test_slab_and_3d_models_are_scored_on_volumes_only(
    network: torch.nn.Module, words: str, phantom: Path, tmp_path: Path
) -> None:
    report = evaluate(
        tmp_path, paired_dir=phantom, generator=network, image_size=32, model_image_size=16, spacing=3.0,
        cnn_iterations=0, max_paired=1, max_figures=0,
    )  # fmt: skip
    assert "model" not in report["paired"]["summary"]
    assert any(f"{words} is scored on whole volumes" in m for m in report["messages"])
    row = next(r for r in report["volume"]["rows"] if r["method"] == "model")
    assert math.isfinite(row["SSIM"]) and math.isfinite(row["through_plane_consistency"])


def test_volumes_can_be_skipped_or_required(phantom: Path, tmp_path: Path) -> None:
    settings = {"image_size": 32, "cnn_iterations": 0, "max_paired": 1, "max_figures": 0}
    assert "volume" not in evaluate(tmp_path / "a", paired_dir=phantom, volumes=False, **settings)
    volume = _ball((32, 32, 3))[0][..., 1:2]
    for folder in ("CT", "T1-MRI"):  # the slice layout: patient folders of matched PNG slices
        (tmp_path / "slices" / "Patient_01" / folder).mkdir(parents=True)
        Image.fromarray((volume[0, ..., 0] * 255).byte().numpy()).save(
            tmp_path / "slices" / "Patient_01" / folder / "000.png"
        )
    slices = evaluate(tmp_path / "b", paired_dir=tmp_path / "slices", registered=True, **settings)
    assert "paired" in slices and "volume" not in slices
    with pytest.raises(InputError, match="no paired CT/MRI volumes"):
        evaluate(tmp_path / "c", paired_dir=tmp_path / "slices", registered=True, volumes=True, **settings)
