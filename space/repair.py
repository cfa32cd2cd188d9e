"""Mapping any point of the box to a design that obeys the rules.

``repair(space, X)`` returns rows whose duplication fits the crossbar budget and whose
sharing obeys the partition rules, so that generic samplers (random, TPE, CMA-ES) waste
no trial on invalid points:

1. every column is clipped to its domain; in a space with epitome choices
   (``--epitomes search``, :mod:`space.epitome_choices`), a layer's configuration that
   is not allowed takes the layer's own precision, else becomes dense, and while a row's
   drops add up to more than the accuracy table's budget, the layer with the largest drop
   per crossbar its epitome saves turns dense (:func:`fit_epitomes`);
2. if even one copy of every layer does not fit (see ``DesignSpace.crossbar_limit``:
   the crossbar share, and the fixed periphery every crossbar brings within the rest of
   the budget), the globals move to the nearest point where it fits: a larger
   rram_ratio of the grid, another DAC resolution, other bits per cell, else another
   crossbar size (a network that fits nowhere in the box stays as it is and is reported
   infeasible);
3. a DAC resolution whose ADC (by the precision rule) the technology does not offer
   drops to the largest one that has an ADC;
4. if the copies need more crossbars than that limit, every conv layer's extra copies
   (beyond the first) shrink by one common factor until they fit;
5. if the macros' fixed power (scratchpad, router, registers) does not fit what is left
   (and, with an area budget, their fixed area what is left of it), every macro level
   shrinks by a common factor until it does (a level decodes to at
   least the layer's floor, the fewest macros that hold its crossbars within
   ``macro.max_crossbars``, ``DesignSpace.floor_counts``: counts never go below it);
6. sharing is kept where it is legal, in layer order: the partner is earlier, shares
   nobody itself, is shared by nobody else, the pair's macro count ``max(m_i, m_j)``
   stays within both layers' limits ``dup * blocks``, and the pair's busiest macro holds
   at most ``macro.max_crossbars`` crossbars; otherwise the layer keeps its own macros.

In a segmented space (MODEL.md section 8) steps 2 and 4 apply per segment
(:mod:`space.segmentation`): the globals stay, a new segment starts wherever the current
one would no longer fit (a layer that does not fit alone gets its own segment and one
copy: the evaluator tiles it), extra copies shrink by one factor per segment; step 5
counts the macros of the largest segment; a layer shares only the macros of a layer of
its own segment; untiled layers get dataflow 0 (theirs changes nothing).

Macro counts are legal by construction (divisors, see ``space.divisors``). The sparsity
modes of a space with densities (``sparse_j``) are clipped in step 1 and otherwise kept: a
mode changes no crossbar count. Repair is idempotent: ``repair(repair(X)) == repair(X)``.

``repair_partition(space, X)`` is the same for rows whose globals and duplication are
those of repaired rows (only macro levels, sharing or allocation changed, as in the EA
over partitioning): steps 2-4 cannot change such rows, so it runs steps 1, 5 and 6 only.
"""

from __future__ import annotations

import numpy as np

from costmodel.runs import Runs
from costmodel.segments import segment_sum
from costmodel.technology import adc_bits_required
from space.design_space import DesignSpace
from space.segmentation import canonical_flows, fit_segment_budget, fit_segments


