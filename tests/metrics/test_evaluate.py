"""Evaluation workflow: registration recovers a misaligned pair, baselines, CNN baseline, report and figures."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from medtranslate.errors import InputError
from medtranslate.metrics.cnn_baseline import train_cnn_baseline
from medtranslate.metrics.evaluate import (
    PairedCase,
    evaluate,
    load_paired_cases,
    paired_evaluation,
    register_pair,
    unpaired_evaluation,
)
from medtranslate.metrics.figures import save_case_figure
from medtranslate.metrics.paired import paired_metrics, symmetric_to_unit
from medtranslate.metrics.report import REPORT_FILES, summarise, write_report


def _head(size: int = 64, seed: int = 0) -> np.ndarray:
    """A head-like slice on [-1, 1]: background -1, an ellipse with a bright rim and textured inside."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    r = np.sqrt((xx / 0.75) ** 2 + (yy / 0.6) ** 2)
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0)
    inside = 0.2 + 0.3 * np.sin(5 * xx) * np.cos(3 * yy) + 0.5 * texture
    img = np.where(r < 0.85, inside, -1.0)
    img = np.where((r >= 0.85) & (r < 1.0), 0.9, img)
    return img.astype(np.float32)


def _misaligned(img: np.ndarray) -> np.ndarray:
    moved = ndimage.rotate(img, 8.0, reshape=False, order=1, cval=-1.0)
    return ndimage.shift(moved, (3.0, -4.0), order=1, cval=-1.0).astype(np.float32)


def test_registration_recovers_a_shifted_rotated_pair() -> None:
    ct = torch.from_numpy(_head())[None]
    mri = torch.from_numpy(_misaligned(_head()))[None]  # same anatomy, moved: what a perfect model would face
    mask = ct > -0.9
    before = paired_metrics(symmetric_to_unit(ct), symmetric_to_unit(mri), mask)
    moved, valid, record = register_pair(ct, mri, transform="rigid")
    after = paired_metrics(symmetric_to_unit(ct), symmetric_to_unit(moved), mask & valid)
    assert record["applied"] and record["transform"] == "rigid"
    assert moved.shape == ct.shape and valid.float().mean() > 0.8  # corners uncovered by the rotation
    assert after["MAE"] < before["MAE"] / 3
    assert after["SSIM"] > before["SSIM"] + 0.2


def test_registration_is_repeatable_with_seed_zero() -> None:
    ct = torch.from_numpy(_head())[None]
    mri = torch.from_numpy(_misaligned(_head()))[None]
    first, _, a = register_pair(ct, mri, transform="rigid", seed=0)
    second, _, b = register_pair(ct, mri, transform="rigid", seed=0)
    assert a["mattes_mi"] == b["mattes_mi"] and torch.equal(first, second)  # 0 is not SimpleITK's wall clock


def _case(ct: np.ndarray, mri: np.ndarray, case_id: str = "s/0", group: str = "s") -> PairedCase:
    t = torch.from_numpy(ct)[None]
    return PairedCase(case_id, group, t, torch.from_numpy(mri)[None], t > -0.9, {"applied": False})


def test_identity_baseline_scores_zero_when_mri_equals_ct() -> None:
    img = _head()
    case = _case(img, img)
    result = paired_evaluation([case], {"identity": case.ct[None]})
    (row,) = result["rows"]
    assert row["MAE"] == 0 and row["MSE"] == 0 and math.isinf(row["PSNR"])
    assert result["summary"]["identity"]["PSNR"]["n_nonfinite"] == 1
    assert "no registration" in result["protocol"] and "[0, 1]" in result["protocol"]


def test_cnn_baseline_loss_goes_down() -> None:
    gen = torch.Generator().manual_seed(0)
    ct = torch.stack([torch.from_numpy(_head(32, s)) for s in range(6)])[:, None]
    mri = -ct.flip(0) + 0.05 * torch.randn(ct.shape, generator=gen)
    result = train_cnn_baseline(ct, mri, iterations=20, seed=0, batch_size=2, channels=4, num_res_blocks=1)
    assert len(result.losses) == 20
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])
    assert not result.network.training and "random CT/MRI pairs" in result.protocol


