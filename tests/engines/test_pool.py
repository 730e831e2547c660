"""ImagePool: fill phase, 50/50 swap rule, state round-trip."""

from __future__ import annotations

import pytest
import torch

from medtranslate.engines import ImagePool


def _images(start: int, n: int) -> torch.Tensor:
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def test_fill_phase_returns_inputs_and_stores_them():
    pool = ImagePool(50, seed=0)
    for start in range(0, 50, 5):
        batch = _images(start, 5)
        assert torch.equal(pool.query(batch), batch)
    assert len(pool) == 50
    assert [int(img[0, 0, 0]) for img in pool.images] == list(range(50))


def test_full_pool_swaps_half_of_the_queries():
    pool = ImagePool(50, seed=1)
    pool.query(_images(0, 50))
    swapped = 0
    n = 2000
    for i in range(n):
        new = _images(1000 + i, 1)
        out = pool.query(new)
        if torch.equal(out, new):
            assert any(torch.equal(p, new[0]) for p in pool.images) is False
        else:
            swapped += 1
            assert int(out[0, 0, 0, 0]) < 1000 + i  # an older image came back
            assert any(torch.equal(p, new[0]) for p in pool.images)  # the new one took its place
        assert len(pool) == 50
    assert abs(swapped / n - 0.5) < 0.05


def test_state_round_trip_gives_identical_future_draws():
    pool = ImagePool(4, seed=2)
    for start in range(0, 12, 3):
        pool.query(_images(start, 3))
    state = pool.state_dict()
    assert set(state) == {"pool_size", "images", "rng_state"} and state["images"].shape == (4, 1, 2, 2)
    copy = ImagePool(4, seed=99)
    copy.load_state_dict(state)
    for start in range(100, 130, 3):
        assert torch.equal(pool.query(_images(start, 3)), copy.query(_images(start, 3)))
    empty = ImagePool(4, seed=0).state_dict()
    restored = ImagePool(4)
    restored.load_state_dict(empty)
    assert len(restored) == 0
    with pytest.raises(ValueError, match="pool size differs"):
        ImagePool(5).load_state_dict(state)


def test_zero_size_pool_is_a_passthrough_and_does_not_touch_global_rng():
    pool = ImagePool(0, seed=0)
    batch = _images(0, 3)
    state = torch.get_rng_state()
    assert torch.equal(pool.query(batch), batch) and len(pool) == 0
    full = ImagePool(1, seed=0)
    full.query(_images(0, 5))
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError):
        ImagePool(-1)
