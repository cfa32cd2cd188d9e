"""PIMSYN's evolutionary algorithm over macro partitioning, on encoded design matrices.

The numerical core shared by :class:`search.samplers.ea_sampler.EvolutionarySampler` (one EA
driven through an Optuna study) and the fast synthesis engine (many EA instances, one per
duplication candidate, evaluated as one population matrix). Everything works on the
integer matrix ``X`` (N, D) of a :class:`space.DesignSpace`; instances are a leading
axis, ``X`` (E, P, D) with fitness (E, P), wherever selection is involved. The
operators are vectorised over designs (loops run over layers only) and always return
repaired rows (``repair(space, Y) == Y``).

PIMSYN's encoding (BACKGROUND.md section 5) is one gene per weighted layer,
``layer_index * 1000 + macro_count``, where a layer that shares an earlier layer's macros
writes its partner's index instead of its own. Here the same information lives in the
space's columns: ``macros_j`` (a level choosing a divisor of ``dup_j * row_groups_j``)
and ``share_j`` (partner or -1); :func:`to_genes` / :func:`from_genes` give the gene view
for reports and tests, while the operators work on the columns directly:

- :func:`mutate`: (a) move a random layer's macro count to another allowed value;
  (b) toggle sharing: a random layer stops sharing, or starts sharing with a random
  earlier layer that neither shares nor is shared, the pair's count ``max(m_i, m_j)``
  staying within both layers' limits ``dup * row_groups`` (the rule of space/repair.py);
  (c) optionally change one other column (duplication, globals, allocation) for the flat
  search; in a segmented space, (d) move its segments, batch or dataflow; in a space
  with densities, (e) give a random layer another sparsity mode
  (:mod:`search.operators.sparse_moves`); in a space with epitome choices, (f) grow or
  shrink one dimension of a random layer's epitome or precision and (g) PIMSYN's
  duplication move at the row's own crossbars per copy
  (:mod:`search.operators.epitome_moves`). ``columns`` restricts what may change.
- :func:`crossover`: uniform per layer gene (macro level, sharing, allocation and
  sparsity mode of a layer travel together; in a space with epitome choices also its
  epitome, precision and copies); globals and the other duplication from the first parent.
- :func:`select_parents`: the top ``elite_fraction`` by fitness (the elite, best first)
  plus random others; infeasible rows after feasible ones, NaN / -inf last.
- :func:`next_generation` (selection + :func:`breed`) and :func:`evolve`, a plain
  (mu + lambda) loop: each generation selects ``population`` parents from the previous
  parents and their children, breeds ``population`` children and scores them in one
  ``objective`` call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from search.operators.epitome_moves import epitome_columns, mutate_copies, mutate_epitomes
from search.operators.picking import pick as _pick
from search.operators.segment_moves import mutate_segments, segment_columns
from search.operators.sparse_moves import mutate_modes, sparse_columns
from space import DesignSpace, repair
from space.repair import fit_macros, fix_sharing, repair_partition

GENE_BASE = 1000


# --- helpers -------------------------------------------------------------------------
def _as_rows(X: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(X, dtype=np.int64))


def rows_of(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``X[e, idx[e, k]]`` for (E, n, D) ``X`` and (E, k) ``idx`` -> (E, k, D), by one row take."""
    E, n, D = X.shape
    flat = (np.arange(E)[:, None] * n + idx).ravel()
    return X.reshape(E * n, D).take(flat, axis=0).reshape(*idx.shape, D)




def allowed_columns(space: DesignSpace, columns=None) -> np.ndarray:
    """(D,) bool: which columns an operator may change.

    ``columns`` is None (all), a (D,) bool mask, or an iterable of column indices / names.
    """
    if columns is None:
        return np.ones(space.dims, dtype=bool)
    arr = np.asarray(list(columns) if not isinstance(columns, np.ndarray) else columns)
    if arr.dtype == bool:
        if arr.shape != (space.dims,):
            raise ValueError(f"columns mask must have shape ({space.dims},), got {arr.shape}")
        return arr.copy()
    mask = np.zeros(space.dims, dtype=bool)
    for c in arr.tolist():
        mask[space.index[c] if isinstance(c, str) else int(c)] = True
    return mask