def repair(space: DesignSpace, X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` (N, D) made valid (see the module docstring); a new array."""
    X = np.clip(np.atleast_2d(np.asarray(X, dtype=np.int64)), space.low, space.high)
    fit_epitomes(space, X)
    if space.segmented:
        fit_adc(space, X)
        fit_segments(space, X)
        fit_segment_budget(space, X)
    else:
        fit_weights(space, X)
        fit_adc(space, X)
        fit_budget(space, X)
    fit_macros(space, X)
    fix_sharing(space, X)
    canonical_flows(space, X)
    return X


def repair_partition(space: DesignSpace, X: np.ndarray) -> np.ndarray:
    """:func:`repair` of rows whose globals and duplication already passed it; a new array."""
    X = np.clip(np.atleast_2d(np.asarray(X, dtype=np.int64)), space.low, space.high)
    fit_macros(space, X)
    fix_sharing(space, X)
    canonical_flows(space, X)
    return X


def fit_epitomes(space: DesignSpace, X: np.ndarray) -> None:
    """Make every layer's epitome and precision allowed and keep each row's drops within
    the accuracy table's budget, in place (step 1; nothing in a space without epitome
    choices).

    A configuration that is not allowed (below the floor, not in the table, or padding)
    keeps its shape at the layer's own precision if that is allowed, else keeps its
    precision densely if allowed, else becomes dense. Then, while a row's drops add up to
    more than the budget, the layer with the largest drop per crossbar saved (one copy,
    at the row's globals; an epitome that saves none goes first) turns dense at its own
    precision; layers that cost nothing stay."""
    ch = space.epitomes
    if ch is None:
        return
    e, b = space.choice_indices(X)
    drop = ch.drops(e, b)
    bad = ~np.isfinite(drop)
    if bad.any():
        own_bits = np.isfinite(ch.drops(e, np.zeros_like(b)))
        dense_bits = np.isfinite(ch.drops(np.zeros_like(e), b))
        b = np.where(bad & (own_bits | ~dense_bits), 0, b)
        e = np.where(bad & ~own_bits, 0, e)
        drop = ch.drops(e, b)
    if ch.has_table:
        total = drop.sum(1)
        rows = np.flatnonzero(total > ch.budget + 1e-9)
        if len(rows):
            Xr, er, br, dr, tot = X[rows], e[rows], b[rows], drop[rows], total[rows]
            dense = space.sets_at(Xr, np.zeros_like(er), np.zeros_like(br))
            live = np.arange(len(rows))
            while len(live):
                saved = dense[live] - space.sets_at(Xr[live], er[live], br[live])
                d = dr[live]
                with np.errstate(divide="ignore"):
                    score = np.where(d > 0, np.where(saved > 0, d / np.maximum(saved, 1), np.inf), -1.0)
                j = score.argmax(1)
                tot[live] -= d[np.arange(len(live)), j]
                er[live, j] = 0
                br[live, j] = 0
                dr[live, j] = 0.0
                live = live[tot[live] > ch.budget + 1e-9]
            e[rows], b[rows] = er, br
    for out, cols in ((e, space.epitome_cols), (b, space.wbits_cols)):
        has = cols >= 0
        X[:, cols[has]] = out[:, has]


def fit_adc(space: DesignSpace, X: np.ndarray) -> None:
    """Lower the DAC resolution in place where no ADC is precise enough (step 3)."""
    if space.tech.sram is not None:                  # SRAM arrays convert with their own ADCs
        return
    col = space.columns[space.index["dac_bits"]]
    for _ in range(col.size):
        g = space.globals_of(X)
        need = np.clip(adc_bits_required(g["xbar_size"], g["dac_bits"], g["cell_bits"]), 0, 64)
        missing = np.isnan(space.tech.tables.adc_latency[need]) & (X[:, space.index["dac_bits"]] > col.low)
        if not missing.any():
            return
        X[missing, space.index["dac_bits"]] -= 1


def fit_weights(space: DesignSpace, X: np.ndarray) -> None:
    """Move the globals of rows whose single copies do not fit, in place (step 2).

    Fitting means: one copy of every layer within the crossbar share, and their fixed
    periphery plus one macro per layer within the rest of the budget. Candidates keep
    the crossbar size if they can, then the cell bits, then the DAC resolution, and
    raise the crossbar share as little as possible.
    """
    short = space.crossbar_sets(X).sum(1) > space.crossbar_limit(X)
    if not short.any():
        return
    ir, ic, isz, idac = (space.index[k] for k in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits"))
    col = space.columns
    ratios = np.arange(col[ir].low, col[ir].high + 1)
    for rows in np.array_split(np.flatnonzero(short), -(-short.sum() // 256)):   # bounded (rows x ratios) blocks
        n = len(rows)
        best = X[rows].copy()
        cost = np.full(n, np.inf)
        for sz in range(col[isz].low, col[isz].high + 1):
            for c in range(col[ic].low, col[ic].high + 1):
                for dac in range(col[idac].low, col[idac].high + 1):
                    cand = X[rows].copy()
                    cand[:, isz], cand[:, ic], cand[:, idac] = sz, c, dac
                    base = space.crossbar_sets(cand).sum(1)
                    # every crossbar share at once, (n, R): a share below the row's own is the row's own
                    each = np.repeat(cand, len(ratios), 0)
                    each[:, ir] = np.maximum(X[rows, ir, None], ratios).ravel()
                    fits = (np.repeat(base, len(ratios)) <= space.crossbar_limit(each)).reshape(n, -1)
                    d = (1_000_000 * (sz != X[rows, isz]) + 10_000 * np.abs(c - X[rows, ic])
                         + 100 * np.abs(dac - X[rows, idac]))[:, None] + (each[:, ir] - np.repeat(X[rows, ir], len(ratios))).reshape(n, -1)
                    d = np.where(fits, d, np.inf)
                    k = d.argmin(1)                                  # the first of the cheapest, as in ratio order
                    better = d[np.arange(n), k] < cost
                    best[better] = each.reshape(n, len(ratios), -1)[better, k[better]]
                    cost[better] = d[better, k[better]]
        X[rows] = best


def fit_budget(space: DesignSpace, X: np.ndarray) -> None:
    """Shrink extra copies in place so that sum(dup * set) <= ``space.crossbar_limit``."""
    conv = space.conv
    if not conv.any():
        return
    sets = space.crossbar_sets(X)
    budget = space.crossbar_limit(X)
    dup = space.dup_values(X)
    base = sets.sum(1)
    extra = ((dup - 1) * sets).sum(1)
    over = (base + extra > budget) & (base <= budget)
    if not over.any():
        return
    factor = np.clip((budget - base) / np.maximum(extra, 1), 0.0, 1.0)
    shrunk = 1 + np.floor((dup - 1) * factor[:, None] + 1e-9).astype(np.int64)
    X[np.ix_(over, space.dup_cols[conv])] = shrunk[np.ix_(over, np.flatnonzero(conv))]


def fit_macros(space: DesignSpace, X: np.ndarray, shrink: float = 0.7) -> None:
    """Lower every macro level of rows whose macros' fixed power (or area) does not fit,
    in place."""
    cols = space.macro_cols
    # only the levels change below; the rest is computed once per run of equal globals and copies
    runs = Runs(X[:, space.base_cols])
    base = runs.first(X)
    dup = space.dup_values(base)
    limit = runs.spread(space.macro_limits(base, dup))
    floor = runs.spread(space.floor_counts(base, space.macro_limits(base, dup)))
    table = space.level_table()
    rows = np.arange(len(X))
    levels = X[:, cols]
    if space.segmented:
        seg = runs.spread(space.segments_of(base))
        S = int(seg[:, -1].max()) + 1 if len(X) else 1
        L = len(cols)
        count = segment_sum(np.ones(seg.shape), seg, S)
    checks = []                       # per budget: (used, left, per_macro) in its currency (W or mm^2)
    for total, left_b, per_xbar_b, per_macro_b in space.fixed_costs(base):
        left, per_xbar, per_macro = (runs.spread(a) for a in (left_b, per_xbar_b, per_macro_b))
        if space.segmented:
            # per segment: its crossbars' and macros' fixed cost within what is left for its layers
            units = ((1 - space.globals_of(base)["rram_ratio"]) * total - left_b) / max(L, 1)
            used = segment_sum(runs.spread(dup * space.crossbar_sets(base)), seg, S) * per_xbar[:, None]
            left = (left + L * runs.spread(units))[:, None] - count * runs.spread(units)[:, None]
        else:
            used = runs.spread((dup * space.crossbar_sets(base)).sum(1)) * per_xbar
        checks.append((used, left, per_macro))
    for _ in range(64):
        macros = np.maximum(table[limit[rows], levels], floor[rows])
        over = np.zeros(len(rows), dtype=bool)
        if space.segmented:
            macros = segment_sum(macros, seg[rows], S)
            for used, left, per_macro in checks:
                over |= (used[rows] + macros * per_macro[rows, None] > left[rows]).any(1)
        else:
            total_macros = macros.sum(1)
            for used, left, per_macro in checks:
                over |= used[rows] + total_macros * per_macro[rows] > left[rows]
        over &= levels.max(1) > 0
        if not over.any():
            return
        rows = rows[over]
        levels = np.floor(levels[over] * shrink).astype(np.int64)
        X[np.ix_(rows, cols)] = levels


def fix_sharing(space: DesignSpace, X: np.ndarray) -> None:
    """Drop illegal sharing in place, deciding layer by layer (vectorised over designs).

    A layer's sharing is legal on its own when its partner is earlier and the pair's macro
    count fits both limits; rows where no two such layers use the same partner and no
    partner shares itself keep exactly those (deciding layer by layer changes nothing
    there); the others are decided layer by layer."""
    cols = space.share_cols
    if (cols < 0).all():
        return
    n, L = len(X), len(cols)
    has = cols >= 0
    share = np.full((n, L), -1, dtype=np.int64)
    share[:, has] = X[:, cols[has]]
    limit = space.macro_limits(X)
    macros = space.macro_values(X)
    q = np.maximum(share, 0)
    partner_limit = np.take_along_axis(limit, q, 1)
    pair = np.maximum(macros, np.take_along_axis(macros, q, 1))
    legal = (share >= 0) & (share < np.arange(L)) & (pair <= limit) & (pair <= partner_limit)
    if space.segmented:
        seg = space.segments_of(X)
        legal &= np.take_along_axis(seg, q, 1) == seg
    slices = space.layer_slices(X)
    legal &= space.pair_fits(slices, np.take_along_axis(slices, q, 1), limit, partner_limit, pair)
    partner_shares = legal & np.take_along_axis(legal, q, 1)
    slot = np.arange(0, n * (L + 1), L + 1)[:, None] + np.where(legal, q, L)
    users = np.bincount(slot.ravel(), minlength=n * (L + 1)).reshape(n, L + 1)
    tangled = partner_shares.any(1) | (users[:, :L] > 1).any(1)
    if tangled.any():
        legal[tangled] = _decide_in_order(legal[tangled], q[tangled])
    X[:, cols[has]] = np.where(legal, share, -1)[:, has]


def _decide_in_order(legal: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n, L) bool: layer by layer, a legal sharing is kept where its partner neither
    shares nor is shared by an earlier layer."""
    n, L = legal.shape
    rows = np.arange(n)
    sharer = np.zeros((n, L), dtype=bool)      # layer shares an earlier one
    shared = np.zeros((n, L), dtype=bool)      # layer's macros are shared by a later one
    for j in range(1, L):
        p = q[:, j]
        ok = legal[:, j] & ~sharer[rows, p] & ~shared[rows, p]
        sharer[:, j] = ok
        shared[rows[ok], p[ok]] = True
    return sharer
