"""Moves of the epitome and precision columns (MODEL.md section 11), vectorised over rows.

A space with epitome choices (``--epitomes search``, :mod:`space.epitome_choices`) has an
``epitome_j`` column per conv layer with candidates (index of its shape, 0 dense) and,
with ``--weight-bits``, a ``wbits_j`` column per weighted layer (index of its precision,
0 its own). Two moves:

- :func:`mutate_epitomes`, **grow / shrink**: a random layer of each row moves one step
  along one dimension, uniformly among the steps allowed there: its epitome's ``out`` or
  ``in`` grows or shrinks to the neighbouring candidate (growing past the largest gives
  the dense layer, shrinking the dense layer gives its largest candidate along that
  axis; ``EpitomeChoices.neighbours``), or its precision takes the next fewer or more
  bits. A step is allowed only where the new configuration is (finite drop). Half the
  moved layers then keep their crossbars: their copies scale by the old over the new
  crossbars of one copy (at least 1, at most ``dup_max``); the others keep their copies.
- :func:`mutate_copies`, **copies**: PIMSYN's duplication move on the row (one conv layer
  takes copies, others give some back, free crossbars are spent;
  :func:`search.operators.annealing.move_copies`), at the row's own crossbars per copy.

The caller repairs the rows (the budget, the accuracy table, the macros). Spaces without
epitome choices have no such columns and the moves draw nothing.
"""

from __future__ import annotations

import numpy as np

from search.operators.picking import pick as _pick
from space import DesignSpace

#: Share of shape / precision moves after which the layer's copies scale to keep its crossbars.
KEEP_CROSSBARS_SHARE = 0.5


def epitome_columns(space: DesignSpace) -> np.ndarray:
    """Indices of the ``epitome_j`` and ``wbits_j`` columns (empty without epitome choices)."""
    return np.concatenate([space.epitome_cols[space.epitome_cols >= 0],
                           space.wbits_cols[space.wbits_cols >= 0]]).astype(np.int64)


