"""The grid ceiling of benchmarks.grid_ceiling: what a mask painted on a coarse grid can reach."""

import numpy as np

from benchmarks.grid_ceiling import grid_ceiling


def test_cell_aligned_square_is_drawn_exactly_and_a_small_blob_is_not():
    square = np.zeros((256, 256), bool)
    square[64:128, 32:96] = True  # 8 x 8 cells of 8 px on the 32 x 32 grid
    assert grid_ceiling(square, 32) > 0.95
    blob = np.zeros((256, 256), bool)
    blob[101:105, 101:105] = True  # 4 x 4 px: half a cell
    assert grid_ceiling(blob, 32) < 0.3
    assert grid_ceiling(blob, 128) > 0.5  # 2 px cells draw it
