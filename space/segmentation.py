"""Repair steps of segmented spaces (MODEL.md section 8): every segment within the chip.

A segment fits when one copy of each of its layers is within the crossbar share, and
their fixed periphery (DACs, sample-and-hold, registers per crossbar; one macro and one
unit of each main peripheral per layer) within the rest of the budget: the conditions
:meth:`space.DesignSpace.crossbar_limit` puts on a whole network, applied per segment.
With a power and an area budget, every condition holds in each budget's currency (W of
peak power, mm^2), as the evaluator allocates the chip (the smaller allocation holds both).
All functions work in place on repaired-so-far rows ``X`` (N, D), vectorised over rows
(loops run over layers).
"""

from __future__ import annotations

import numpy as np

from costmodel.segments import copies_filling_segments, segment_sum
from space.design_space import DesignSpace

#: Bisection steps of :func:`fill_segments`' factor: 2^-24 resolves one copy of 16M pixels.
FILL_BISECTIONS = 24


def layer_costs(space: DesignSpace, X: np.ndarray):
    """``(sets, budget, costs)``: (N, L) crossbars of one copy per layer, (N,) crossbar
    budget (the smaller count of the budgets), and per budget that is given (power, then
    area) ``(pot, fixed, per_xbar)`` in its currency (W or mm^2): (N,) what is left for
    everything but crossbars, ``(1 - r) P`` or ``(1 - r) A``; (N,) the fixed cost one layer
    brings besides its crossbars (a macro and one unit of each main peripheral); and (N,)
    the fixed cost per crossbar."""
    L = len(space.dup_cols)
    ratio = space.globals_of(X)["rram_ratio"]
    costs = []
    for total, left, per_xbar, per_macro in space.fixed_costs(X):
        per_layer_units = ((1 - ratio) * total - left) / max(L, 1)
        costs.append((left + L * per_layer_units, per_macro + per_layer_units, per_xbar))
    return space.crossbar_sets(X), space.crossbar_budget(X), costs


def fit_segments(space: DesignSpace, X: np.ndarray) -> None:
    """Start a new segment wherever the current one would no longer fit (greedy, in layer
    order); a layer that does not fit alone gets a segment of its own and one copy (the
    evaluator splits it into weight tiles)."""
    if not space.segmented:
        return
    sets, budget, costs = layer_costs(space, X)
    n, L = sets.shape
    flags = np.zeros((n, L), dtype=bool)
    flags[:, 1:] = X[:, space.seg_cols[1:]] > 0
    acc_x = np.zeros(n)
    acc = [np.zeros(n) for _ in costs]                  # each budget's fixed cost of the segment so far
    for j in range(L):
        ws = [sets[:, j] * per_xbar + fixed for _, fixed, per_xbar in costs]
        if j:
            new = flags[:, j] | (acc_x + sets[:, j] > budget)
            for a, w, (pot, _, _) in zip(acc, ws, costs):
                new |= a + w > pot
        else:
            new = np.ones(n, dtype=bool)
        new &= (acc_x > 0) | (j == 0)
        flags[:, j] = new
        acc_x = np.where(new, 0, acc_x) + sets[:, j]
        acc = [np.where(new, 0, a) + w for a, w in zip(acc, ws)]
    if L > 1:
        X[:, space.seg_cols[1:]] = flags[:, 1:]
    too_big = sets > budget[:, None]
    for pot, fixed, per_xbar in costs:
        too_big |= sets * per_xbar[:, None] + fixed[:, None] > pot[:, None]
    one = too_big & space.conv
    if one.any():
        rows, layers = np.nonzero(one)
        X[rows, space.dup_cols[layers]] = 1


def segment_room(space: DesignSpace, X: np.ndarray):
    """``(sets, seg, S, limit)``: (N, L) crossbars of one copy per layer, (N, L) the
    segments, S the most segments of a row, and (N, S) the crossbars each segment may
    hold: within the crossbar share, and with their fixed periphery plus one macro and one
    unit of each main peripheral per layer of the segment within the rest of the budget."""
    sets, budget, costs = layer_costs(space, X)
    seg = space.segments_of(X)
    S = int(seg[:, -1].max()) + 1
    count = segment_sum(np.ones(sets.shape), seg, S)
    limit = budget[:, None]
    for pot, fixed, per_xbar in costs:
        limit = np.minimum(limit, np.floor(np.maximum(pot[:, None] - count * fixed[:, None], 0) / per_xbar[:, None]))
    return sets, seg, S, limit


def fit_segment_budget(space: DesignSpace, X: np.ndarray) -> None:
    """Shrink extra copies in place, by one factor per segment, so that every segment's
    copies fit (``fit_budget`` per segment)."""
    conv = space.conv
    if not conv.any():
        return
    sets, seg, S, limit = segment_room(space, X)
    dup = space.dup_values(X)
    rows = np.arange(len(X))[:, None]
    base = segment_sum(sets, seg, S)
    extra = segment_sum((dup - 1) * sets, seg, S)
    over = (base + extra > limit) & (base <= limit)
    if not over.any():
        return
    factor = np.where(over, np.clip((limit - base) / np.maximum(extra, 1), 0.0, 1.0), 1.0)[rows, seg]
    shrunk = 1 + np.floor((dup - 1) * factor + 1e-9).astype(np.int64)
    X[:, space.dup_cols[conv]] = shrunk[:, conv]


def canonical_flows(space: DesignSpace, X: np.ndarray) -> None:
    """Dataflow 0 (weight-stationary) for layers that are not tiled, in place: their
    dataflow changes nothing (MODEL.md section 8), so equal designs get equal rows."""
    if not space.segmented:
        return
    tiled = space.tiles(X).tiled
    X[:, space.flow_cols] = np.where(tiled, X[:, space.flow_cols], 0)


def fill_segments(space: DesignSpace, X: np.ndarray) -> None:
    """Copies of every conv layer in place, proportional to its output pixels and filling
    its segment's crossbars (the ``heuristic`` duplication of PIMSYN's baseline, per
    segment: :func:`costmodel.segments.copies_filling_segments`). Layers that do not fit
    alone keep one copy."""
    conv = space.conv
    if not conv.any():
        return
    sets, seg, S, limit = segment_room(space, X)
    budget = space.crossbar_budget(X)
    pixels = space.workload.out_pixels[space.workload.layer_of_w].astype(float)
    top = np.where(conv & (sets <= budget[:, None]), np.minimum(pixels, space.dup_max), 1)
    X[:, space.dup_cols[conv]] = copies_filling_segments(sets, seg, limit, pixels, top, FILL_BISECTIONS)[:, conv]