def _repairer(space: DesignSpace, allowed: np.ndarray) -> Callable[[DesignSpace, np.ndarray], np.ndarray]:
    """The repair the operators need: operators get repaired rows, so when they may change
    no global and no duplication column, :func:`space.repair.repair_partition` suffices."""
    return repair if allowed[space.base_cols].any() else repair_partition


def partition_columns(space: DesignSpace) -> np.ndarray:
    """Indices of the macro and sharing columns: what PIMSYN's EA searches (for ``columns``)."""
    return np.concatenate([space.macro_cols, space.share_cols[space.share_cols >= 0]])


def layer_gene_columns(space: DesignSpace) -> list[np.ndarray]:
    """Per weighted layer j, the columns of its gene: ``macros_j``, ``share_j``, ``alloc_j_*``
    and ``sparse_j``, and in a space with epitome choices ``epitome_j``, ``wbits_j`` and
    ``dup_j`` (a layer's copies travel with its crossbars per copy) (those the space has)."""
    out = []
    epitomes = len(epitome_columns(space)) > 0
    for j in range(len(space.macro_cols)):
        cols = [space.macro_cols[j], space.share_cols[j], *space.alloc_cols[j], space.sparse_cols[j]]
        if epitomes:
            cols += [space.epitome_cols[j], space.wbits_cols[j], space.dup_cols[j]]
        out.append(np.array([c for c in cols if c >= 0], dtype=np.int64))
    return out


def macro_limits(space: DesignSpace, X: np.ndarray, dup: np.ndarray | None = None) -> np.ndarray:
    """(N, L) largest macro count of each layer, ``dup * row_groups`` (for the rows' crossbar size)."""
    return space.macro_limits(_as_rows(X), dup)


def level_counts(space: DesignSpace, X: np.ndarray) -> np.ndarray:
    """(N, L, levels) macro count every level of every layer would give (non-decreasing in level)."""
    return space.level_counts(_as_rows(X), macro_limits(space, X))


def share_matrix(space: DesignSpace, X: np.ndarray) -> np.ndarray:
    """(N, L) partner of each layer, -1 where it keeps its own macros (always -1 for layer 0)."""
    X = _as_rows(X)
    share = np.full((len(X), len(space.macro_cols)), -1, dtype=np.int64)
    has = space.share_cols >= 0
    share[:, has] = X[:, space.share_cols[has]]
    return share


# --- gene view ------------------------------------------------------------------------
def to_genes(space: DesignSpace, X: np.ndarray, base: int = GENE_BASE) -> np.ndarray:
    """(N, L) PIMSYN genes of rows ``X`` (N, D): ``owner * base + macro_count``.

    ``owner`` is the layer's own index, or its partner's when it shares the partner's
    macros; ``macro_count`` is the layer's own count (``space.macro_values``; a shared
    set has ``max`` of the two). Raises ValueError when a count does not fit ``base``.
    """
    X = _as_rows(X)
    m = space.macro_values(X)
    if (m >= base).any():
        raise ValueError(f"a macro count ({int(m.max())}) does not fit the gene base {base}; pass a larger base")
    share = share_matrix(space, X)
    owner = np.where(share >= 0, share, np.arange(m.shape[1]))
    return owner * base + m


def from_genes(space: DesignSpace, X_template: np.ndarray, genes: np.ndarray, base: int = GENE_BASE) -> np.ndarray:
    """(N, D) rows with the macro/share columns set from ``genes`` (N, L), the rest from ``X_template``.

    ``X_template`` is (D,) or (N, D) and supplies the globals and duplication that give
    the counts their meaning. A count maps to the template's level when that level gives
    it, else to the lowest level that does, else to the level nearest in log scale (a
    count that no level reaches). Not repaired: ``from_genes(X, to_genes(X)) == X``.
    """
    genes = _as_rows(genes)
    X = np.array(np.broadcast_to(_as_rows(X_template), (len(genes), space.dims)))
    L = len(space.macro_cols)
    owner, count = genes // base, genes % base
    table = level_counts(space, X)                                           # (N, L, lv)
    cur = X[:, space.macro_cols]
    exact = table == count[..., None]
    keep = np.take_along_axis(exact, cur[..., None], -1)[..., 0]
    nearest = np.abs(np.log(table) - np.log(np.maximum(count, 1))[..., None]).argmin(-1)
    X[:, space.macro_cols] = np.where(keep, cur, np.where(exact.any(-1), exact.argmax(-1), nearest))
    for j in range(1, L):
        if space.share_cols[j] >= 0:
            X[:, space.share_cols[j]] = np.where(owner[:, j] != j, owner[:, j], -1)
    return X


