"""How many macros a layer needs at least: the technology bounds the crossbars of a macro.

A copy of a weighted layer is ``row_groups x col_groups`` *blocks* of ``slices``
crossbars each (one block: one row group of one column group, all weight slices); a layer
of ``dup`` copies has ``blocks = dup * row_groups * col_groups`` of them. Split over ``m``
macros, the busiest macro holds ``ceil(blocks / m)`` blocks (MODEL.md section 1).
"""

from __future__ import annotations

import numpy as np


def blocks_per_macro(slices, max_crossbars: int):
    """Blocks one macro holds at most: ``floor(max_crossbars / slices)`` (0: not even one
    block fits, the layer cannot be placed); works on arrays."""
    return np.asarray(max_crossbars) // np.asarray(slices)


def fewest_macros(blocks, slices, max_crossbars: int) -> np.ndarray:
    """The smallest macro count whose busiest macro holds at most ``max_crossbars``
    crossbars: ``ceil(blocks / blocks_per_macro)``; ``blocks`` itself (one block per
    macro, still over the bound) where not even one block fits. Broadcasts ``blocks``
    (e.g. (N, L)) against ``slices`` (e.g. (N, 1))."""
    blocks = np.asarray(blocks, dtype=np.int64)
    per = blocks_per_macro(slices, max_crossbars)
    return np.where(per > 0, -(-blocks // np.maximum(per, 1)), blocks)


def fewest_dividing_macros(top: int, per_macro: int) -> np.ndarray:
    """(top + 1,) for every block count ``x`` in 0..top, the smallest divisor ``m`` of ``x``
    whose macros hold at most ``per_macro`` blocks each: ``x / q`` with ``q`` the largest
    divisor of ``x`` not above ``per_macro`` (a sieve: every ``d`` marks its multiples);
    ``x`` itself where ``per_macro`` is 0 (nothing fits); entry 0 is 1."""
    x = np.arange(top + 1, dtype=np.int64)
    q = np.zeros(top + 1, dtype=np.int64)
    for d in range(1, min(max(per_macro, 0), top) + 1):   # increasing: the last mark is the largest
        q[d::d] = d
    m = np.where(q > 0, x // np.maximum(q, 1), x)
    m[0] = 1
    return m
