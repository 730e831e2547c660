"""2D vs 2.5D vs 3D on the phantom: the last checkpoints of three bundle runs scored on held-out paired volumes.

Each run is one bundle training command (``train.json`` alone, ``+ train_2p5d.json``, ``+ train_3d.json``); this
scores their ``g_a`` on a phantom test set none of them saw (its own seed), whole volumes through
:func:`medtranslate.inference.translate_image` (:func:`medtranslate.metrics.volume_evaluation.volume_evaluation`:
3D MAE/PSNR/SSIM and the through-plane consistency), and draws the axial/coronal/sagittal reformats of one test
subject for every kind next to the real MRI::

    python -m benchmarks.compare_kinds --run 2d=bundles/ct2mri/outputs/train_2d \\
        --run 2.5d=bundles/ct2mri/outputs/train_2p5d --run 3d=bundles/ct2mri/outputs/train_3d --output runs/kinds
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from medtranslate.data.phantom import write_phantom_dataset
from medtranslate.handlers.checkpoint import find_checkpoints
from medtranslate.inference import make_translator, read_generator_state, translate_image
from medtranslate.metrics.figures import reformat_figure
from medtranslate.metrics.volume_evaluation import load_paired_volumes, volume_evaluation
from medtranslate.networks import ResNetGenerator
from medtranslate.networks.kind import kind_of_state

#: the held-out phantom: 4 paired subjects at the training phantom's size, a seed no run trained on.
TEST_PHANTOM = {"n_unpaired": 0, "n_paired": 4, "shape": (96, 96, 48), "seed": 101}


def generator_of(checkpoint: Path) -> torch.nn.Module:
    """The run's ``g_a``, its architecture read from the weights (kind, width, residual blocks)."""
    state = read_generator_state(checkpoint, key="g_a")
    kind = kind_of_state(state)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"^res_blocks\.(\d+)\.", k))}
    net = ResNetGenerator(
        spatial_dims=kind.spatial_dims,
        in_channels=kind.slab,
        channels=int(state["encoder.1.weight"].shape[0]),
        num_res_blocks=len(blocks),
    )
    net.load_state_dict(state)
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_FOLDER (its newest checkpoint)")
    parser.add_argument("--output", required=True, help="folder for kinds.json and the reformat figure")
    parser.add_argument("--image-size", type=int, default=64, help="training slice size of the 2D/2.5D runs")
    parser.add_argument("--patch-size", type=int, default=32, help="training patch size of the 3D run")
    parser.add_argument("--spacing", type=float, default=2.0, help="voxel size (mm) of the 3D run")
    args = parser.parse_args(argv)
    out = Path(args.output)
    data = write_phantom_dataset(out / "test_phantom", **TEST_PHANTOM, overwrite=True)
    volumes = load_paired_volumes(data)
    translators, checkpoints = {}, {}
    for spec in args.run:
        name, folder = spec.split("=", 1)
        checkpoints[name] = str(find_checkpoints(Path(folder) / "checkpoints")[0])
        net = generator_of(Path(checkpoints[name]))
        three_d = kind_of_state(net.state_dict()).spatial_dims == 3
        size = args.patch_size if three_d else args.image_size
        translators[name] = make_translator(net, image_size=size, amp=False, spacing=args.spacing if three_d else None)
    report = volume_evaluation(volumes, translators)
    report["checkpoints"] = checkpoints
    (out / "kinds.json").write_text(json.dumps(report, indent=2, default=str))
    first = volumes[0]
    shown = {"CT": first.ct}
    for name, translator in translators.items():
        shown[name] = translate_image(first.image, translator).mri_ras.as_tensor().float()
    shown["real MRI"] = first.mri
    voxels = "×".join(f"{s:g}" for s in first.spacing)
    reformat_figure(out / "kinds_reformats.png", shown, first.spacing, f"held-out phantom {first.case_id}, {voxels} mm",
                    overwrite=True)  # fmt: skip
    keys = ("MAE", "PSNR", "SSIM", "through_plane_consistency")
    print("| method | " + " | ".join(keys) + " |")
    for method, values in report["summary"].items():
        cells = [f"{values[k]['mean']:.3f} ± {values[k]['std']:.3f}" if k in values else "-" for k in keys]
        print(f"| {method} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