# --- operators ------------------------------------------------------------------------
def mutate(space: DesignSpace, X: np.ndarray, rng: np.random.Generator, *, p_macro: float = 0.9,
           p_share: float = 0.3, p_other: float = 0.0, p_segment: float = 0.5, p_sparse: float = 0.3,
           p_epitome: float = 0.4, p_copies: float = 0.2, columns=None) -> np.ndarray:
    """Mutated and repaired copies of repaired rows ``X`` (N, D) -> (N, D).

    Each row independently gets (a) a macro-count change with probability ``p_macro``,
    (b) a sharing toggle with ``p_share``, (c) a change of one other column with
    ``p_other``, in a segmented space (d) a move of its segments, batch or dataflow
    (:mod:`search.operators.segment_moves`) with ``p_segment`` and, in a space with
    densities, (e) another sparsity mode for a random layer
    (:mod:`search.operators.sparse_moves`) with ``p_sparse``, and in a space with epitome
    choices (f) a grow / shrink step of a random layer's epitome or precision with
    ``p_epitome`` and (g) PIMSYN's duplication move with ``p_copies``
    (:mod:`search.operators.epitome_moves`); a row that drew none gets
    one operator chosen in proportion to the probabilities. Operators whose columns
    ``columns`` excludes are skipped. (d) to (g) draw nothing from ``rng`` in a space
    without their columns, so such a space keeps its random streams.
    """
    parents = _as_rows(X)
    X = np.array(parents)
    n = len(X)
    allowed = allowed_columns(space, columns)
    others = _other_columns(space, allowed)
    seg_cols = segment_columns(space)
    modes = sparse_columns(space)
    shapes = epitome_columns(space)
    dups = space.dup_cols[space.conv]
    p = np.array([p_macro if allowed[space.macro_cols].any() else 0.0,
                  p_share if (space.share_cols >= 0).any() and allowed[space.share_cols[space.share_cols >= 0]].any() else 0.0,
                  p_other if len(others) else 0.0,
                  p_segment if len(seg_cols) and allowed[seg_cols].all() else 0.0,
                  p_sparse if (allowed[modes] & (space.high[modes] > space.low[modes])).any() else 0.0,
                  p_epitome if (allowed[shapes] & (space.high[shapes] > space.low[shapes])).any() else 0.0,
                  p_copies if len(shapes) and (allowed[dups] & (space.dup_max[space.conv] > 1)).any() else 0.0])
    fix = _repairer(space, allowed)
    if n == 0 or p.sum() <= 0:
        return fix(space, X)
    ops = np.zeros((n, len(p)), dtype=bool)
    ops[:, :3] = rng.random((n, 3)) < p[:3]
    # (d) to (g) draw only in spaces with their columns
    k = max([3] + [op + 1 for op in range(3, len(p)) if p[op] > 0])
    for op in range(3, len(p)):
        if p[op] > 0:
            ops[:, op] = rng.random(n) < p[op]
    none = ~ops.any(1)
    forced = rng.choice(k, size=int(none.sum()), p=p[:k] / p[:k].sum())
    ops[np.flatnonzero(none), forced] = True
    grew = _mutate_macros(space, X, np.flatnonzero(ops[:, 0]), rng, allowed)
    _mutate_sharing(space, X, np.flatnonzero(ops[:, 1]), rng, allowed)
    _mutate_other(space, X, np.flatnonzero(ops[:, 2]), rng, others)
    mutate_segments(space, X, np.flatnonzero(ops[:, 3]), rng)
    mutate_modes(space, X, np.flatnonzero(ops[:, 4]), rng, allowed)     # modes need no repair
    mutate_epitomes(space, X, np.flatnonzero(ops[:, 5]), rng, allowed)
    mutate_copies(space, X, np.flatnonzero(ops[:, 6]), rng, allowed)
    # (a) and (b) keep sharing legal (a count within the pair's limits and capacity, a new
    # pair of free layers that fits them); the macros' power changes only where a count
    # grew (sharing does not change it): rows moved by (a) and (b) alone need at most that
    # power fitted. Where that lowered levels, a pair may break the macro capacity: its
    # sharing is dropped, or the row stays its parent when sharing may not change.
    other = ops[:, 2] | ops[:, 3] | ops[:, 5] | ops[:, 6]
    X[other] = fix(space, X[other])
    moved = grew[~other[grew]]
    Y = X[moved]
    fit_macros(space, Y)
    lowered = np.flatnonzero((Y[:, space.macro_cols] < X[moved][:, space.macro_cols]).any(1))
    if len(lowered):
        Z = Y[lowered]
        fix_sharing(space, Z)
        broke = (Z != Y[lowered]).any(1)
        if not allowed[space.share_cols[space.share_cols >= 0]].all():
            Z[broke] = parents[moved[lowered[broke]]]
        Y[lowered] = Z
    X[moved] = Y
    return X