def test_report_files_and_protocols(tmp_path: Path) -> None:
    img = _head(32)
    cases = [_case(img, img, "a/0", "a"), _case(img, -img, "b/0", "b")]
    preds = {"identity": torch.stack([c.ct for c in cases])}
    paired = paired_evaluation(cases, preds, reference="T1-MRI")
    x = torch.from_numpy(np.stack([_head(32, s) for s in range(6)]))[:, None]
    unpaired = unpaired_evaluation({"identity": x}, -x, n_boot=5)
    report = {"paired": paired, "unpaired": {**unpaired, "data": {"n_ct": 6}}, "messages": ["model skipped"]}
    write_report(report, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["paired"]["rows"][0]["PSNR"] == "inf"  # JSON has no infinity literal
    assert loaded["messages"] == ["model skipped"]
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["case_id"] for r in rows] == ["a/0", "b/0"]
    assert float(rows[0]["MAE"]) == 0 and float(rows[1]["MAE"]) > 0
    assert all("T1-MRI" in r["protocol"] for r in rows)
    with open(tmp_path / "summary.csv") as f:
        summary = list(csv.DictReader(f))
    mae = next(r for r in summary if r["evaluation"] == "paired" and r["metric"] == "MAE")
    assert float(mae["value"]) == pytest.approx(np.mean([float(r["MAE"]) for r in rows]))
    assert mae["n"] == "2"
    swd = next(r for r in summary if r["evaluation"] == "unpaired" and r["metric"] == "SWD")
    assert float(swd["ci_low"]) <= float(swd["ci_high"]) and "bootstrap" in swd["protocol"]
    mix = next(r for r in summary if r["metric"] == "PSNR_paper_scale_mix")
    consistent = next(r for r in summary if r["metric"] == "PSNR_[-1,1]")
    assert float(mix["value"]) - float(consistent["value"]) == pytest.approx(20 * math.log10(127.5), abs=1e-6)
    with pytest.raises(Exception, match="exists"):
        write_report(report, tmp_path)


def test_summarise_mean_std_n() -> None:
    rows = [{"method": "m", "MAE": 0.1}, {"method": "m", "MAE": 0.3}, {"method": "k", "MAE": 1.0}]
    s = summarise(rows)
    assert s["m"]["MAE"]["mean"] == pytest.approx(0.2) and s["m"]["MAE"]["std"] == pytest.approx(0.1)
    assert s["m"]["MAE"]["n"] == 2 and s["k"]["MAE"]["n"] == 1


def test_case_figure_columns(tmp_path: Path) -> None:
    size = 32
    ct = torch.from_numpy(_head(size))[None]
    path = tmp_path / "fig" / "case.png"
    outputs = {"model": -ct, "identity": ct}
    mask = ct > -0.9
    titles = save_case_figure(path, ct, outputs, real_mri=-ct, reconstructed_ct=ct, difference_of="model", mask=mask)
    assert titles == ["CT", "model", "identity", "reconstructed CT", "real MRI", "|model - real|"]
    grid = np.asarray(Image.open(path))
    pad = 2
    assert grid.shape[1] == len(titles) * size + (len(titles) + 1) * pad
    diff_tile = grid[-pad - size : -pad, -pad - size : -pad]
    assert diff_tile.max() == 0  # model == real MRI: the difference map is black


def test_evaluate_needs_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="paired_dir, unpaired_dir"):
        evaluate(tmp_path)


