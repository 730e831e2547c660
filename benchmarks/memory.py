"""Peak memory of one job in a fresh process: ``python -m benchmarks.memory translate X Y Z``, ``train S B`` or
``kind {2d,2.5d,3d} --settings JSON``.

The process imports everything and builds its networks (``translate`` also runs one slice) first; its resident
size then is the *base* and the kernel's high-water mark is reset (``/proc/self/clear_refs``). The job's figure
is the new high-water mark (``VmHWM``) minus the base, printed as one JSON line. For ``translate`` the input
volume (float32, in [-1, 1]) is allocated after the base, so the ratio ``(peak - base) / volume_bytes`` counts
the input, the output and the working set (target: below 3). ``kind`` does the same for a phantom CT through
:func:`medtranslate.inference.translate_image` with the translator of that model kind
(:func:`benchmarks.measure.kind_translator`, the ``kinds`` section's settings): the int16 HU array exists before
the base, its float32 image (the volume counted) after.
"""

from __future__ import annotations

import argparse
import json
import resource

import torch

__all__ = ["main", "peak_rss_bytes", "reset_peak", "rss_bytes"]


def reset_peak() -> int:
    """Reset the kernel's peak resident size of this process to its current size (Linux ≥ 4.0); return that size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return rss_bytes()


def peak_rss_bytes() -> int:
    """The process's peak resident set size since the last :func:`reset_peak` (``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM missing from /proc/self/status")


def rss_bytes() -> int:
    """The process's current resident set size (``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _translate(x: int, y: int, z: int, ngf: int, batch: int, backend: str) -> dict:
    from medtranslate.inference import SliceTranslator
    from medtranslate.networks import build_generator

    net = build_generator("resnet", seed=0, channels=ngf, num_res_blocks=6).eval()
    translator = SliceTranslator(net, image_size=256, sw_batch_size=batch, device="cpu", backend=backend)
    with torch.inference_mode():
        translator(torch.zeros(1, 256, 256, 1))  # first-call allocations belong to the model, not the volume
    base = reset_peak()
    volume = torch.rand(1, x, y, z) * 2 - 1
    out = translator(volume)
    peak = peak_rss_bytes()
    volume_bytes = volume.numel() * 4
    model_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    return {
        "name": f"translate {x}×{y}×{z} (ngf {ngf}, batch {batch}, {backend}, {'bf16' if translator.amp else 'fp32'})",
        "peak_above_base_bytes": peak - base,
        "volume_bytes": volume_bytes,
        "model_bytes": model_bytes,
        "ratio_to_volume": (peak - base) / volume_bytes,
        "output_shape": list(out.shape),
    }


def _kind(kind: str, settings: dict) -> dict:
    from benchmarks.measure import KindBench, ct_image, kind_translator, phantom_ct
    from medtranslate.inference import translate_image

    kinds = KindBench(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    translator = kind_translator(kind, kinds)
    small = tuple(min(n, 48) for n in kinds.volume)
    translate_image(ct_image(*phantom_ct(small, kinds.spacing)), translator)  # first-call allocations: the model's
    hu, affine = phantom_ct(kinds.volume, kinds.spacing)
    base = reset_peak()
    image = ct_image(hu, affine)
    out = translate_image(image, translator).mri
    peak = peak_rss_bytes()
    volume_bytes = image.numel() * 4
    return {
        "name": f"translate {'×'.join(map(str, kinds.volume))} phantom CT, {kind} model (translate_image, fp32)",
        "peak_above_base_bytes": peak - base,
        "volume_bytes": volume_bytes,
        "ratio_to_volume": (peak - base) / volume_bytes,
        "output_shape": list(out.shape),
    }


def _train(size: int, batch: int, ngf: int, ndf: int) -> dict:
    from benchmarks.measure import cyclegan_networks, make_trainer

    nets = cyclegan_networks(ngf, ndf)
    g = torch.Generator().manual_seed(0)
    shape = (batch, 1, size, size)
    batches = [{"ct": torch.rand(shape, generator=g), "mri": torch.rand(shape, generator=g)} for _ in range(2)]
    trainer = make_trainer(nets, batches)
    base = reset_peak()
    trainer.run()
    params = sum(p.numel() * 4 for net in nets for p in net.parameters())
    return {
        "name": f"train {size}², batch {batch} (ngf {ngf}, ndf {ndf})",
        "peak_above_base_bytes": peak_rss_bytes() - base,
        "parameter_bytes": params,
    }


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, run the job, print and return its JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    sub = parser.add_subparsers(dest="job", required=True)
    t = sub.add_parser("translate")
    t.add_argument("shape", type=int, nargs=3)
    t.add_argument("--ngf", type=int, default=64)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--backend", default="eager", help="SliceTranslator backend")
    r = sub.add_parser("train")
    r.add_argument("size", type=int)
    r.add_argument("batch", type=int)
    r.add_argument("--ngf", type=int, default=64)
    r.add_argument("--ndf", type=int, default=64)
    k = sub.add_parser("kind")
    k.add_argument("kind", choices=("2d", "2.5d", "3d"))
    k.add_argument("--settings", default="{}", help="KindBench fields as JSON (default: the bundle recipes')")
    args = parser.parse_args(argv)
    if args.job == "translate":
        result = _translate(*args.shape, ngf=args.ngf, batch=args.batch, backend=args.backend)
    elif args.job == "kind":
        result = _kind(args.kind, json.loads(args.settings))
    else:
        result = _train(args.size, args.batch, args.ngf, args.ndf)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
