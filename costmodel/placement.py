"""Macros on the mesh: serpentine placement and XY hop distances, vectorised.

Macro position p (0-based) on a mesh of ``width`` columns sits in row ``p // width``; even
rows run left to right, odd rows right to left, so consecutive macros are neighbours.
"""

from __future__ import annotations

import numpy as np


def coordinates(pos: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row, col)`` of mesh positions (arrays broadcast together)."""
    row = pos // width
    col = pos % width
    return row, np.where(row % 2 == 1, width - 1 - col, col)


def hops_to_range(src: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Largest XY distance (hops) from position ``src`` to any position in ``[lo, hi]``.

    Exact: the farthest macro of a contiguous serpentine range is an end of the range or
    an end of one of its first two or last two rows. All arguments broadcast.
    """
    src, lo, hi, width = np.broadcast_arrays(src, lo, np.maximum(hi, lo), width)
    sr, sc = coordinates(src, width)
    best = np.zeros(src.shape, dtype=np.int64)
    r_lo, r_hi = lo // width, hi // width
    candidates = [lo, hi]
    for r in (r_lo, r_lo + 1, r_hi - 1, r_hi):
        candidates += [np.clip(r * width, lo, hi), np.clip(r * width + width - 1, lo, hi)]
    for c in candidates:
        r, col = coordinates(c, width)
        best = np.maximum(best, np.abs(r - sr) + np.abs(col - sc))
    return best