def _other_columns(space: DesignSpace, allowed: np.ndarray) -> np.ndarray:
    mask = allowed & (space.high > space.low)
    mask[space.macro_cols] = False
    mask[space.share_cols[space.share_cols >= 0]] = False
    mask[segment_columns(space)] = False
    mask[sparse_columns(space)] = False
    mask[epitome_columns(space)] = False
    return np.flatnonzero(mask)


def _mutate_macros(space, X, rows, rng, allowed) -> np.ndarray:
    """(a) in place: a random layer of each row in ``rows`` takes another allowed count
    (uniform over the distinct counts; a layer in a sharing pair stays within its partner's
    limit, so that the mutation keeps the pair). Returns the rows whose count grew."""
    if len(rows) == 0:
        return rows
    Xr = X[rows]
    R = len(rows)
    limit = macro_limits(space, Xr)                                          # (R, L)
    table = space.level_table()
    low = space.floor_counts(Xr, limit)                                      # (R, L) the fewest macros allowed
    cur = np.maximum(table[limit, Xr[:, space.macro_cols]], low)             # (R, L) current counts
    share = share_matrix(space, Xr)
    pair_limit = np.full(limit.shape, np.iinfo(np.int64).max)
    partner = np.full(limit.shape, -1)
    rr, jj = np.nonzero(share >= 0)
    q = share[rr, jj]
    pair_limit[rr, jj] = limit[rr, q]
    pair_limit[rr, q] = limit[rr, jj]
    partner[rr, jj], partner[rr, q] = q, jj
    # another count exists: the floor's when the count is above it, else the next one above
    above = np.where(cur > 1, np.iinfo(np.int64).max, space.smallest_split()[limit])
    at_floor = np.nonzero((cur == low) & (cur > 1))                          # few: the next count, looked up
    counts_here = table[limit[at_floor]]
    above[at_floor] = np.where(counts_here > cur[at_floor][:, None], counts_here, np.iinfo(np.int64).max).min(1)
    other = (cur > low) | ((above < np.iinfo(np.int64).max) & (above <= pair_limit))
    j = _pick(other & allowed[space.macro_cols], rng)
    r, jc = np.arange(R), np.maximum(j, 0)
    counts = np.maximum(table[limit[r, jc]], low[r, jc, None])               # (R, lv) the chosen layer's
    first = np.ones(counts.shape, dtype=bool)                                # one level per distinct count
    first[:, 1:] = counts[:, 1:] != counts[:, :-1]
    cand = first & (counts != cur[r, jc, None]) & (counts <= pair_limit[r, jc, None])
    # a layer in a pair keeps the pair's busiest macro within the capacity
    p = partner[r, jc]
    paired = p >= 0
    if paired.any():
        pp = np.maximum(p, 0)
        slices = space.layer_slices(Xr)
        fits = space.pair_fits(slices[r, jc, None], slices[r, pp, None], limit[r, jc, None], limit[r, pp, None],
                               np.maximum(counts, cur[r, pp, None]))
        cand &= fits | ~paired[:, None]
    level = _pick(cand, rng)
    ok = (j >= 0) & (level >= 0)
    X[rows[ok], space.macro_cols[j[ok]]] = level[ok]
    return rows[ok & (counts[r, np.maximum(level, 0)] > cur[r, jc])]