def _write_paired_layout(root: Path, size: int = 64) -> None:
    for p, patient in enumerate(("Patient_01", "Patient_02")):
        for k in range(2):
            img = _head(size, seed=10 * p + k)
            ct8 = ((img + 1) * 127.5).astype(np.uint8)
            mri8 = ((1 - _misaligned(img)) * 127.5).clip(0, 255).astype(np.uint8)  # inverted contrast, moved
            for folder, data in (("CT", ct8), ("T1-MRI", mri8)):
                (root / patient / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(data).save(root / patient / folder / f"{k:03d}.png")


def test_evaluate_paired_layout_without_model(tmp_path: Path, assert_unchanged) -> None:
    data = tmp_path / "paired"
    _write_paired_layout(data)
    with assert_unchanged(data):
        report = evaluate(
            tmp_path / "out", paired_dir=data, generator=tmp_path / "models" / "model.pt", image_size=32,
            cnn_iterations=3, cnn_image_size=32, max_figures=1, transform="rigid",
        )  # fmt: skip
    assert report["messages"] and "no trained weights" in report["messages"][0]
    assert set(report["paired"]["summary"]) == {"identity", "inversion_histmatch", "cnn_random_pairs"}
    assert all(r["applied"] for r in report["paired"]["registration"])
    assert "other subjects" in report["paired"]["inversion_histmatch_reference"]
    assert "randomly re-paired" in report["baselines"]["cnn_random_pairs"]["protocol"]
    assert len(report["figures"]) == 1 and Path(report["figures"][0]).is_file()
    assert all((tmp_path / "out" / name).is_file() for name in REPORT_FILES)


def test_a_failed_registration_leaves_the_case_out_and_says_so(tmp_path: Path, monkeypatch) -> None:
    import medtranslate.metrics.evaluate as ev

    data = tmp_path / "paired"
    _write_paired_layout(data)
    register = ev.register_pair

    def flaky(ct, mri, transform="affine", seed=0):
        if flaky.calls == 1:  # the second slice pair: what SimpleITK raises when the images do not overlap
            flaky.calls += 1
            raise RuntimeError("ITK ERROR: All samples map outside moving image buffer.")
        flaky.calls += 1
        return register(ct, mri, transform, seed)

    flaky.calls = 0
    monkeypatch.setattr(ev, "register_pair", flaky)
    report = evaluate(
        tmp_path / "out", paired_dir=data, image_size=32, cnn_iterations=0, max_figures=1, transform="rigid",
    )  # fmt: skip
    assert [s["case_id"] for s in report["paired"]["skipped"]] == ["Patient_01/001"]
    assert "outside moving image buffer" in report["paired"]["skipped"][0]["reason"]
    assert any("Patient_01/001 left out" in m for m in report["messages"])
    assert report["paired"]["summary"]["identity"]["MAE"]["n"] == 3


def test_evaluate_with_model_and_cycle(tmp_path: Path) -> None:
    data = tmp_path / "paired"
    _write_paired_layout(data)
    report = evaluate(
        tmp_path / "out", paired_dir=data, generator=lambda x: -x, generator_b=lambda x: -x, image_size=32,
        registered=True, cnn_iterations=0, max_figures=1,
    )  # fmt: skip
    assert report["messages"] == []
    assert set(report["paired"]["summary"]) == {"model", "identity", "inversion_histmatch"}
    assert "no registration" in report["paired"]["protocol"]
    titles_width = np.asarray(Image.open(report["figures"][0])).shape[1]
    assert titles_width == 7 * 32 + 8 * 2  # CT, model, identity, inversion, reconstructed CT, real MRI, |diff|


def test_load_paired_cases_phantom_volumes(tmp_path: Path) -> None:
    from medtranslate.data.phantom import write_phantom_dataset

    root = write_phantom_dataset(tmp_path / "phantom", n_unpaired=1, n_paired=1, shape=(32, 32, 12), seed=0)
    cases = load_paired_cases(root, image_size=32, max_cases=2)
    assert len(cases) == 2 and not cases[0].registration["applied"]
    assert cases[0].ct.shape == (1, 32, 32) and cases[0].mask.any()


@pytest.mark.shared_data
def test_paired_baselines_on_real_slices(shared_data: Path, tmp_path: Path) -> None:
    cases = load_paired_cases(shared_data / "paired_ct_mr", image_size=64, max_cases=3)
    assert [c.group for c in cases] == ["Patient_01", "Patient_02", "Patient_03"]
    report = evaluate(
        tmp_path, paired_dir=shared_data / "paired_ct_mr", image_size=64, max_paired=3, cnn_iterations=0,
        max_figures=0,
    )  # fmt: skip
    summary = report["paired"]["summary"]
    for method in ("identity", "inversion_histmatch"):
        assert all(math.isfinite(summary[method][m]["mean"]) for m in ("MAE", "MSE", "PSNR", "SSIM"))
    assert summary["inversion_histmatch"]["MAE"]["mean"] < summary["identity"]["MAE"]["mean"]


@pytest.mark.shared_data
def test_unpaired_distance_on_kaggle_images(shared_data: Path) -> None:
    from medtranslate.metrics.evaluate import load_unpaired_split

    ct, mri, info = load_unpaired_split(shared_data / "kaggle_ct2mri", "test", image_size=32, max_images=6)
    assert ct.shape == (6, 1, 32, 32) and mri.shape == (6, 1, 32, 32)
    assert info["available"]["mri"] <= 124 - 29  # the 29 test MRI leaking from training are dropped
    result = unpaired_evaluation({"identity": ct, "inverted": -ct}, mri, n_boot=5)
    for name in ("identity", "inverted"):
        assert math.isfinite(result["methods"][name]["SWD"]["value"])
        assert math.isfinite(result["methods"][name]["intensity_W1"]["value"])


def test_bundle_config_calls_evaluate_with_its_parameters() -> None:
    import inspect
    import re

    from monai.bundle import ConfigParser

    config = Path(__file__).parents[2] / "bundles" / "ct2mri" / "configs" / "evaluate.json"
    parser = ConfigParser()
    parser.read_config(config)
    expression = parser["evaluation"]
    assert expression.startswith("$medtranslate.metrics.evaluate.evaluate(")
    keywords = set(re.findall(r"(\w+)=@", expression))
    assert keywords <= set(inspect.signature(evaluate).parameters)
    assert {"generator", "network", "paired_dir", "unpaired_dir", "cnn_iterations"} <= keywords
    assert parser["ckpt_path"].endswith("/models/model.pt'")
