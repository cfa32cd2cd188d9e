"""The Pareto front of points in two objectives, both maximised.

:func:`pareto_front` takes two arrays of shape (N,) (e.g. peak TOPS/W and peak
TOPS/mm^2, any units) and returns the indices of the non-dominated points. Point j
dominates point i when it is at least as good in both objectives and better in one; a
point dominated by none is on the front. Equal points do not dominate each other, so
every copy of a front point is on the front, and every point off the front is dominated
by some point on it. Points with a NaN or infinite objective are never on the front
(and are not compared). O(N log N), no Python loop per point.
"""

from __future__ import annotations

import numpy as np


def pareto_front(x, y) -> np.ndarray:
    """Indices (int array, shape (K,)) of the non-dominated points of (``x``, ``y``), both
    maximised, ordered by ``x`` ascending (so ``y`` descending): the order a step line
    through the front is drawn in."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pareto_front takes two arrays of one shape (N,), got {x.shape} and {y.shape}")
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if not len(finite):
        return np.zeros(0, dtype=int)
    xs, ys = x[finite], y[finite]
    order = np.lexsort((-ys, -xs))                  # x descending, then y descending
    xs, ys = xs[order], ys[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])   # first point of each equal-x group
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    running = np.maximum.accumulate(ys)
    # best y among points of strictly larger x, per group; -inf before the first group
    before = np.r_[-np.inf, running[starts[1:] - 1]][group]
    best_in_group = ys[starts][group]
    keep = (ys == best_in_group) & (ys > before)
    front = finite[order[keep]]
    return front[::-1].copy()                        # x ascending


def dominated_by(x, y, front) -> np.ndarray:
    """Boolean (N,): point i is dominated by some point of ``front`` (indices into x, y)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    fx, fy = x[front][None, :], y[front][None, :]
    ge = (fx >= x[:, None]) & (fy >= y[:, None])
    gt = (fx > x[:, None]) | (fy > y[:, None])
    return (ge & gt).any(axis=1)