def _mutate_sharing(space, X, rows, rng, allowed) -> None:
    """(b) in place: a random layer of each row stops sharing, or starts sharing legally."""
    if len(rows) == 0:
        return
    Xr = X[rows]
    R, L = len(rows), len(space.macro_cols)
    share = share_matrix(space, Xr)
    m = space.macro_values(Xr)
    limit = macro_limits(space, Xr)
    sharer = share >= 0
    shared = np.zeros((R, L), dtype=bool)
    rr, jj = np.nonzero(sharer)
    shared[rr, share[rr, jj]] = True
    free = ~sharer & ~shared
    col_ok = (space.share_cols >= 0) & allowed[np.maximum(space.share_cols, 0)]
    # (R, j, q): the pair's count max(m_j, m_q) fits both limits; each count fits its own
    fits = (m[:, :, None] <= limit[:, None, :]) & (m[:, None, :] <= limit[:, :, None])
    valid = fits & ((free & col_ok)[:, :, None] & free[:, None, :]) & np.tri(L, k=-1, dtype=bool)
    if space.segmented:                                       # partners run in one segment
        seg = space.segments_of(Xr)
        valid &= seg[:, :, None] == seg[:, None, :]
    # and the pair's busiest macro within the capacity (checked where the rest holds)
    r, a, b = np.nonzero(valid)
    slices = space.layer_slices(Xr)
    valid[r, a, b] = space.pair_fits(slices[r, a], slices[r, b], limit[r, a], limit[r, b], np.maximum(m[r, a], m[r, b]))
    stop = sharer & col_ok
    j = _pick(valid.any(-1) | stop, rng)
    ok = j >= 0
    js = np.maximum(j, 0)
    partner = _pick(valid[np.arange(R), js], rng)
    new = np.where(stop[np.arange(R), js], -1, partner)
    X[rows[ok], space.share_cols[js[ok]]] = new[ok]


def _mutate_other(space, X, rows, rng, others) -> None:
    """(c) in place: one random column of ``others`` takes a new value, local or uniform."""
    if len(rows) == 0 or len(others) == 0:
        return
    c = others[rng.integers(len(others), size=len(rows))]
    cur, lo, hi = X[rows, c], space.low[c], space.high[c]
    size = hi - lo + 1
    is_log = np.array([space.columns[k].log for k in c], dtype=bool)
    uniform = lo + (cur - lo + 1 + rng.integers(0, np.iinfo(np.int64).max, size=len(rows)) % (size - 1)) % size
    log_uniform = np.clip(np.floor(np.exp(rng.uniform(0, np.log(hi + 1)))), lo, hi).astype(np.int64)
    uniform = np.where(is_log & (log_uniform != cur), log_uniform, uniform)
    step = np.where(is_log, np.maximum(1, np.rint(cur * rng.uniform(0.1, 0.5, size=len(rows)))), 1).astype(np.int64)
    sign = rng.choice(np.array([-1, 1]), size=len(rows))
    local = cur + sign * step
    local = np.where((local < lo) | (local > hi), cur - sign * step, local)
    local = np.clip(local, lo, hi)
    X[rows, c] = np.where(rng.random(len(rows)) < 0.5, uniform, local)


