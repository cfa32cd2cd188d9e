"""Macros on the mesh: serpentine placement and XY hop distances, vectorised.

Macro position p (0-based) on a mesh of ``width`` columns sits in row ``p // width``; even
rows run left to right, odd rows right to left, so consecutive macros are neighbours.
"""

from __future__ import annotations

import numpy as np


def coordinates(pos: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row, col)`` of mesh positions (arrays broadcast together; float arithmetic,
    exact for positions below 2^24)."""
    row = np.floor(pos / width)
    col = pos - row * width
    return row, col + _odd(row) * (width - 1 - 2 * col)


def _odd(row: np.ndarray) -> np.ndarray:
    """1.0 for odd rows, 0.0 for even ones."""
    return row - 2 * np.floor(row * 0.5)


def hops_to_range(src: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Largest XY distance (hops) from position ``src`` to any position in ``[lo, hi]``.

    Exact: the range covers part of its first row, whole middle rows and part of its last
    row; in each of those rows the farthest macro is at one end of the covered columns,
    and among the middle rows the first and the last are the farthest. All arguments
    broadcast; three divisions in all.
    """
    src, lo, hi, width = np.broadcast_arrays(src, lo, np.maximum(hi, lo), width)
    sr, sc = coordinates(src, width)
    r_lo, r_hi = np.floor(lo / width), np.floor(hi / width)
    last = width - 1
    # first row: logical columns lo - r_lo*w .. (w-1 or hi's column when one row)
    a0 = lo - r_lo * width
    a1 = np.where(r_hi == r_lo, hi - r_lo * width, last)
    best = _row_distance(r_lo, a0, a1, sr, sc, last)
    # last row: logical columns 0 .. hi - r_hi*w
    best = np.maximum(best, _row_distance(r_hi, 0, hi - r_hi * width, sr, sc, last) * (r_hi > r_lo))
    # whole middle rows: all columns; the extreme rows r_lo+1 and r_hi-1 are farthest
    middle = r_hi - r_lo >= 2
    far_col = np.maximum(sc, last - sc)
    far_row = np.maximum(np.abs(r_lo + 1 - sr), np.abs(r_hi - 1 - sr))
    return np.maximum(best, (far_row + far_col) * middle)


def _row_distance(row, a0, a1, sr, sc, last):
    """Farthest distance to logical columns ``a0..a1`` of ``row`` (snake-flipped if odd)."""
    odd = _odd(row)
    c0 = a0 + odd * (last - a1 - a0)
    c1 = a1 + odd * (last - a0 - a1)
    return np.abs(row - sr) + np.maximum(np.abs(c0 - sc), np.abs(c1 - sc))
