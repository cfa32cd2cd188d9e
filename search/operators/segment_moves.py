"""Moves of the segmented-execution columns (MODEL.md section 8), vectorised over rows.

One move per row, chosen uniformly among: **split** (a segment splits before a random
layer inside it), **merge** (a random boundary goes away: two segments become one),
**move** (a random boundary shifts one layer earlier or later), **batch** (the batch
steps to the neighbouring power of two), **dataflow** (a random tiled layer takes
another loop order) and, where the technology offers several global-buffer sizes,
**buffer** (the buffer steps to the neighbouring size). After a split, merge or move the copies are refilled for the new
segments (:func:`space.segmentation.fill_segments`); the caller repairs the rows.
"""

from __future__ import annotations

import numpy as np

from search.operators.picking import pick as _pick
from space import DesignSpace
from space.segmentation import fill_segments

MOVES = ("split", "merge", "move", "batch", "dataflow", "buffer")


def segment_columns(space: DesignSpace) -> np.ndarray:
    """Indices of the segment, batch, dataflow and buffer columns (empty in a space with one segment)."""
    if not space.segmented:
        return np.zeros(0, dtype=np.int64)
    cols = [c for c in space.seg_cols if c >= 0] + [space.batch_col] + list(space.flow_cols)
    cols += [space.buffer_col] if space.buffer_col >= 0 else []
    return np.array(cols, dtype=np.int64)


def mutate_segments(space: DesignSpace, X: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Apply one random move to each row of ``X`` listed in ``rows``, in place."""
    if len(rows) == 0 or not space.segmented:
        return
    R = len(rows)
    Xr = X[rows]
    flags = Xr[:, space.seg_cols[1:]] if len(space.seg_cols) > 1 else np.zeros((R, 0), dtype=np.int64)
    c = space.columns[space.batch_col]
    tiled = space.tiles(Xr).tiled
    allowed = [(flags == 0).any(1), (flags == 1).any(1), (flags == 1).any(1), np.full(R, c.size > 1), tiled.any(1)]
    if space.buffer_col >= 0:                               # only then: other spaces keep their random streams
        allowed.append(np.ones(R, dtype=bool))
    move = _pick(np.stack(allowed, 1), rng)
    # split / merge: a random 0 (1) flag flips
    for m, want in ((0, 0), (1, 1)):
        sel = move == m
        j = _pick(flags[sel] == want, rng)
        flags[np.flatnonzero(sel), j] = 1 - want
    # move: a random boundary shifts to a free neighbour
    sel = np.flatnonzero(move == 2)
    if len(sel):
        j = _pick(flags[sel] == 1, rng)
        step = rng.choice(np.array([-1, 1]), size=len(sel))
        to = j + step
        L1 = flags.shape[1]
        to = np.where((to < 0) | (to >= L1), j - step, to)
        free = (to >= 0) & (to < L1) & (flags[sel, np.clip(to, 0, L1 - 1)] == 0)
        flags[sel[free], j[free]] = 0
        flags[sel[free], to[free]] = 1
    # batch: the neighbouring power of two
    sel = np.flatnonzero(move == 3)
    if len(sel):
        cur = Xr[sel, space.batch_col]
        step = rng.choice(np.array([-1, 1]), size=len(sel))
        nxt = np.where((cur + step < c.low) | (cur + step > c.high), cur - step, cur + step)
        Xr[sel, space.batch_col] = np.clip(nxt, c.low, c.high)
    # dataflow: a random tiled layer takes another order
    sel = np.flatnonzero(move == 4)
    if len(sel):
        j = _pick(tiled[sel], rng)
        cur = Xr[sel, space.flow_cols[j]]
        Xr[sel, space.flow_cols[j]] = (cur + rng.integers(1, 3, size=len(sel))) % 3
    # buffer: the neighbouring size
    sel = np.flatnonzero(move == 5)
    if len(sel):
        b = space.columns[space.buffer_col]
        cur = Xr[sel, space.buffer_col]
        step = rng.choice(np.array([-1, 1]), size=len(sel))
        Xr[sel, space.buffer_col] = np.where((cur + step < b.low) | (cur + step > b.high), cur - step, cur + step)
    if len(space.seg_cols) > 1:
        Xr[:, space.seg_cols[1:]] = flags
    changed = np.flatnonzero(move <= 2)
    if len(changed):
        Y = Xr[changed]
        fill_segments(space, Y)
        Xr[changed] = Y
    X[rows] = Xr

