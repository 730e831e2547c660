"""The ``medtranslate`` console entry point: thin argument parsing over the package's functions.

Errors a user can fix (:class:`~medtranslate.errors.MedTranslateError`) print one line ``error: ...`` once;
``--debug`` shows the traceback instead. Exit status: :data:`EXIT_CODES`. Long commands show tqdm progress bars
on stderr when it is a terminal, and a summary line either way. Torch and MONAI are imported only inside the
commands, so ``--help``, ``--version`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from medtranslate import __version__
from medtranslate.errors import MedTranslateError, find_user_error

if TYPE_CHECKING:  # the CLI imports torch-heavy modules only inside the commands that need them
    from medtranslate.inference import UncertaintySettings
    from medtranslate.inference.bundle import InferenceSettings

__all__ = ["EXIT_CODES", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
#: some or all inputs failed, or the data/model/config the command needs is unusable (one ``error:`` line each)
EXIT_FAILED = 1
#: the command line is wrong (argparse's status), including option values refused before any work
EXIT_USAGE = 2
#: interrupted with Ctrl-C (128 + SIGINT); outputs being written are removed
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "all done",
    EXIT_FAILED: "some inputs failed, or a file, model or config the command needs is unusable (one error line each)",
    EXIT_USAGE: "usage error: unknown option, missing or invalid argument",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); outputs being written are removed",
}


class UsageError(Exception):
    """An option value refused before any work; reported by argparse with the usage (exit status 2)."""


def _progress() -> bool:
    """Progress bars only where someone watches: stderr is a terminal."""
    return sys.stderr.isatty()


def _cmd_info(args: argparse.Namespace) -> int:
    from medtranslate.io import describe_image

    status = 0
    reports = []
    for path in args.paths:
        try:
            reports.append(describe_image(path, series_uid=args.series_uid))
        except MedTranslateError as err:  # report every bad file, then exit non-zero
            if args.debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            status = EXIT_FAILED
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, default=str))
    else:
        for report in reports:
            width = max(len(k) for k in report)
            for key, value in report.items():
                print(f"{key:<{width}}  {value}")
            print()
    return status


def _cmd_manifest(args: argparse.Namespace) -> int:
    from medtranslate.data import build_manifest, write_manifest

    manifest = build_manifest(
        args.data_dir,
        subset=args.subset,
        val_fraction=args.val_fraction,
        seed=args.seed,
        dedupe=not args.keep_duplicates,
        name=args.name,
        contrast=not args.no_contrast,
        contrast_labels=args.labels,
        progress=_progress(),
    )
    write_manifest(manifest, args.output, overwrite=args.overwrite)
    report = manifest.get("report", {})
    print(json.dumps(report, indent=2, default=str) if args.verbose else _summary(manifest))
    print(f"wrote {args.output}")
    return 0


def _summary(manifest: dict) -> str:
    keys = [k for k in manifest if k.startswith(("training_", "validation_", "test_")) or k == "paired"]
    counts = ", ".join(f"{k}={len(manifest[k])}" for k in keys if manifest[k])
    report = manifest.get("report", {})
    dup = report.get("n_duplicates_dropped", report.get("duplicates_dropped"))
    leak = report.get("n_leaked_dropped", report.get("leakage_dropped"))
    extra = "".join(
        f", {label}={len(v) if isinstance(v, list | dict) else v}"
        for label, v in (("duplicates dropped", dup), ("test items leaking from train dropped", leak))
        if v is not None
    )
    return f"{counts}{extra}{_contrast_summary(manifest)}"


def _contrast_summary(manifest: dict) -> str:
    """``", MRI contrast T1=… (hand …, classifier …)"`` over the MRI lists; empty when they are unlabelled."""
    items = [e for s in ("training", "validation", "test") for e in manifest.get(f"{s}_mri", []) if "contrast" in e]
    if not items:
        return ""
    contrasts: dict[str, int] = {}
    sources: dict[str, int] = {}
    for entry in items:
        contrasts[entry["contrast"]] = contrasts.get(entry["contrast"], 0) + 1
        sources[entry["contrast_source"]] = sources.get(entry["contrast_source"], 0) + 1
    return (
        ", MRI contrast "
        + " ".join(f"{k}={v}" for k, v in sorted(contrasts.items()))
        + " ("
        + ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
        + ")"
    )


def _cmd_translate(args: argparse.Namespace) -> int:
    from medtranslate.inference import load_generator, parse_exports, parse_slices, translate_many
    from medtranslate.transforms.presets import resolve_window

    try:  # option values are usage errors, refused before any work
        exports = parse_exports(args.export)
        slices = parse_slices(args.slices)
        if args.window is not None:
            resolve_window(args.window)
    except MedTranslateError as err:
        raise UsageError(str(err)) from err
    settings = _model_settings(args, image_size=args.image_size, window=args.window)
    network = load_generator(settings.ckpt_path, settings.network, settings.device)
    uncertainty = _uncertainty_settings(args, settings) if args.uncertainty else None
    report = translate_many(
        args.inputs,
        args.output,
        network,
        image_size=settings.image_size,
        batch_size=args.batch_size or (1 if settings.device.type == "cpu" else 8),
        device=settings.device,
        amp=False if args.fp32 else None,
        window=settings.window,
        export=exports,
        slices=slices,
        bit_depth=args.bit_depth,
        overwrite=args.overwrite,
        copy_patient_tags=args.copy_patient_tags,
        uncertainty=uncertainty,
        uneven_slices="resample" if args.allow_uneven_slices else "refuse",
        model=f"{type(settings.network).__name__}, weights {settings.ckpt_path.name}",
        progress=_progress(),
        spacing=settings.spacing,
    )
    for source, written in report.outputs.items():
        print(f"{source} -> {', '.join(str(p) for p in written)}")
    for message in report.failures.values():
        print(f"error: {message}", file=sys.stderr)
    print(report.summary(), file=sys.stderr if report.failures else sys.stdout)
    return EXIT_OK if report.ok else EXIT_FAILED


def _uncertainty_settings(args: argparse.Namespace, settings: InferenceSettings) -> UncertaintySettings:
    """The trust map's G_B and calibration: ``--ckpt-b``/``--uncertainty-calibration``; without them the bundle's
    (only for the bundle's own model), or the ``g_b`` of a training checkpoint given as ``--ckpt``."""
    import copy

    from medtranslate.inference import UncertaintySettings, load_generator, load_uncertainty_calibration
    from medtranslate.inference.model import read_generator_state

    shipped = args.ckpt is None
    reverse_path = args.ckpt_b or (settings.reverse_ckpt_path if shipped else None)
    reverse = None
    if reverse_path is not None:
        reverse = load_generator(reverse_path, copy.deepcopy(settings.network), settings.device, key="g_b")
    elif not shipped:
        try:
            read_generator_state(settings.ckpt_path, key="g_b")
            reverse = load_generator(settings.ckpt_path, copy.deepcopy(settings.network), settings.device, key="g_b")
        except MedTranslateError:  # a plain model.pt: no G_B inside, spread only
            reverse = None
    calibration_path = args.uncertainty_calibration or (settings.uncertainty_calibration if shipped else None)
    calibration = load_uncertainty_calibration(calibration_path) if calibration_path else None
    return UncertaintySettings(reverse=reverse, calibration=calibration)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from medtranslate.metrics.evaluate import evaluate

    settings = _model_settings(args, image_size=args.model_image_size)
    reverse = args.ckpt_b or (settings.reverse_ckpt_path if args.ckpt is None else None)
    report = evaluate(
        args.output,
        paired_dir=args.paired,
        unpaired_dir=args.unpaired,
        generator=settings.ckpt_path,
        generator_b=reverse,
        network=settings.network,
        image_size=args.image_size or settings.image_size,
        model_image_size=settings.image_size,
        contrast=args.contrast,
        dataset_dir=args.dataset_dir,
        reference=args.reference,
        transform=args.registration,
        window=settings.window,
        max_paired=args.max_paired,
        max_unpaired=args.max_unpaired,
        cnn_iterations=args.cnn_iterations,
        n_boot=args.n_boot,
        device=str(settings.device),
        seed=args.seed,
        overwrite=args.overwrite,
        progress=_progress(),
        volumes=False if args.no_volumes else None,
        max_volumes=args.max_volumes,
        spacing=settings.spacing,
    )
    for line in report["messages"]:
        print(line)
    for section in ("paired", "volume"):
        if section in report:
            print(f"\n{report[section]['protocol']}")
            for method, values in report[section]["summary"].items():
                print(f"  {method:<20} " + "  ".join(f"{k} {_mean(v)}" for k, v in values.items()))
    if "unpaired" in report:
        print(f"\n{report['unpaired']['protocol']}")
        for method, values in report["unpaired"]["methods"].items():
            swd, w1, paper = values["SWD"], values["intensity_W1"], values["paper"]
            print(
                f"  {method:<20} SWD {swd['value']:.1f} [{swd['ci_low']:.1f}, {swd['ci_high']:.1f}]  "
                f"intensity_W1 {w1['value']:.3f}  paper PSNR (scale mix) {paper['PSNR_paper_scale_mix']:.2f} dB  "
                f"(one scale) {paper['PSNR_[-1,1]']:.2f} dB"
            )
    print(f"\nreport: {report['files']['report.json']}")
    return EXIT_OK


def _model_settings(args: argparse.Namespace, **overrides: object) -> InferenceSettings:
    """The bundle's inference settings with the model options of ``translate``/``evaluate`` applied."""
    from medtranslate.inference.bundle import read_inference_settings

    model = {"ckpt_path": args.ckpt, "device": args.device, "ngf": args.ngf, "n_blocks": args.n_blocks}
    model["slab"] = args.slab
    return read_inference_settings(args.bundle_root, args.config, {**model, **overrides})


#: ``--config`` of translate and evaluate.
CONFIG_HELP = (
    "inference config(s), merged in order (default: <bundle-root>/configs/inference.json); an override such as "
    "configs/inference_2p5d.json or configs/inference_3d.json alone is merged over the bundle's inference.json"
)


def _architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ngf``/``--n-blocks``: the generator of weights trained with another recipe than the shipped model's."""
    parser.add_argument("--ngf", type=int, default=None, help="generator width of --ckpt (config's: the shipped 32)")
    parser.add_argument("--n-blocks", type=int, default=None, help="residual blocks of --ckpt (config's: 6)")
    parser.add_argument("--slab", type=int, default=None, help="slices a 2.5D --ckpt sees (config's: 1, a 2D model)")


def _mean(value: object) -> str:
    """``mean ± std`` of a summary entry (a dict with ``mean``/``std``) or the value itself."""
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:.4g} ± {value.get('std', float('nan')):.2g}"
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per task."""
    epilog = {
        "epilog": "exit status:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    parser = argparse.ArgumentParser(
        prog="medtranslate", description="Brain CT → synthetic MRI with CycleGAN.", **epilog
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="describe an image file or DICOM folder", **epilog)
    info.add_argument("paths", nargs="+", help="image files (NIfTI, MetaImage, PNG/JPEG, DICOM) or DICOM folders")
    info.add_argument("--series-uid", default=None, help="pick one series in a folder holding several")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)

    man = sub.add_parser("manifest", help="write a JSON datalist with hashes, duplicates and leakage report", **epilog)
    man.add_argument("data_dir", help="Kaggle layout (trainA/trainB/testA/testB), phantom, or ct/ + mri/ folders")
    man.add_argument("-o", "--output", required=True, help="manifest JSON to write")
    man.add_argument("--subset", type=int, default=None, help="seeded subset size per domain (the paper: 500)")
    man.add_argument("--val-fraction", type=float, default=0.0, help="fraction of training moved to validation")
    man.add_argument("--seed", type=int, default=0)
    man.add_argument("--name", default=None, help="dataset name stored in the manifest")
    man.add_argument("--keep-duplicates", action="store_true", help="report duplicates but keep them")
    man.add_argument("--labels", default=None, help="hand contrast labels JSON (they override the classifier)")
    man.add_argument("--no-contrast", action="store_true", help="do not label the MRI items' contrast")
    man.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    man.add_argument("-v", "--verbose", action="store_true", help="print the full report")
    man.set_defaults(func=_cmd_manifest)

    tr = sub.add_parser(
        "translate",
        **epilog,
        help="translate CT files or DICOM series into synthetic MRI (NIfTI, PNG, DICOM)",
        description="Network, image size, window and model file come from the bundle's configs/inference.json.",
    )
    tr.add_argument("inputs", nargs="+", help="CT volumes/slices, DICOM series folders, or folders of them")
    tr.add_argument("-o", "--output", required=True, help="output folder")
    tr.add_argument("--export", default="nifti", help="comma-separated: nifti,png,nifti-slices,dicom (nifti)")
    tr.add_argument("--slices", default="all", help="axial slices, inferior to superior: all, A:B or one index")
    tr.add_argument("--ckpt", default=None, help="model.pt or training checkpoint (default: the bundle's)")
    tr.add_argument(
        "--bundle-root",
        default=None,
        help="bundle folder (default: the working folder if it is a bundle, else the one installed with medtranslate)",
    )
    tr.add_argument("--config", nargs="+", default=None, help=CONFIG_HELP)
    tr.add_argument("--window", default=None, help="CT window preset the model was trained with (config's)")
    tr.add_argument("--image-size", type=int, default=None, help="training slice size (config's)")
    _architecture_arguments(tr)
    tr.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="PNG bit depth")
    tr.add_argument(
        "--batch-size", type=int, default=None, help="slices per forward pass (1 on CPU, where it is fastest; 8 on GPU)"
    )
    tr.add_argument("--copy-patient-tags", action="store_true", help="copy patient/study tags into DICOM output")
    tr.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    tr.add_argument(
        "--allow-uneven-slices",
        action="store_true",
        help="translate a DICOM series with missing or unevenly spaced slices (refused otherwise): DICOM slices keep "
        "their source positions, NIfTI is resampled onto an even grid",
    )
    tr.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the config's)")
    tr.add_argument(
        "--fp32", action="store_true", help="float32 only (default: bf16/fp16 where the CPU or GPU runs it natively)"
    )
    tr.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write a trust map (expected |synthetic - real| on [0, 1]) beside each output, in the same formats",
    )
    tr.add_argument("--ckpt-b", default=None, help="G_B (MRI → CT) for the map's cycle error (default: the bundle's)")
    tr.add_argument(
        "--uncertainty-calibration", default=None, help="calibration JSON of the map (default: the bundle's)"
    )
    tr.set_defaults(func=_cmd_translate, command_parser=tr)

    ev = sub.add_parser(
        "evaluate",
        **epilog,
        help="score the model and baselines: paired metrics (registered), unpaired distances, the paper's protocol",
        description="The model (network and weights) comes from the bundle's configs/inference.json; a missing "
        "model file skips the model row and still reports the baselines.",
    )
    ev.add_argument("-o", "--output", required=True, help="report folder (report.json, CSVs, figures/)")
    ev.add_argument("--paired", default=None, help="paired CT/MRI: Patient_*/CT + T1-MRI slices, or phantom paired/")
    ev.add_argument("--unpaired", default=None, help="unpaired set with a test split (Kaggle layout or manifest)")
    ev.add_argument("--ckpt", default=None, help="model.pt or training checkpoint (default: the bundle's)")
    ev.add_argument(
        "--ckpt-b", default=None, help="training checkpoint whose G_B (MRI → CT) draws the reconstructed-CT column"
    )
    ev.add_argument(
        "--bundle-root",
        default=None,
        help="bundle folder (default: the working folder if it is a bundle, else the one installed with medtranslate)",
    )
    ev.add_argument("--config", nargs="+", default=None, help=CONFIG_HELP)
    ev.add_argument("--model-image-size", type=int, default=None, help="slice size the model was trained on")
    _architecture_arguments(ev)
    ev.add_argument("--image-size", type=int, default=None, help="evaluation slice size (default: the model's)")
    ev.add_argument("--contrast", default=None, help="score against unpaired MRI of this contrast only, e.g. T1")
    ev.add_argument("--dataset-dir", default=None, help="the data folder of a manifest given as --unpaired")
    ev.add_argument("--reference", default="T1-MRI", help="paired MRI folder name to score against (T1-MRI)")
    ev.add_argument("--registration", default="affine", choices=("rigid", "similarity", "affine"))
    ev.add_argument("--max-paired", type=int, default=None, help="at most this many paired slices")
    ev.add_argument(
        "--no-volumes",
        action="store_true",
        help="skip the volume evaluation, which runs whenever --paired holds voxel-aligned CT/MRI volumes (the "
        "phantom's paired/): each whole CT translated as `translate` does, 3D MAE/PSNR/SSIM and through-plane "
        "consistency (1.0 = as smooth as real MRI) inside the head, reformat figures; the only paired score of "
        "2.5D and 3D models",
    )
    ev.add_argument("--max-volumes", type=int, default=None, help="at most this many paired volumes (all)")
    ev.add_argument("--max-unpaired", type=int, default=64, help="at most this many unpaired test images (64)")
    ev.add_argument("--cnn-iterations", type=int, default=300, help="training of the paper's CNN baseline; 0: skip")
    ev.add_argument("--n-boot", type=int, default=100, help="bootstrap resamples of the unpaired distances")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--device", default=None, help="cpu, cuda, ... (default: the config's)")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing report")
    ev.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (:data:`EXIT_CODES`; argparse exits with 2 itself)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as err:
        getattr(args, "command_parser", parser).error(str(err))  # exits with EXIT_USAGE
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is None or args.debug:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
