"""``python -m benchmarks.recipe``: N iterations of a training recipe on the built-in phantom, as a ratio.

The paper's recipe by default (``configs/paper.json``: 256², batch 1, ngf/ndf 64, 6 blocks, identity 0.5) fed
by the bundle's real data pipeline (``train_dataset`` on the phantom, ``CacheDataset``), with the fast path the
device pays for (its native reduced precision, channels_last, ``torch.compile`` with ``--compile``, fused Adam).
Prints seconds per iteration after the warm-up (the compile), the data wait, and *of limit*: the iteration's
FLOPs at the device's measured conv limit of its precision ÷ the measured time (:mod:`benchmarks.measure`).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.measure import (
    _engine_seconds,
    _reduced,
    count_flops,
    cyclegan_networks,
    machine_limits,
    precision_limits,
)
from benchmarks.reference import reference_train_loop

__all__ = ["main", "run_recipe"]

#: the paper's identity-loss weight (``configs/paper.json``)
IDENTITY = 0.5


def run_recipe(
    device: str = "cpu",
    iterations: int = 500,
    size: int = 256,
    batch: int = 1,
    ngf: int = 64,
    ndf: int = 64,
    compile: bool = False,
    warmup: int = 3,
) -> dict[str, Any]:
    """Train ``iterations`` (+ ``warmup``) iterations on the phantom; the timings and ratios as a JSON-ready dict."""
    from monai.data import DataLoader
    from monai.utils import set_determinism

    from medtranslate.data.loaders import resolve_dataset, train_dataset

    limits = precision_limits(machine_limits(device=device))
    reduced = _reduced(limits)
    precision = reduced or "fp32"
    set_determinism(0)
    nets = cyclegan_networks(ngf, ndf, device)
    x = torch.rand(batch, 1, size, size, device=device) * 2 - 1
    probe = tuple(copy.deepcopy(n) for n in nets)
    flops = count_flops(lambda: reference_train_loop(iter([(x, x)]), 1, *probe, lambda_identity=IDENTITY))
    with tempfile.TemporaryDirectory() as tmp:
        root = resolve_dataset("", Path(tmp) / "phantom", n_unpaired=4, n_paired=1)
        data = train_dataset(root, image_size=size, window="head", length=batch * (iterations + warmup))
        loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True, num_workers=1)
        fast = {"amp": reduced is not None, "channels_last": True, "compile": compile, "lambda_identity": IDENTITY}
        timed = _engine_seconds(
            nets,
            [],
            {"fused": True},
            loader=loader,
            iterations=iterations + warmup,
            device=device,
            warmup=warmup,
            **fast,
        )
    set_determinism(None)
    seconds = timed["seconds"]
    return {
        "device": device,
        "recipe": {"size": size, "batch": batch, "ngf": ngf, "ndf": ndf, "identity": IDENTITY, "compile": compile},
        "precision": precision,
        "iterations": iterations,
        "warmup_s": timed.get("setup_s", 0.0),
        "seconds_per_iteration": seconds,
        "data_wait_fraction": timed["data_wait_s"] / seconds,
        "gflop_per_iteration": flops / 1e9,
        "limit_gflops": limits[precision],
        "of_limit": flops / (limits[precision] * 1e9) / seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run the recipe, print one summary line (and ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipe", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--compile", action="store_true", help="the compiled fast path (compiles first)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    keys = ("device", "iterations", "size", "batch", "ngf", "ndf", "compile")
    result = run_recipe(**{k: getattr(args, k) for k in keys})
    print(
        f"{result['iterations']} iterations of {args.size}², batch {args.batch}, ngf {args.ngf}/ndf {args.ndf} on "
        f"{args.device} ({result['precision']}{', compiled' if args.compile else ''}): "
        f"{result['seconds_per_iteration']:.3f} s/it = {result['of_limit']:.2f} of the {result['precision']} conv "
        f"limit ({result['limit_gflops']:.0f} GFLOP/s), data wait {result['data_wait_fraction']:.1%} of an iteration, "
        f"warm-up {result['warmup_s']:.1f} s",
        file=sys.stdout,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
