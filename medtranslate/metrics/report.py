"""Evaluation reports: summaries (mean ± std, n) and JSON/CSV files written atomically, protocol next to each number.

Files written by :func:`write_report` into the output folder (:data:`REPORT_FILES`):

- ``report.json``: the whole report; non-finite numbers are written as the strings ``"inf"``/``"nan"``
  (JSON has no literal for them).
- ``per_image.csv``: one row per (evaluation, method, image or volume) with the paired (slice or volume) metrics
  and the protocol.
- ``summary.csv``: one row per (evaluation, method, metric): mean, std, n for paired slice and volume metrics;
  value and the bootstrap interval for unpaired distances; the paper's protocol figures; each with its protocol.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medtranslate.io.atomic import atomic_write_text

__all__ = ["PAIRED_METRICS", "REPORT_FILES", "VOLUME_METRICS", "summarise", "summary_rows", "write_report"]

#: The report's files, in the order they are written.
REPORT_FILES = ("report.json", "per_image.csv", "summary.csv")
#: Paired metrics, in report order (MS-SSIM only for images of side ≥ 161).
PAIRED_METRICS = ("MAE", "MSE", "PSNR", "SSIM", "MS-SSIM")
#: Metrics of the volume evaluation (3D; MS-SSIM only for volumes of side ≥ 161), in report order.
VOLUME_METRICS = (*PAIRED_METRICS, "through_plane_consistency")
#: The report sections scored per image or volume: ``per_image.csv`` rows and mean ± std in ``summary.csv``.
_PER_CASE_SECTIONS = ("paired", "volume")
_SUMMARY_FIELDS = ("evaluation", "method", "metric", "value", "std", "ci_low", "ci_high", "n", "protocol")


def summarise(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = PAIRED_METRICS) -> dict[str, dict[str, Any]]:
    """Mean, standard deviation and count of each metric per method over per-image ``rows``.

    Non-finite values (PSNR of identical images is ``inf``) are left out of mean and std and counted in
    ``n_nonfinite``.

    Args:
        rows: dicts with ``"method"`` and metric values.
        metrics: metric names to summarise (missing ones are skipped).

    Returns:
        ``{method: {metric: {"mean", "std", "n", "n_nonfinite"}}}`` (std is the population std, 0 for n = 1).
    """
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(row["method"], {})
    for method in out:
        for metric in metrics:
            values = [float(r[metric]) for r in rows if r["method"] == method and metric in r]
            if not values:
                continue
            finite = [v for v in values if math.isfinite(v)]
            out[method][metric] = {
                "mean": float(np.mean(finite)) if finite else float("nan"),
                "std": float(np.std(finite)) if finite else float("nan"),
                "n": len(finite),
                "n_nonfinite": len(values) - len(finite),
            }
    return out


def summary_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten a report's paired summary, unpaired distances and paper-protocol figures into CSV rows."""
    rows: list[dict[str, Any]] = []
    for section in _PER_CASE_SECTIONS:
        scored = report.get(section)
        for method, metrics in (scored or {}).get("summary", {}).items():
            for metric, s in metrics.items():
                rows.append(
                    {"evaluation": section, "method": method, "metric": metric, "value": s["mean"], "std": s["std"],
                     "n": s["n"], "protocol": scored["protocol"]}
                )  # fmt: skip
    unpaired = report.get("unpaired")
    if unpaired:
        n = unpaired.get("data", {}).get("n_ct")
        for method, result in unpaired["methods"].items():
            for metric in ("SWD", "intensity_W1"):
                ci = result[metric]
                rows.append(
                    {"evaluation": "unpaired", "method": method, "metric": metric, "value": ci["value"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n": n, "protocol": unpaired["protocol"]}
                )  # fmt: skip
            paper = result["paper"]
            for metric, value in paper.items():
                if metric != "protocol":
                    rows.append(
                        {"evaluation": "paper_protocol", "method": method, "metric": metric, "value": value, "n": n,
                         "protocol": paper["protocol"]}
                    )  # fmt: skip
    return rows


def _jsonable(value: Any) -> Any:
    """Non-finite floats → ``"inf"``/``"-inf"``/``"nan"``; tuples → lists; numpy scalars → Python."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_report(report: Mapping[str, Any], output_dir: str | os.PathLike, overwrite: bool = False) -> dict[str, Path]:
    """Write ``report.json``, ``per_image.csv`` and ``summary.csv`` into ``output_dir``, each atomically.

    Args:
        report: from :func:`medtranslate.metrics.evaluate`; the ``rows`` of ``report["paired"]`` and
            ``report["volume"]`` (if any) become ``per_image.csv``.
        output_dir: destination folder (created).
        overwrite: replace existing files.

    Raises:
        OutputExistsError: a file exists and ``overwrite`` is False.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    per_image = [
        {**row, "protocol": report[section]["protocol"]}
        for section in _PER_CASE_SECTIONS
        for row in (report.get(section) or {}).get("rows", [])
    ]
    texts = {
        "report.json": json.dumps(_jsonable(report), indent=2, ensure_ascii=False) + "\n",
        "per_image.csv": _csv(per_image, ("evaluation", "method", "case_id", *VOLUME_METRICS, "protocol")),
        "summary.csv": _csv(summary_rows(report), _SUMMARY_FIELDS),
    }
    return {name: atomic_write_text(output_dir / name, texts[name], overwrite=overwrite) for name in REPORT_FILES}
