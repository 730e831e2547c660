"""The benchmark machinery on a micro configuration: structure only (ratios present and positive), never timings."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ lives in the checkout, outside the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import memory  # noqa: E402
from benchmarks.measure import MICRO, count_flops, run_benchmarks  # noqa: E402
from benchmarks.reference import ReferencePool, reference_test_loop, reference_train_loop  # noqa: E402
from medtranslate.networks import ResNetGenerator, build_discriminator  # noqa: E402

#: the micro run without its two subprocesses (tested in-process below)
IN_PROCESS = dataclasses.replace(MICRO, memory_shape=None, train_memory=())


@pytest.fixture(scope="module")
def micro_result() -> dict:
    torch.manual_seed(0)
    return run_benchmarks(IN_PROCESS)


def test_every_figure_is_a_positive_ratio(micro_result: dict) -> None:
    assert micro_result["machine"]["conv3x3_256_gflops"] > 0 and micro_result["machine"]["matmul_gflops"] > 0
    for section in ("inference", "training"):
        rows = micro_result[section]
        assert rows[0]["name"].startswith("reference loop") and rows[0]["vs_baseline"] == pytest.approx(1.0)
        assert len(rows) >= 4
        for row in rows:
            assert row["seconds"] > 0 and row["vs_baseline"] > 0 and row["of_limit"] > 0
    command = micro_result["command"]  # the whole CLI run against the plain slice loop of the same weights
    assert command[0]["name"].startswith("plain eager fp32") and command[0]["vs_baseline"] == pytest.approx(1.0)
    assert command[1]["name"].startswith("`medtranslate translate`") and command[1]["vs_baseline"] > 0
    assert command[2]["seconds"] > 0  # --help's start-up
    assert any("onnxruntime" in row["name"] for row in micro_result["inference"])
    assert all(row["data_wait_s"] >= 0 for row in micro_result["training"][1:])


def test_the_kinds_rows_are_ratios_to_the_2d_model(micro_result: dict) -> None:
    rows = micro_result["kinds"]
    for workload in ("training (per iteration)", "inference (per volume)"):
        kinds = [r["name"].split(" ")[0].rstrip(",") for r in rows if r["workload"] == workload]
        assert kinds == ["2D", "2.5D", "3D"]
        first = next(r for r in rows if r["workload"] == workload)
        assert first["vs_baseline"] == pytest.approx(1.0)
    assert all(r["seconds"] > 0 and r["vs_baseline"] > 0 and r["of_limit"] > 0 for r in rows)
    assert "model kinds, training (per iteration)" in cli.format_table(micro_result)


def test_the_kind_memory_job_reports_a_ratio_to_the_volume(capsys: pytest.CaptureFixture) -> None:
    settings = json.dumps(dataclasses.asdict(MICRO.kinds))
    result = memory.main(["kind", "3d", "--settings", settings])
    assert result["output_shape"] == [1, *MICRO.kinds.volume] and result["volume_bytes"] == 32 * 32 * 6 * 4
    assert isinstance(result["peak_above_base_bytes"], int)


def test_table_and_json_from_the_command_line(
    micro_result: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    asked = []

    def fake_run(config, sections):
        asked.append(sections)
        return {**micro_result, "config": dataclasses.asdict(config)}

    monkeypatch.setattr(cli, "run_benchmarks", fake_run)
    out = tmp_path / "bench.json"
    cli.main(["--micro", "--json", str(out)])
    table = capsys.readouterr().out
    assert "÷ baseline" in table and "of limit" in table and "reference loop" in table
    assert json.loads(out.read_text())["config"]["name"] == "micro"
    cli.main(["--micro", "--sections", "inference, training"])
    assert asked == [("inference", "training", "command", "memory", "kinds"), ("inference", "training")]


def test_sections_select_what_runs() -> None:
    only = run_benchmarks(dataclasses.replace(IN_PROCESS, onnx=False), ("inference",))
    assert "inference" in only and not {"training", "command", "memory"} & set(only)
    assert only["machine"]["conv3x3_256_gflops"] > 0
    native = "conv3x3_256_bf16_gflops" in only["machine"]  # measured only where the CPU has native bf16
    assert any(row["precision"] == "bf16" for row in only["inference"]) == native
    assert ("no native reduced precision" in cli.format_table(only)) != native
    with pytest.raises(ValueError, match="unknown sections"):
        run_benchmarks(IN_PROCESS, ("speed",))


TRANSLATE_JOB = ["translate", "40", "24", "3", "--ngf", "2", "--batch", "2", "--backend", "onnxruntime"]
TRAIN_JOB = ["train", "32", "1", "--ngf", "2", "--ndf", "2"]


@pytest.mark.parametrize("argv", [TRANSLATE_JOB, TRAIN_JOB])
def test_memory_jobs_report_a_peak(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    """The job's JSON line; not the sign of its figure: run inside pytest (not in the fresh process the benchmark
    uses), the other threads of this process can free pages between the reset and the job, so a tiny job's peak
    above base can read a few pages below zero on a busy machine."""
    result = memory.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert isinstance(result["peak_above_base_bytes"], int)
    if argv[0] == "translate":
        assert result["output_shape"] == [1, 40, 24, 3] and result["volume_bytes"] == 40 * 24 * 3 * 4


def test_peak_counts_an_allocation_after_the_reset() -> None:
    base = memory.reset_peak()
    block = torch.ones(16 * 2**20)  # 64 MiB, written: resident, far above what other threads move
    assert memory.peak_rss_bytes() - base >= 32 * 2**20
    del block


def test_reference_loops_run_and_count_flops() -> None:
    torch.manual_seed(0)
    g_a, g_b = ResNetGenerator(channels=2, num_res_blocks=1), ResNetGenerator(channels=2, num_res_blocks=1)
    d_a, d_b = build_discriminator(channels=2, seed=0), build_discriminator(channels=2, seed=1)
    batch = (torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1)
    log = reference_train_loop(iter([batch, batch]), 2, g_a, g_b, d_a, d_b, lambda_identity=0.5, pool_size=1)
    assert len(log) == 2 and set(log[0]) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    assert len(ReferencePool(1).query(batch[0])) == 2
    out = reference_test_loop(g_a, batch[0])
    assert out.shape == batch[0].shape
    assert count_flops(lambda: g_a(batch[0][:1])) > 0


def test_the_recipe_run_reports_ratios(tmp_path: Path) -> None:
    from benchmarks import recipe

    out = recipe.main(
        ["--iterations", "2", "--size", "32", "--ngf", "4", "--ndf", "4", "--json", str(tmp_path / "r.json")]
    )
    assert json.loads((tmp_path / "r.json").read_text()) == out
    assert out["seconds_per_iteration"] > 0 and out["of_limit"] > 0 and out["data_wait_fraction"] >= 0
    assert out["gflop_per_iteration"] > 0 and out["precision"] in ("fp32", "bf16")


@pytest.mark.slow  # the micro benchmark and a short recipe run in a subprocess (~1 minute on 2 cores)
def test_the_gpu_check_script_runs_its_steps_on_a_cpu(tmp_path: Path) -> None:
    import os
    import subprocess

    env = {
        **os.environ,
        "DEVICE": "cpu",
        "QUICK": "--micro",
        "ITERATIONS": "2",
        "SIZE": "32",
        "NGF": "4",
        "COMPILE": "",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"device.txt", "cuda_tests.txt", "quick.json", "quick.md", "recipe.json", "recipe.txt"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert "skipped" in (tmp_path / "cuda_tests.txt").read_text()  # no CUDA here: the CUDA tests skip, and say so
    assert "of the" in (tmp_path / "recipe.txt").read_text()
