"""Simulated annealing on the design space's integer matrix (BACKGROUND.md section 5).

Everything here works on K designs (chains) at once, as rows of an encoded matrix
``X`` of shape (K, D) (see :mod:`space.design_space`): the Optuna sampler
(:mod:`search.samplers.sa_sampler`) runs one row per trial, the synthesis engine runs a whole
population per step.

- :func:`propose`: PIMSYN's neighbour move. One conv layer per row gets more weight
  copies and other conv layers give copies back, so that the crossbars the budget pays
  for stay used (``sum_i dup_i * set_i`` as close to the budget as possible without
  exceeding it); sometimes another column (a global, a macro level, a sharing partner)
  takes a small step instead.
- :func:`move_copies`, :func:`fill_copies`: the duplication move itself on plain
  (K, C) copy arrays (:func:`conv_copies` extracts them from rows), which the synthesis
  engine's SA filter (:mod:`search.synth.dup_filter`) runs without the rest of a design.
- :func:`pimsyn_energy`: PIMSYN's Eq. 4, the SA filter's energy (lower is better);
  :func:`duplication_energy` is the same on copy arrays.
- :func:`accept`: Metropolis acceptance for maximisation on a relative scale.
- :func:`temperature`: the geometric cooling schedule.
- :func:`anneal`: a plain batched SA loop (K chains, one objective call per step).

Objective values follow one convention throughout: higher is better, NaN or ``-inf``
marks an infeasible design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from search.operators.epitome_moves import epitome_columns, step_columns
from search.operators.segment_moves import segment_columns
from search.operators.sparse_moves import sparse_columns
from space import DesignSpace, repair

__all__ = ["PIMSYN_ALPHA", "accept", "anneal", "conv_copies", "copy_room", "duplication_energy", "energy_terms",
           "feasible", "fill_copies", "move_copies", "pimsyn_energy", "propose", "restart", "temperature"]

#: Weight of the access-balance term of :func:`pimsyn_energy`. The paper leaves alpha
#: open; on the CIFAR zoo networks the standard deviation of ``access_i`` is about 100x
#: that of ``H_out*W_out/dup_i`` for budget-filling duplication vectors, so 0.01 gives the
#: two terms similar weight.
PIMSYN_ALPHA = 0.01

#: Largest step of a duplication move as a share of the copies the layer could still get
#: (PIMSYN adds between the copies that fill the free crossbars and a fifth of the room).
DUP_STEP_SHARE = 0.2


# --- moves -----------------------------------------------------------------------------
def propose(space: DesignSpace, X: np.ndarray, rng: np.random.Generator, *,
            columns: Sequence[str | int] | np.ndarray | None = None,
            move_globals: float = 0.1) -> np.ndarray:
    """Neighbours of K designs, one per row: a new repaired (K, D) int64 matrix.

    Per row, either (probability ``1 - move_globals``) the duplication move: pick a
    movable conv layer j that can still take copies, add ``a`` copies to it (``a`` at
    least 1 and at least what fills the free crossbars, at most that plus
    :data:`DUP_STEP_SHARE` of the layer's remaining room), take the crossbars this
    overdraws back from the other movable conv layers (random amounts in random order,
    then the fewest copies that close the gap), and finally spend what is left on
    layers in random order. Or (probability ``move_globals``, and always when a row has
    no duplication move) one other movable column takes a small step: the column is a
    uniformly drawn group (globals, macro levels, sharing partners, allocation, segments,
    sparsity modes), then a column of it; the step is +-1 to +-10 % of the range (+-1 for
    the globals' few choices), any other partner for a sharing column and any other mode
    for a sparsity-mode column (a layer's mode move); the row is then repaired for the
    new globals and its extra copies grown by one common factor to use the new budget.

    Args:
        space: the design space.
        X: (K, D) rows (repaired first; ``repair`` is idempotent on valid rows).
        rng: random source (all draws are vectorised over rows, so the result depends
            only on ``rng``'s state and ``X``).
        columns: names, indices or a (D,) bool mask of the columns that may move (e.g.
            only the ``dup_*`` columns, to anneal duplication with globals and macros
            fixed); default every column. Repair may still adjust a fixed column to keep
            the row valid (macro levels when copies change, sharing that became illegal).
        move_globals: probability that a row moves a non-duplication column instead.

    Returns:
        (K, D) int64, ``repair(space, result) == result``; every row's duplication fits
        the crossbar budget (``sum_i dup_i * set_i <= space.crossbar_budget``).
    """
    X = repair(space, X)
    K = len(X)
    movable = _column_mask(space, columns) & (space.high > space.low)
    dcols = space.dup_cols[space.conv]                     # (C,) D-index of each conv dup
    dmov = movable[dcols]                                  # (C,) movable conv layers
    other = movable.copy()
    other[dcols] = False
    if K == 0 or not (dmov.any() or other.any()):
        return X

    dmax = space.dup_max[space.conv]
    can_dup = (copy_room(*conv_copies(space, X), dmax, dmov)[1].any(1) if dmov.any()
               else np.zeros(K, dtype=bool))
    draw = rng.random(K) < move_globals
    step_other = (draw | ~can_dup) & other.any()
    if step_other.any():
        _step_other(space, X, step_other, other, rng)
        X = repair(space, X)
        if dmov.any():
            _rescale_copies(space, X, step_other, dmov)
    if dmov.any():
        dup, sets, limit = conv_copies(space, X)
        dup = move_copies(dup, sets, limit, dmax, dmov, ~step_other, rng)
        X[:, dcols] = fill_copies(dup, sets, limit, dmax, dmov, rng)
    return repair(space, X)


def _column_mask(space: DesignSpace, columns) -> np.ndarray:
    """(D,) bool mask of the movable columns."""
    if columns is None:
        return np.ones(space.dims, dtype=bool)
    cols = np.asarray(columns)
    if cols.dtype == bool:
        if cols.shape != (space.dims,):
            raise ValueError(f"columns mask must have shape ({space.dims},), got {cols.shape}")
        return cols.copy()
    mask = np.zeros(space.dims, dtype=bool)
    for c in columns:
        if isinstance(c, str):
            if c not in space.index:
                raise ValueError(f"unknown column {c!r}")
            mask[space.index[c]] = True
        else:
            mask[int(c)] = True
    return mask


def conv_copies(space: DesignSpace, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The duplication state of rows ``X`` (K, D) as plain arrays over the conv layers:
    copies (K, C), crossbars of one copy (K, C), and the crossbars the conv copies may
    use (K,): ``space.crossbar_limit`` minus the fc layers' single copies."""
    sets_all = space.crossbar_sets(X)
    dup_all = space.dup_values(X)
    fc = (sets_all * dup_all)[:, ~space.conv].sum(1)
    limit = space.crossbar_limit(X).astype(np.int64) - fc
    return dup_all[:, space.conv], sets_all[:, space.conv], limit


def copy_room(dup: np.ndarray, sets: np.ndarray, limit: np.ndarray, dmax: np.ndarray,
              dmov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, C) most copies each movable layer could hold with every other movable layer at
    one copy, and (K, C) whether it can take at least one more (shapes as
    :func:`conv_copies`; ``dmax`` (C,) the space's largest copies, ``dmov`` (C,) bool)."""
    floor_use = (dup * sets).sum(1) - ((dup - 1) * sets * dmov).sum(1)
    room = 1 + np.floor(np.maximum(limit - floor_use, 0)[:, None] / sets).astype(np.int64)
    cap = np.minimum(dmax[None, :], room)
    return cap, dmov[None, :] & (dup < cap)


def move_copies(dup: np.ndarray, sets: np.ndarray, limit: np.ndarray, dmax: np.ndarray,
                dmov: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIMSYN's move on ``rows`` (K,) bool: add copies to one layer, take from others;
    returns the new copies (K, C) (arguments as :func:`copy_room`)."""
    dup = dup.copy()
    K = len(dup)
    used = (dup * sets).sum(1)
    cap, ok = copy_room(dup, sets, limit, dmax, dmov)
    ok &= rows[:, None]
    keys = np.where(ok, rng.random(ok.shape), -1.0)
    j = keys.argmax(1)
    act = ok.any(1)
    r = np.arange(K)
    sj, dj, cj = sets[r, j], dup[r, j], cap[r, j]
    free = np.maximum(limit - used, 0)
    lo = np.clip(-(-free // sj), 1, cj - dj)
    hi = lo + np.ceil(DUP_STEP_SHARE * np.maximum(cj - dj - lo, 0)).astype(np.int64)
    a = lo + np.floor(rng.random(K) * (hi - lo + 1)).astype(np.int64)
    a = np.where(act, np.minimum(a, cj - dj), 0)
    moved = dup.copy()
    moved[r, j] += a
    deficit = used + a * sj - limit                        # crossbars to give back
    donors = dmov[None, :] & (np.arange(len(dmov))[None, :] != j[:, None])
    order = np.argsort(rng.random(dup.shape), axis=1)
    # the layers in each row's random order (columns by position), written back at the end
    moved_o, sets_o = np.take_along_axis(moved, order, 1), np.take_along_axis(sets, order, 1)
    donors_o = np.take_along_axis(donors, order, 1)
    # pass 1: random partial amounts in random order
    u = rng.random(dup.shape)
    for pos in range(dup.shape[1]):
        if not (deficit > 0).any():                  # nothing left to give back: every take is 0
            break
        need = np.where(donors_o[:, pos] & (deficit > 0),
                        np.minimum(moved_o[:, pos] - 1, -(-deficit // sets_o[:, pos])), 0)
        take = np.minimum(np.floor(u[:, pos] * need).astype(np.int64) + (need > 0), need)
        moved_o[:, pos] -= take
        deficit -= take * sets_o[:, pos]
    # pass 2, in the same order: the fewest copies that fit, i.e. every spare copy of the
    # donors until their crossbars cover the deficit, and of the last one what it must
    if (deficit > 0).any():
        spare = (moved_o - 1) * donors_o * sets_o                # crossbars each donor can give
        upto = np.cumsum(spare, 1)
        before = upto - spare
        d = deficit[:, None]
        last = (before < d) & (upto >= d)
        moved_o -= np.where(upto < d, moved_o - 1, 0) * donors_o
        moved_o -= np.where(last, -(-(d - before) // sets_o), 0)
    np.put_along_axis(moved, order, moved_o, 1)
    return np.where(act[:, None], moved, dup)


def fill_copies(dup: np.ndarray, sets: np.ndarray, limit: np.ndarray, dmax: np.ndarray,
                dmov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spend free crossbars: movable layers in random order take what fits; returns the
    new copies (K, C) (arguments as :func:`copy_room`)."""
    dup = dup.copy()
    free = np.maximum(limit - (dup * sets).sum(1), 0)
    order = np.argsort(rng.random(dup.shape), axis=1)
    # the layers in each row's random order (columns by position), written back at the end
    dup_o, sets_o = np.take_along_axis(dup, order, 1), np.take_along_axis(sets, order, 1)
    room_o = np.where(dmov[order], dmax[order] - dup_o, 0)
    smallest = np.where(dmov[None, :], sets, np.iinfo(np.int64).max).min(1)    # (K,) cheapest copy
    for pos in range(dup.shape[1]):
        if not (free >= smallest).any():                # no copy fits anywhere: every add is 0
            break
        add = np.maximum(np.minimum(room_o[:, pos], free // sets_o[:, pos]), 0)
        dup_o[:, pos] += add
        free -= add * sets_o[:, pos]
    np.put_along_axis(dup, order, dup_o, 1)
    return dup


def _rescale_copies(space: DesignSpace, X: np.ndarray, rows: np.ndarray, dmov: np.ndarray) -> None:
    """Grow the movable extra copies of ``rows`` by one common factor to the limit, in
    place (repair has already shrunk rows that were over it)."""
    dcols = space.dup_cols[space.conv]
    dup, sets, limit = conv_copies(space, X)
    extra = (dup - 1) * dmov
    spent = (extra * sets).sum(1)
    factor = np.where(spent > 0, (limit - (dup * sets).sum(1) + spent) / np.maximum(spent, 1), 1.0)
    grown = 1 + np.minimum(np.floor(extra * factor[:, None]).astype(np.int64),
                           space.dup_max[space.conv] - 1)
    grown = np.where(dmov[None, :], np.maximum(grown, dup), dup)
    X[:, dcols] = np.where((rows & (factor > 1))[:, None], grown, dup)


def _column_groups(space: DesignSpace) -> np.ndarray:
    """(D,) group of each column: 0 global, 1 duplication, 2 macro level, 3 sharing,
    4 allocation, 5 segments, batch and dataflow (a segmented space), 6 sparsity modes
    (a space with densities), 7 epitomes and precisions (a space with epitome choices)."""
    group = np.zeros(space.dims, dtype=np.int64)
    group[space.dup_cols[space.dup_cols >= 0]] = 1
    group[space.macro_cols] = 2
    group[space.share_cols[space.share_cols >= 0]] = 3
    group[space.alloc_cols[space.alloc_cols >= 0]] = 4
    group[segment_columns(space)] = 5
    group[sparse_columns(space)] = 6
    group[epitome_columns(space)] = 7
    return group


def _step_other(space: DesignSpace, X: np.ndarray, rows: np.ndarray, other: np.ndarray,
                rng: np.random.Generator) -> None:
    """One small step of one movable non-duplication column per selected row, in place.

    The column is drawn in two stages, a group (globals, macro levels, sharing partners,
    allocation, segments, sparsity modes, epitomes and precisions) uniformly among the
    groups with movable columns, then a column of it, so that the four globals are not
    drowned by the per-layer columns. A segment flag steps to its other value: the segment
    splits there, or merges with the previous; a sparsity mode, like a sharing partner,
    takes any other value; an epitome or precision grows or shrinks one step
    (:func:`search.operators.epitome_moves.step_columns`)."""
    K = len(X)
    group = _column_groups(space)
    groups = [np.flatnonzero(other & (group == g)) for g in (0, 2, 3, 4, 5, 6, 7)]
    groups = [g for g in groups if len(g)]
    table = np.full((len(groups), max(len(g) for g in groups)), -1, dtype=np.int64)
    for i, g in enumerate(groups):
        table[i, :len(g)] = g
    count = np.array([len(g) for g in groups])
    gi = np.floor(rng.random(K) * len(groups)).astype(np.int64)
    col = table[gi, np.floor(rng.random(K) * count[gi]).astype(np.int64)]
    lo, hi = space.low[col], space.high[col]
    size = hi - lo + 1
    v = X[np.arange(K), col]
    any_other = (group[col] == 3) | (group[col] == 6)          # sharing partners and modes
    mag = 1 + np.floor(rng.random(K) * np.maximum(size // 10, 1)).astype(np.int64)
    sign = np.where(rng.random(K) < 0.5, -1, 1)
    new = v + sign * mag
    new = np.where((new < lo) | (new > hi), v - sign * mag, new)
    # sharing: any other partner (or none), uniformly; a sparsity mode: any other mode
    other_val = lo + np.floor(rng.random(K) * np.maximum(size - 1, 1)).astype(np.int64)
    other_val = np.where(other_val >= v, other_val + 1, other_val)
    new = np.clip(np.where(any_other, other_val, new), lo, hi)
    shaped = rows & (group[col] == 7)                         # epitomes: one grow / shrink step
    if shaped.any():
        new[shaped] = step_columns(space, X[shaped], col[shaped], rng)
    X[rows, col[rows]] = new[rows]


def restart(space: DesignSpace, X: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
            columns=None) -> np.ndarray:
    """``X`` (K, D) with the movable columns of ``rows`` (K,) bool redrawn uniformly
    (``space.random``) and repaired: where an infeasible chain starts its next proposal,
    since infeasible designs give the walk no direction (e.g. 4-bit DACs on
    alexnet-cifar at 20 W leave no power for peripherals, whatever the duplication)."""
    X = np.array(X, dtype=np.int64)
    if rows.any():
        movable = _column_mask(space, columns)
        fresh = space.random(int(rows.sum()), rng)
        sub = X[rows]
        sub[:, movable] = fresh[:, movable]
        X[rows] = sub
        X = repair(space, X)
    return X


# --- energy, acceptance, schedule --------------------------------------------------------
def pimsyn_energy(space: DesignSpace, X: np.ndarray, alpha: float = PIMSYN_ALPHA) -> np.ndarray:
    """(K,) PIMSYN's SA energy (Eq. 4), lower is better:

    ``stdev_i(H_out_i*W_out_i / dup_i) + alpha * stdev_i(access_i)``, ``access_i =
    dup_i * (K_i^2*C_in_i + C_out_i)`` over the conv layers i (values per step; sample
    standard deviation as in the reference code; 0 with a single conv layer).
    ``alpha`` defaults to :data:`PIMSYN_ALPHA`.
    """
    X = np.atleast_2d(X)
    return duplication_energy(space.dup_values(X)[:, space.conv], *energy_terms(space), alpha)


def energy_terms(space: DesignSpace) -> tuple[np.ndarray, np.ndarray]:
    """(C,) output pixels and values moved per copy and step (``K^2*C_in + C_out``) of
    each conv layer: the per-layer constants of :func:`duplication_energy`."""
    wl = space.workload
    li = wl.layer_of_w[space.conv]
    return wl.out_pixels[li].astype(float), (wl.load_values[li] + wl.cout[li]).astype(float)


def duplication_energy(dup: np.ndarray, pixels: np.ndarray, access: np.ndarray,
                       alpha: float = PIMSYN_ALPHA) -> np.ndarray:
    """:func:`pimsyn_energy` of conv copies ``dup`` (..., C) with the constants of
    :func:`energy_terms`; shape (...)."""
    if dup.shape[-1] < 2:
        return np.zeros(dup.shape[:-1])
    return (pixels / dup).std(-1, ddof=1) + alpha * (dup * access).std(-1, ddof=1)


def feasible(f: np.ndarray) -> np.ndarray:
    """Objective values that mark a feasible design (not NaN, not ``-inf``)."""
    f = np.asarray(f, dtype=float)
    return ~np.isnan(f) & (f != -np.inf)


def accept(f_cur: np.ndarray, f_new: np.ndarray, temperature: float | np.ndarray,
           rng: np.random.Generator, eps: float = 1e-12) -> np.ndarray:
    """(K,) bool: Metropolis acceptance for maximisation on a relative scale.

    A feasible candidate is accepted if ``f_new >= f_cur``, else with probability
    ``exp((f_new - f_cur) / (temperature * max(|f_cur|, eps)))`` (a candidate ``t``
    times worse relative to ``|f_cur|`` has probability ``exp(-t / temperature)``);
    temperature <= 0 accepts improvements only. An infeasible candidate (NaN or
    ``-inf``) is never accepted from a feasible state; from an infeasible state every
    candidate is. Draws exactly K uniforms from ``rng``.
    """
    f_cur = np.atleast_1d(np.asarray(f_cur, dtype=float))
    f_new = np.atleast_1d(np.asarray(f_new, dtype=float))
    u = rng.random(f_new.shape)
    ok_cur, ok_new = feasible(f_cur), feasible(f_new)
    T = np.asarray(temperature, dtype=float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        scale = T * np.maximum(np.abs(np.where(ok_cur, f_cur, 0.0)), eps)
        delta = np.where(ok_cur & ok_new, f_new - f_cur, 0.0)
        p = np.where(T > 0, np.exp(np.minimum(delta, 0.0) / np.where(T > 0, scale, 1.0)), 0.0)
    better = ok_new & ok_cur & (f_new >= f_cur)
    return (~ok_cur) | better | (ok_new & ok_cur & (u < p))


def temperature(step: int | np.ndarray, t0: float, decay: float,
                steps_per_temperature: int) -> float | np.ndarray:
    """``t0 * decay ** (step // steps_per_temperature)`` (relative units, see :func:`accept`)."""
    return t0 * decay ** (np.asarray(step) // max(int(steps_per_temperature), 1))


# --- the loop ----------------------------------------------------------------------------
def anneal(space: DesignSpace, objective: Callable[[np.ndarray], np.ndarray], X0: np.ndarray,
           steps: int, rng: np.random.Generator, *, t0: float = 0.05, decay: float = 0.95,
           steps_per_temperature: int = 100, columns=None, move_globals: float = 0.1,
           restart_infeasible: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Batched SA: K chains as the rows of one matrix, one ``objective`` call per step.

    Args:
        space: the design space.
        objective: ``(K, D) rows -> (K,)`` values to maximise (NaN / ``-inf``: infeasible),
            e.g. ``lambda X: np.where(r.feasible, r.tops_per_watt, -inf)``.
        X0: (K, D) start rows (repaired first).
        steps: proposals per chain.
        rng: random source of proposals and acceptance.
        t0, decay, steps_per_temperature: the schedule (:func:`temperature`).
        columns, move_globals: as in :func:`propose`.
        restart_infeasible: a chain whose current design is infeasible proposes a
            neighbour of a fresh random point (:func:`restart`) instead of its own.

    Returns:
        ``(X_best, f_best, history)``: (K, D) best row of each chain, (K,) its value
        (``-inf`` if the chain never saw a feasible design), and a dict of
        ``f_current`` (steps+1, K), ``f_best`` (steps+1, K) and ``accepted`` (steps, K).
    """
    X = repair(space, X0)
    f = _values(objective(X), len(X))
    X_best, f_best = X.copy(), f.copy()
    hist_cur, hist_best, hist_acc = [f.copy()], [f_best.copy()], []
    for step in range(steps):
        source = restart(space, X, ~feasible(f), rng, columns) if restart_infeasible else X
        Y = propose(space, source, rng, columns=columns, move_globals=move_globals)
        g = _values(objective(Y), len(Y))
        acc = accept(f, g, temperature(step, t0, decay, steps_per_temperature), rng)
        X[acc], f[acc] = Y[acc], g[acc]
        up = f > f_best
        X_best[up], f_best[up] = X[up], f[up]
        hist_cur.append(f.copy())
        hist_best.append(f_best.copy())
        hist_acc.append(acc)
    history = {"f_current": np.array(hist_cur), "f_best": np.array(hist_best),
               "accepted": np.array(hist_acc, dtype=bool).reshape(steps, len(X))}
    return X_best, f_best, history


def _values(f, K: int) -> np.ndarray:
    """Objective values as (K,) float with infeasible (NaN) as ``-inf``."""
    f = np.asarray(f, dtype=float).reshape(K)
    return np.where(np.isnan(f), -np.inf, f)
