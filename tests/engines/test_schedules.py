"""linear_decay_lambda: CycleGAN's "linear" policy values and use with LambdaLR."""

from __future__ import annotations

import pytest
import torch

from medtranslate.engines import linear_decay_lambda


def test_factor_values():
    f = linear_decay_lambda(n_epochs=2, n_epochs_decay=3)
    assert [f(e) for e in range(7)] == [1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    g = linear_decay_lambda(100, 100)
    assert g(99) == 1.0 and g(100) == pytest.approx(1 - 1 / 101) and g(199) == pytest.approx(1 / 101) and g(200) == 0
    with pytest.raises(ValueError):
        linear_decay_lambda(-1, 1)


def test_with_lambda_lr_per_epoch():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=2e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, linear_decay_lambda(1, 3))
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs == pytest.approx([2e-4, 1.5e-4, 1e-4, 0.5e-4, 0.0])
