"""Macros on the mesh: serpentine placement and XY hop distances, vectorised.

Macro position p (0-based) on a mesh of ``width`` columns sits in row ``p // width`` at
logical column ``p % width``; even rows run left to right, odd rows right to left (the
physical column of an odd row is ``width - 1 -`` the logical one), so consecutive macros
are neighbours.
"""

from __future__ import annotations

import numpy as np


def mesh_ranges(ends: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Logical ``(row_lo, col_lo, row_hi, col_hi)`` (int32, first axis) of ranges whose
    first and last positions are ``ends`` (2, ...) on meshes ``width`` (broadcasting
    against ``ends[0]``); float arithmetic, exact for positions below 2^24."""
    rows = np.floor(ends / width)
    out = np.empty((2, 2, *ends.shape[1:]), dtype=np.int32)
    out[:, 0] = rows
    out[:, 1] = ends - rows * width
    return out.reshape(4, *ends.shape[1:])


def farthest_hops(src, rng, last: np.ndarray) -> np.ndarray:
    """Largest XY distance (hops, int32) from a source macro to any macro of a range.

    ``src`` is the source's logical ``(row, col)``, ``rng`` the range's four arrays as
    :func:`mesh_ranges` gives them and ``last`` the mesh width - 1; all broadcast. Exact:
    the range covers part of its first row, whole middle rows and part of its last row;
    in each of those rows the farthest macro is at one end of the covered columns, and
    among the middle rows the first and the last are the farthest. In a row whose parity
    differs from the source's, the source's column mirrors (``last - col``).
    """
    s_row, s_col = src
    r_lo, c_lo, r_hi, c_hi = rng
    d_lo, d_hi = r_lo - s_row, r_hi - s_row
    mirror = last - 2 * s_col
    t_lo = s_col + mirror * (d_lo & 1)                                  # source column in the first row's logic
    t_hi = s_col + mirror * (d_hi & 1)
    several = r_hi != r_lo
    end = np.maximum(c_hi, last * several)                              # first row: columns c_lo .. end
    best = np.abs(d_lo) + np.maximum(t_lo - c_lo, end - t_lo)
    # last row (columns 0 .. c_hi), when the range has more than one row
    best = np.maximum(best, (np.abs(d_hi) + np.maximum(t_hi, c_hi - t_hi)) * several)
    # whole middle rows: all columns; the extreme rows r_lo + 1 and r_hi - 1 are farthest
    middle = (np.maximum(d_hi - 1, -1 - d_lo) + np.maximum(s_col, last - s_col)) * (r_hi - r_lo >= 2)
    return np.maximum(best, middle)
