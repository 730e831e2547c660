"""``python -m benchmarks [--quick] [--json out.json]``: print the table of ratios and optionally write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import torch

from benchmarks.measure import FULL, MICRO, QUICK, SECTIONS, run_benchmarks

__all__ = ["format_table", "main"]


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def format_table(result: dict[str, Any]) -> str:
    """A plain-text (Markdown) table of ``run_benchmarks``' result: seconds, ÷ baseline, ÷ compute bound."""
    m, c = result["machine"], result["config"]
    reduced = next((short for short in ("bf16", "fp16") if f"conv3x3_256_{short}_gflops" in m), None)
    lines = [
        f"machine: {m['cpu']}, device {m.get('device', 'cpu')}, {m['threads']} threads, torch {m['torch']}; measured "
        f"limits: 3×3 conv 256 ch {m['conv3x3_256_gflops']:.1f} GFLOP/s (channels_last "
        f"{m['conv3x3_256_channels_last_gflops']:.1f}; the larger is the limit), matmul "
        f"{m['matmul_gflops']:.1f} GFLOP/s"
        + (
            f"; {reduced} autocast conv {m[f'conv3x3_256_{reduced}_gflops']:.1f} GFLOP/s (channels_last "
            f"{m[f'conv3x3_256_channels_last_{reduced}_gflops']:.1f}), the limit of the {reduced} rows"
            if reduced
            else "; no native reduced precision on this device"
        ),
        f"config {c['name']}: inference ResNet generator ngf {c['ngf']}, {c['n_blocks']} blocks on "
        f"{c['image_size']}×{c['image_size']}×{c['slices']}; training {c['train_size']}², batch {c['train_batch']}, "
        f"ngf {c['train_ngf']}, ndf {c['train_ndf']}, {c['train_iterations']} timed iterations; median of "
        f"{c['repeats']} (inference) / {c['train_repeats']} (training) round-robin repeats",
        "",
        "| workload | variant | seconds | ÷ baseline (speed-up) | of limit (bound ÷ time) | notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    units = (("inference", "per volume"), ("training", "per iteration"), ("command", "whole command"), ("kinds", ""))
    for section, unit in units:
        for row in result.get(section, []):
            label = f"model kinds, {row['workload']}" if "workload" in row else f"{section} ({unit})"
            notes = []
            if "voxels" in row:
                notes.append(f"{row['voxels']:,} voxels per batch")
            if "setup_s" in row:
                notes.append(f"one-off setup {row['setup_s']:.1f} s")
            if "data_wait_s" in row:
                notes.append(f"data wait {row['data_wait_s'] * 1e3:.1f} ms/it")
            if "vs_baseline" not in row:  # a plain timing (start-up)
                lines.append(f"| {section} | {row['name']} | {row['seconds']:.3f} | | | |")
                continue
            lines.append(
                f"| {label} | {row['name']} | {row['seconds']:.3f} | {row['vs_baseline']:.2f}× | "
                f"{row['of_limit']:.2f} | {'; '.join(notes)} |"
            )
    if result.get("memory"):
        lines += ["", "| memory job | peak above base | relative |", "|---|---:|---|"]
    for row in result.get("memory", []):
        if "ratio_to_volume" in row:
            rel = f"{row['ratio_to_volume']:.2f}× the float32 volume ({_mib(row['volume_bytes'])}; target < 3)"
        else:
            rel = f"{row['peak_above_base_bytes'] / row['parameter_bytes']:.1f}× the parameters"
        lines.append(f"| {row['name']} | {_mib(row['peak_above_base_bytes'])} | {rel} |")
    lines.append(
        f"\nwall time {result['wall_s']:.0f} s; 1-minute load average {result['load_average_start']:.1f} at the start, "
        f"{result['load_average_end']:.1f} at the end (above the thread count, other processes shared the cores)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks selected by ``argv``, print the table, write ``--json``; return the result."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the < 3 minute configuration (4 slices at 256²)")
    mode.add_argument("--micro", action="store_true", help="seconds-long structure check (numbers meaningless)")
    parser.add_argument("--json", help="write the full result to this JSON file")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="where to run: cpu (default) or cuda[:N]")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated parts to run (default: {','.join(SECTIONS)})"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    config = dataclasses.replace(MICRO if args.micro else QUICK if args.quick else FULL, device=args.device)
    result = run_benchmarks(config, sections)
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