def allowed_steps(space: DesignSpace, X: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """(N, L, 6) bool: which steps each layer of rows ``X`` may take: grow / shrink ``out``,
    grow / shrink ``in`` (the order of :data:`space.epitome_choices.DIRECTIONS`), fewer /
    more bits; ``allowed`` (D,) bool restricts them to columns that may change."""
    ch = space.epitomes
    N, L = len(X), len(space.epitome_cols)
    e, b = space.choice_indices(X)
    layers = np.arange(L)
    targets = targets_of(space, e, b)                                      # (N, L, 6, 2)
    ok = (targets[..., 0] >= 0) & np.isfinite(ch.drop[layers[None, :, None], np.maximum(targets[..., 0], 0),
                                                      np.maximum(targets[..., 1], 0)])
    allowed = np.ones(space.dims, dtype=bool) if allowed is None else allowed
    shape_ok = (space.epitome_cols >= 0) & allowed[np.maximum(space.epitome_cols, 0)]
    bits_ok = (space.wbits_cols >= 0) & allowed[np.maximum(space.wbits_cols, 0)]
    ok[:, :, :4] &= shape_ok[None, :, None]
    ok[:, :, 4:] &= bits_ok[None, :, None]
    return ok.reshape(N, L, 6)


def targets_of(space: DesignSpace, e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, L, 6, 2) the (shape, precision) indices each step reaches from ``e``, ``b``
    (N, L); -1 shape where the step goes nowhere."""
    ch = space.epitomes
    layers = np.arange(e.shape[1])
    out = np.empty(e.shape + (6, 2), dtype=np.int64)
    out[..., :4, 0] = ch.neighbours[layers, e]                             # (N, L, 4)
    out[..., :4, 1] = b[..., None]
    nb = ch.bit_neighbours[layers, b]                                     # (N, L, 2)
    out[..., 4:, 0] = np.where(nb >= 0, e[..., None], -1)
    out[..., 4:, 1] = np.maximum(nb, 0)
    return out


def mutate_epitomes(space: DesignSpace, X: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
                    allowed: np.ndarray | None = None) -> None:
    """Grow or shrink one dimension of one random layer of each row of ``X`` (N, D) listed
    in ``rows``, in place (module docstring); ``allowed`` (D,) bool: the columns that may
    change (default all; copies change only where their column may)."""
    if len(rows) == 0 or space.epitomes is None or len(epitome_columns(space)) == 0:
        return
    Xr = X[rows]
    R, L = len(rows), len(space.epitome_cols)
    ok = allowed_steps(space, Xr, allowed)                                 # (R, L, 6)
    k = _pick(ok.reshape(R, L * 6), rng)
    act = k >= 0
    if not act.any():
        return
    j, step = np.maximum(k, 0) // 6, np.maximum(k, 0) % 6
    e, b = space.choice_indices(Xr)
    r = np.arange(R)
    target = targets_of(space, e, b)[r, j, step]                           # (R, 2)
    before = space.crossbar_sets(Xr)[r, j]
    new_e, new_b = e.copy(), b.copy()
    new_e[r, j] = np.where(act, target[:, 0], e[r, j])
    new_b[r, j] = np.where(act, target[:, 1], b[r, j])
    for cols, values in ((space.epitome_cols, new_e), (space.wbits_cols, new_b)):
        has = cols >= 0
        Xr[:, cols[has]] = values[:, has]
    keep = act & (rng.random(R) < KEEP_CROSSBARS_SHARE) & (space.dup_cols[j] >= 0)
    if allowed is not None:
        keep &= allowed[np.maximum(space.dup_cols[j], 0)]
    if keep.any():
        after = space.crossbar_sets(Xr)[r, j]
        col = space.dup_cols[j]
        cur = Xr[r, np.maximum(col, 0)]
        scaled = np.clip(np.floor(cur * before / np.maximum(after, 1)), 1, space.dup_max[j]).astype(np.int64)
        Xr[r[keep], col[keep]] = scaled[keep]
    X[rows] = Xr


def mutate_copies(space: DesignSpace, X: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
                  allowed: np.ndarray | None = None) -> None:
    """PIMSYN's duplication move on each row of ``X`` listed in ``rows``, at the row's own
    crossbars per copy, in place (only conv layers whose ``dup_j`` may change move)."""
    from search.operators.annealing import conv_copies, fill_copies, move_copies

    if len(rows) == 0:
        return
    dcols = space.dup_cols[space.conv]
    dmax = space.dup_max[space.conv]
    dmov = dmax > 1
    if allowed is not None:
        dmov &= allowed[dcols]
    if not dmov.any():
        return
    Xr = X[rows]
    dup, sets, limit = conv_copies(space, Xr)
    moved = move_copies(dup, sets, limit, dmax, dmov, np.ones(len(rows), dtype=bool), rng)
    Xr[:, dcols] = fill_copies(moved, sets, limit, dmax, dmov, rng)
    X[rows] = Xr


def step_columns(space: DesignSpace, X: np.ndarray, col: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(K,) new values of the epitome or precision column ``col[k]`` of row ``X[k]``: one
    allowed grow / shrink step of that layer along a random dimension (its value where
    none is allowed). For the simulated-annealing move of :mod:`search.operators.annealing`."""
    K = len(X)
    out = X[np.arange(K), col].copy()
    is_shape = np.isin(col, space.epitome_cols[space.epitome_cols >= 0])
    owner = np.zeros(space.dims, dtype=np.int64)                         # column -> its layer
    for cols in (space.epitome_cols, space.wbits_cols):
        owner[cols[cols >= 0]] = np.flatnonzero(cols >= 0)
    layer = owner[col]
    ok = allowed_steps(space, X)[np.arange(K), layer]                      # (K, 6)
    ok[:, :4] &= is_shape[:, None]
    ok[:, 4:] &= ~is_shape[:, None]
    step = _pick(ok, rng)
    e, b = space.choice_indices(X)
    target = targets_of(space, e, b)[np.arange(K), layer, np.maximum(step, 0)]
    return np.where(step >= 0, np.where(is_shape, target[:, 0], target[:, 1]), out)
