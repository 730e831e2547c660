"""Sample grid layout: size, tile placement, MONAI's width-first order, atomic PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medtranslate.handlers import HEADER_HEIGHT, make_sample_grid, save_sample_grid


def test_grid_layout_and_orientation():
    a = torch.full((2, 1, 8, 6), -1.0)  # X = 8 (width), Y = 6 (height)
    b = torch.full((2, 1, 8, 6), 1.0)
    b[1, 0, 0, 5] = -1.0  # X = 0, Y = 5: left column, bottom row of the tile
    grid = make_sample_grid([a, b], titles=None, pad=1)
    assert grid.shape == (2 * 6 + 3, 2 * 8 + 3) and grid.dtype == np.uint8
    assert grid[0].tolist() == [255] * grid.shape[1]  # padding
    assert (grid[1:7, 1:9] == 0).all()  # case 0, column a
    tile = grid[8:14, 10:18]  # case 1, column b
    assert tile[5, 0] == 0 and tile[0, 0] == 255 and (tile != 0).sum() == 6 * 8 - 1


def test_titles_and_png(tmp_path):
    cols = [torch.zeros(3, 1, 16, 16)] * 4
    path = save_sample_grid(tmp_path / "samples" / "epoch_001.png", cols, min_tile=16)
    assert path.shape == (HEADER_HEIGHT + 3 * 16 + 4 * 2, 4 * 16 + 5 * 2)
    files = list((tmp_path / "samples").iterdir())
    assert [f.name for f in files] == ["epoch_001.png"]
    with Image.open(files[0]) as image:
        assert image.size == (74, 70)
        assert (np.asarray(image)[:HEADER_HEIGHT] < 255).any()  # title text drawn
    with pytest.raises(ValueError):
        make_sample_grid([torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5)])


def test_small_tiles_are_enlarged_by_whole_pixels(tmp_path):
    tile = torch.linspace(-1, 1, 16 * 16).reshape(1, 1, 16, 16)
    grid = save_sample_grid(tmp_path / "g.png", [tile, tile], ("a", "b"), min_tile=64)  # 16 px → ×4
    assert grid.shape == (HEADER_HEIGHT + 64 + 2 * 2, 2 * 64 + 3 * 2)
    block = grid[HEADER_HEIGHT + 2 : HEADER_HEIGHT + 6, 2:6]
    assert (block == block[0, 0]).all()  # one source pixel → a 4×4 block
