"""Moves of the sparsity-mode columns ``sparse_j`` (MODEL.md section 10), vectorised over rows.

A space with densities has one mode column per weighted layer (codes 0..modes-1 of
``SPARSE_MODES``, :mod:`space.design_space`). The move picks a random layer of each row
and gives it another mode, uniformly among the layer's other valid codes. Modes change
no crossbar count, so the rows stay repaired (repair only clips these columns). A space
without densities has no such columns and the move does nothing (and draws nothing).
"""

from __future__ import annotations

import numpy as np

from space import DesignSpace


def sparse_columns(space: DesignSpace) -> np.ndarray:
    """Indices of the ``sparse_j`` columns, in layer order (empty in a dense space)."""
    return space.sparse_cols[space.sparse_cols >= 0]


def mutate_modes(space: DesignSpace, X: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
                 allowed: np.ndarray | None = None) -> None:
    """Give one random layer of each row of ``X`` (N, D) listed in ``rows`` another
    sparsity mode, in place; ``allowed`` (D,) bool restricts the layers to those whose
    column may change (default: all)."""
    cols = sparse_columns(space)
    if len(rows) == 0 or len(cols) == 0:
        return
    movable = np.ones(len(cols), dtype=bool) if allowed is None else allowed[cols]
    movable &= space.high[cols] > space.low[cols]
    if not movable.any():
        return
    choice = np.flatnonzero(movable)
    col = cols[choice[rng.integers(len(choice), size=len(rows))]]
    lo, size = space.low[col], space.high[col] - space.low[col] + 1
    cur = X[rows, col]
    other = lo + rng.integers(0, np.iinfo(np.int64).max, size=len(rows)) % (size - 1)    # one of the size - 1 others
    X[rows, col] = np.where(other >= cur, other + 1, other)
