"""Loss history of a CycleGAN run: CSV/JSON records and the loss-curve figure (the paper's Figure 6)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medtranslate.engines.trainer import GENERATOR_LOSS_KEYS, LOSS_KEYS
from medtranslate.io.atomic import atomic_write_bytes

__all__ = ["GENERATOR_LOSS_KEYS", "LossHistoryHandler"]


class LossHistoryHandler:
    """
    Record the loss components of every iteration and write them, at every epoch end and at completion:

        - ``losses.csv``: one row per iteration: ``iteration, epoch`` and the components;
        - ``losses.json``: ``{"keys", "iterations", "epoch_means": {epoch: {key: mean}}}``;
        - ``loss_curves.png``: per-iteration values (faint) and epoch means (lines) against the epoch, the six
          generator components in one panel and the discriminator losses in another.

    All files are written atomically, on rank 0 only (recording is cheap and happens on every rank). The
    history is a ``state_dict`` of tensors, so it can go into a checkpoint and the curves continue after a
    resume.

    Args:
        output_dir: folder of the three files.
        keys: ``engine.state.output`` keys to record; defaults to the eight CycleGAN components.
        csv_filename: name of the CSV file.
        json_filename: name of the JSON file.
        plot_filename: name of the PNG figure.

    """

    def __init__(
        self,
        output_dir: str | Path,
        keys: Sequence[str] = LOSS_KEYS,
        csv_filename: str = "losses.csv",
        json_filename: str = "losses.json",
        plot_filename: str = "loss_curves.png",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.keys = tuple(keys)
        self.csv_filename = csv_filename
        self.json_filename = json_filename
        self.plot_filename = plot_filename
        self.iterations: list[int] = []
        self.epochs: list[int] = []
        self.values: list[list[float]] = []
        self.epoch_length: int | None = None

    def attach(self, engine: Engine) -> None:
        """
        Attach to a trainer whose ``state.output`` is a dict holding ``keys``.

        Args:
            engine: the trainer.

        """
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.record)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def record(self, engine: Engine) -> None:
        """Append the current iteration's values."""
        output = engine.state.output
        self.iterations.append(int(engine.state.iteration))
        self.epochs.append(int(engine.state.epoch))
        self.values.append([float(output[k]) for k in self.keys])
        self.epoch_length = engine.state.epoch_length

    def epoch_means(self) -> dict[int, dict[str, float]]:
        """Mean of every component per epoch."""
        values = np.asarray(self.values, dtype=np.float64).reshape(-1, len(self.keys))
        epochs = np.asarray(self.epochs)
        return {
            int(e): dict(zip(self.keys, values[epochs == e].mean(axis=0).tolist(), strict=True))
            for e in np.unique(epochs)
        }

    def write(self, engine: Engine | None = None) -> None:
        """Write the CSV, JSON and PNG files (rank 0 only)."""
        if idist.get_rank() != 0 or not self.values:
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["iteration", "epoch", *self.keys])
        for it, ep, row in zip(self.iterations, self.epochs, self.values, strict=True):
            writer.writerow([it, ep, *(repr(v) for v in row)])
        atomic_write_bytes(self.output_dir / self.csv_filename, text.getvalue().encode(), overwrite=True)
        means = self.epoch_means()
        summary = {"keys": list(self.keys), "iterations": len(self.values), "epoch_means": means}
        atomic_write_bytes(self.output_dir / self.json_filename, json.dumps(summary, indent=1).encode(), overwrite=True)
        png = self._plot(means)
        atomic_write_bytes(self.output_dir / self.plot_filename, png, overwrite=True)

    def _plot(self, means: Mapping[int, Mapping[str, float]]) -> bytes:
        values = np.asarray(self.values, dtype=np.float64)
        length = self.epoch_length or max(1, max(self.iterations) // max(1, max(self.epochs)))
        x_iter = np.asarray(self.iterations, dtype=np.float64) / length
        epochs = sorted(means)
        panels = [
            ("generator losses", [k for k in self.keys if k in GENERATOR_LOSS_KEYS]),
            ("discriminator losses", [k for k in self.keys if k not in GENERATOR_LOSS_KEYS]),
        ]
        panels = [p for p in panels if p[1]]
        figure = Figure(figsize=(6.0 * len(panels), 4.0), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        for i, (title, keys) in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), i + 1)
            for key in keys:
                column = self.keys.index(key)
                (line,) = ax.plot(epochs, [means[e][key] for e in epochs], marker="o", markersize=3, label=key)
                ax.plot(x_iter, values[:, column], color=line.get_color(), alpha=0.25, linewidth=0.7)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss (weighted)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()

    def state_dict(self) -> dict[str, Any]:
        """The history as tensors (``weights_only``-loadable)."""
        return {
            "keys": list(self.keys),
            "iterations": torch.tensor(self.iterations, dtype=torch.int64),
            "epochs": torch.tensor(self.epochs, dtype=torch.int64),
            "values": torch.tensor(self.values, dtype=torch.float64).reshape(-1, len(self.keys)),
            "epoch_length": self.epoch_length,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """
        Restore the history.

        Raises:
            ValueError: when the recorded keys differ.

        """
        if list(state_dict["keys"]) != list(self.keys):
            raise ValueError(f"recorded keys differ: saved {list(state_dict['keys'])} vs {list(self.keys)}.")
        self.iterations = state_dict["iterations"].tolist()
        self.epochs = state_dict["epochs"].tolist()
        self.values = state_dict["values"].tolist()
        self.epoch_length = state_dict["epoch_length"]
