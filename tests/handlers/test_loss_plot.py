"""Loss history: CSV rows, JSON epoch means, PNG figure, state round-trip."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from PIL import Image

from medtranslate.engines import LOSS_KEYS
from medtranslate.handlers import LossHistoryHandler


def test_history_files_after_a_run(make_run, tmp_path):
    trainer, _ = make_run(max_epochs=2)
    history = LossHistoryHandler(tmp_path)
    history.attach(trainer)
    trainer.run()
    with open(tmp_path / "losses.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["iteration", "epoch", *LOSS_KEYS] and len(rows) == 1 + 8
    values = torch.tensor([[float(v) for v in r[2:]] for r in rows[1:]], dtype=torch.float64)
    summary = json.loads((tmp_path / "losses.json").read_text())
    assert summary["keys"] == list(LOSS_KEYS) and summary["iterations"] == 8
    assert summary["epoch_means"]["2"]["cycle_A"] == pytest.approx(float(values[4:, 2].mean()))
    assert summary["epoch_means"]["1"]["D_B"] == pytest.approx(float(values[:4, LOSS_KEYS.index("D_B")].mean()))
    assert rows[-1][2] == repr(trainer.state.output["G_A"])
    with Image.open(tmp_path / "loss_curves.png") as image:
        assert image.size == (1200, 400)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss_curves.png", "losses.csv", "losses.json"]


def test_state_round_trip(tmp_path):
    history = LossHistoryHandler(tmp_path)
    n = len(LOSS_KEYS)
    history.iterations, history.epochs, history.values = [1, 2], [1, 1], [[0.5] * n, [0.25] * n]
    state = history.state_dict()
    restored = LossHistoryHandler(tmp_path)
    restored.load_state_dict(state)
    assert restored.values == history.values and restored.iterations == [1, 2]
    assert restored.epoch_means() == {1: dict.fromkeys(LOSS_KEYS, 0.375)}
    with pytest.raises(ValueError, match="recorded keys differ"):
        LossHistoryHandler(tmp_path, keys=("G_A",)).load_state_dict(state)
