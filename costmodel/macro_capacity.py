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