def crossover(space: DesignSpace, A: np.ndarray, B: np.ndarray, rng: np.random.Generator, *,
              columns=None) -> np.ndarray:
    """Uniform crossover of repaired rows ``A`` and ``B`` (N, D) -> repaired (N, D).

    Each layer's gene (macro level, partner, allocation; with epitome choices also the
    layer's epitome, precision and copies, repaired to the budget) comes from A or B with
    equal probability; globals and duplication come from A (so the child keeps A's
    crossbar budget). Only ``columns`` may come from B.
    """
    A, B = _as_rows(A), _as_rows(B)
    allowed = allowed_columns(space, columns)
    swap = rng.random((len(A), len(space.macro_cols))) < 0.5
    genes = layer_gene_columns(space)
    cols = np.concatenate(genes)
    mask = np.zeros(A.shape, dtype=bool)
    mask[:, cols] = swap[:, np.repeat(np.arange(len(genes)), [len(g) for g in genes])]
    return _repairer(space, allowed)(space, np.where(mask & allowed, B, A))


# --- selection and generations --------------------------------------------------------
def rank_order(fitness: np.ndarray, violation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(order, tier)``, both shaped like ``fitness`` (..., n): ``order`` sorts the last
    axis best first: feasible (``violation <= 0``) by fitness, then infeasible by violation
    (then fitness), then NaN / -inf fitness, ties by index; ``tier`` is 0, 1, 2 for those."""
    f = np.asarray(fitness, dtype=float)
    v = np.zeros_like(f) if violation is None else np.broadcast_to(np.asarray(violation, dtype=float), f.shape)
    valid = ~np.isnan(f) & (f != -np.inf)
    feasible = ~(v > 0)
    tier = np.where(valid, np.where(feasible, 0, 1), 2)
    negf = np.where(valid, -f, 0.0)
    key = np.where(valid & ~feasible, v, negf)
    return np.lexsort((negf, key, tier), axis=-1), tier


def select_parents(fitness: np.ndarray, n_parents: int, elite_fraction: float, rng: np.random.Generator,
                   violation: np.ndarray | None = None) -> np.ndarray:
    """Indices of the parents: the elite first (best first), then random others.

    ``fitness`` (n,) or (E, n) (higher is better; one row per EA instance), optional
    ``violation`` of the same shape (> 0 infeasible). Returns (k,) or (E, k) indices,
    ``k = min(n_parents, n)``: the best ``round(elite_fraction * k)`` by :func:`rank_order`,
    then others drawn at random from the rest, valid feasible ones before infeasible
    ones before NaN / -inf.
    """
    f = np.asarray(fitness, dtype=float)
    squeeze = f.ndim == 1
    f2 = np.atleast_2d(f)
    v2 = None if violation is None else np.broadcast_to(np.asarray(violation, dtype=float), f.shape).reshape(f2.shape)
    order, tier = rank_order(f2, v2)
    n = f2.shape[1]
    k = min(int(n_parents), n)
    n_elite = int(np.clip(round(elite_fraction * k), 0, k))
    elite, rest = order[:, :n_elite], order[:, n_elite:]
    key = np.take_along_axis(tier, rest, -1) + rng.random(rest.shape)
    others = np.take_along_axis(rest, np.argsort(key, -1)[:, : k - n_elite], -1)
    idx = np.concatenate([elite, others], -1)
    return idx[0] if squeeze else idx


def breed(space: DesignSpace, parents: np.ndarray, rng: np.random.Generator, population: int, *,
          crossover_prob: float = 0.5, columns=None, **mutate_kw) -> np.ndarray:
    """``population`` children of ``parents`` (n, D) -> (population, D), or (E, n, D) -> (E, population, D).

    Every parent is the first parent of about ``population / n`` children (in random
    order); with probability ``crossover_prob`` a child is the :func:`crossover` of it with
    another random parent of the same instance (only where the two differ, where it can
    help); every child is then mutated (:func:`mutate` with ``columns`` and ``mutate_kw``).
    """
    P = np.asarray(parents, dtype=np.int64)
    squeeze = P.ndim == 2
    P = P[None] if squeeze else P
    E, n, D = P.shape
    perm = np.argsort(rng.random((E, n)), -1)
    a = perm[:, np.arange(population) % n]
    b = (a + (rng.integers(1, n, size=a.shape) if n > 1 else 0)) % n
    A = rows_of(P, a).reshape(E * population, D)
    B = rows_of(P, b).reshape(E * population, D)
    child = A.copy()
    do = (rng.random(len(A)) < crossover_prob) & (A != B).any(1)
    if do.any():
        child[do] = crossover(space, A[do], B[do], rng, columns=columns)
    child = mutate(space, child, rng, columns=columns, **mutate_kw).reshape(E, population, D)
    return child[0] if squeeze else child


def next_generation(space: DesignSpace, X: np.ndarray, fitness: np.ndarray, rng: np.random.Generator,
                    population: int, *, elite_fraction: float = 0.7, crossover_prob: float = 0.5,
                    columns=None, violation: np.ndarray | None = None, **mutate_kw) -> np.ndarray:
    """The children of the scored pool ``X`` (n, D) / (E, n, D) with ``fitness`` (n,) / (E, n).

    Selects ``population`` parents (:func:`select_parents`) and :func:`breed` s
    ``population`` children from them: (population, D) or (E, population, D).
    """
    X = np.asarray(X, dtype=np.int64)
    idx = select_parents(fitness, population, elite_fraction, rng, violation)
    parents = X[idx] if X.ndim == 2 else rows_of(X, idx)
    return breed(space, parents, rng, population, crossover_prob=crossover_prob, columns=columns, **mutate_kw)


def evolve(space: DesignSpace, objective: Callable[[np.ndarray], np.ndarray], X0: np.ndarray, generations: int,
           rng: np.random.Generator, *, population: int | None = None, elite_fraction: float = 0.7,
           crossover_prob: float = 0.5, columns=None, **mutate_kw) -> tuple[np.ndarray, np.ndarray, dict]:
    """A batched (mu + lambda) EA; ``objective`` is called once per generation.

    Args:
        objective: (M, D) rows -> (M,) fitness, higher is better (NaN / -inf: invalid).
        X0: the initial population (P, D), or (E, P, D) for E independent instances
            (they share each ``objective`` call as one (E * P, D) matrix); repaired first.
        generations: generations after the initial one.
        population: children per generation (default: P).

    Returns:
        ``X_best`` (D,) / (E, D), ``f_best`` scalar / (E,), and ``history`` with (G + 1,)
        / (G + 1, E) arrays ``best`` (best of each generation's evaluated rows) and
        ``best_so_far``, plus ``evaluations`` (objective rows so far).
    """
    X0 = np.asarray(X0, dtype=np.int64)
    squeeze = X0.ndim == 2
    X = X0[None] if squeeze else X0
    E, P, D = X.shape
    population = P if population is None else int(population)
    X = repair(space, X.reshape(E * P, D)).reshape(E, P, D)

    def score(rows: np.ndarray) -> np.ndarray:
        f = np.asarray(objective(rows.reshape(-1, D)), dtype=float)
        return f.reshape(rows.shape[:2])

    f = score(X)
    pool_X, pool_f = X, f
    hist_best, hist_so_far, evals = [], [], []

    def record(fg: np.ndarray) -> None:
        order, _ = rank_order(fg)
        best = np.take_along_axis(fg, order[:, :1], 1)[:, 0]
        hist_best.append(best)
        prev = hist_so_far[-1] if hist_so_far else np.full(E, -np.inf)
        hist_so_far.append(np.fmax(prev, np.where(np.isnan(best), -np.inf, best)))
        evals.append((evals[-1] if evals else 0) + fg.size)

    record(f)
    for _ in range(int(generations)):
        idx = select_parents(pool_f, population, elite_fraction, rng)
        par_X = rows_of(pool_X, idx)
        par_f = np.take_along_axis(pool_f, idx, 1)
        kids = breed(space, par_X, rng, population, crossover_prob=crossover_prob, columns=columns, **mutate_kw)
        kf = score(kids)
        record(kf)
        pool_X, pool_f = np.concatenate([par_X, kids], 1), np.concatenate([par_f, kf], 1)
    order, _ = rank_order(pool_f)
    best = order[:, 0]
    X_best = pool_X[np.arange(E), best]
    f_best = pool_f[np.arange(E), best]
    history = {"best": np.array(hist_best), "best_so_far": np.array(hist_so_far), "evaluations": np.array(evals)}
    if squeeze:
        history = {k: (v[:, 0] if v.ndim == 2 else v) for k, v in history.items()}
        return X_best[0], float(f_best[0]), history
    return X_best, f_best, history
