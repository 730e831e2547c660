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
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.measure import _reduced, _sync, count_flops, machine_limits, make_trainer, precision_limits

__all__ = ["main", "run_recipe"]


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
    from ignite.engine import Events
    from monai.data import DataLoader
    from monai.utils import set_determinism

    from medtranslate.data.loaders import resolve_dataset, train_dataset
    from medtranslate.networks import build_discriminator, build_generator

    limits = precision_limits(machine_limits(device=device))
    reduced = _reduced(limits)
    set_determinism(0)
    kw = {"channels": ngf, "num_res_blocks": 6}
    nets = (
        build_generator("resnet", seed=0, **kw).to(device),
        build_generator("resnet", seed=1, **kw).to(device),
        build_discriminator(channels=ndf, seed=2).to(device),
        build_discriminator(channels=ndf, seed=3).to(device),
    )
    flops_nets = tuple(copy.deepcopy(n) for n in nets)
    probe = make_trainer(flops_nets, [], device=device)
    probe.lambda_identity = 0.5
    x = torch.rand(batch, 1, size, size, device=device) * 2 - 1
    flops = count_flops(lambda: probe._iteration(probe, {"ct": x, "mri": x}))
    with tempfile.TemporaryDirectory() as tmp:
        root = resolve_dataset("", Path(tmp) / "phantom", n_unpaired=4, n_paired=1)
        data = train_dataset(root, image_size=size, window="head", length=batch * (iterations + warmup))
        loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True, num_workers=1)
        fast = {"amp": reduced is not None, "channels_last": True, "compile": compile}
        trainer = make_trainer(nets, loader, {"fused": True}, epoch_length=iterations + warmup, device=device, **fast)
        trainer.lambda_identity = 0.5  # the paper's recipe
        stamps: list[float] = []
        waits: list[float] = []
        began: list[float] = []

        def done(_: Any) -> None:
            _sync(device)
            stamps.append(time.perf_counter())

        trainer.add_event_handler(Events.ITERATION_COMPLETED, done)
        trainer.add_event_handler(Events.GET_BATCH_STARTED, lambda _: began.append(time.perf_counter()))
        trainer.add_event_handler(Events.GET_BATCH_COMPLETED, lambda _: waits.append(time.perf_counter() - began[-1]))
        start = time.perf_counter()
        trainer.run()
    set_determinism(None)
    seconds = (stamps[-1] - stamps[warmup - 1]) / (len(stamps) - warmup)
    precision = reduced or "fp32"
    return {
        "device": device,
        "recipe": {"size": size, "batch": batch, "ngf": ngf, "ndf": ndf, "identity": 0.5, "compile": compile},
        "precision": precision,
        "iterations": iterations,
        "warmup_s": stamps[warmup - 1] - start,
        "seconds_per_iteration": seconds,
        "data_wait_fraction": sum(waits[warmup:]) / len(waits[warmup:]) / seconds,
        "gflop_per_iteration": flops / 1e9,
        "limit_gflops": limits[precision],
        "of_limit": flops / (limits[precision] * 1e9) / seconds,
        "final_losses": {k: trainer.state.output[k] for k in ("loss_G", "loss_D")},
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
