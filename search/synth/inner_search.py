"""The inner synthesis of outer points: SA filter over duplication, then EA over partitioning.

For a batch of outer points (rram_ratio, cell_bits, xbar_size), as in PIMSYN's
Algorithm 1 (BACKGROUND.md section 5):

1. every point is tried at every DAC resolution of the space; a (point, DAC) pair whose
   single copy of the weights does not fit (or that has no precise enough ADC) is
   skipped with a reason;
2. :func:`search.synth.dup_filter.filter_duplication` anneals duplication vectors of all
   remaining pairs at once and keeps ``effort.candidates`` per pair; the last candidate
   is the H_out x W_out heuristic's vector (the published baseline) unless the filter
   kept it anyway, so the synthesis never does worse than the baseline's duplication;
3. for every (pair, candidate) an EA instance of ``effort.population`` designs searches
   macro counts and sharing (and the allocation multipliers when the space searches
   them, and each layer's sparsity mode in a space with densities: the first designs of
   an instance use one mode on every layer, none, gate, skip, compact, the others random
   modes) with the operators of :mod:`search.operators.evolution`: all instances of the batch are
   one (E, P, D) matrix, scored by ONE evaluator call per generation (rows the batch
   scored before take their stored score, :class:`search.synth.score_memo.ScoreMemo`);
4. each point's result is the best design over its pairs and candidates.

The operators draw from one random source for the whole batch, so a point's result
depends on the batch it ran in; :mod:`search.synth.synthesis` forms batches deterministically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from costmodel.reference_designs import heuristic_dup
from onnx_frontend.errors import PimtuneError
from search.operators.annealing import conv_copies, duplication_energy, energy_terms
from search.synth.dup_filter import FilterResult, filter_duplication
from search.synth.effort import Effort, generations_for
from search.operators.evolution import evolve, partition_columns
from search.operators.segment_moves import segment_columns
from search.operators.sparse_moves import sparse_columns
from search.objectives import fitness, maximised, needs_latency
from search.synth.score_memo import ScoreMemo
from space import DesignSpace, repair
from space.segmentation import fill_segments

#: Share of the segment boundaries a segmented EA's first population draws (the rest
#: come from repair's greedy packing).
SEGMENT_SEED_SHARE = 0.1

OUTER_PARAMS = ("rram_ratio", "cell_bits", "xbar_size")
#: Where duplication candidates come from (``search_points(duplication=...)``).
DUPLICATION_SOURCES = ("sa", "sa_only", "heuristic", "none")


@dataclass
class PointOutcome:
    """What the inner synthesis found for one outer point.

    Attributes:
        params: the outer point, ``{rram_ratio, cell_bits, xbar_size}``.
        value: the objective of the best design (its unit: TOPS/W, inferences/s or J*s),
            None if no design was feasible.
        reason: why there is no design (None when there is one).
        row: (D,) the best design's encoded row, or None.
        metrics: the best design's ``Results.metrics`` (JSON-ready), or None.
        stats: evaluations (designs the EAs proposed), per-DAC best values, candidates,
            best value per generation, the SA filter's best energy, the batch's wall time
            (s) and its designs scored by the evaluator and taken from the memo (an epitome
            search adds ``epitome``: :mod:`search.synth.epitome_stage`).
        dense: in an epitome search, the dense synthesis' best design of the point:
            ``{"value", "row"`` (a row of the dense twin space) ``, "metrics"}``; else None.
    """

    params: dict
    value: float | None
    reason: str | None
    row: np.ndarray | None = None
    metrics: dict | None = None
    stats: dict = field(default_factory=dict)
    dense: dict | None = None


def point_rows(space: DesignSpace, points: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base rows of every (point, DAC resolution) pair: (M, D) rows with one copy and one
    macro per layer, no sharing, neutral allocation; (M,) point index and (M,) DAC bits."""
    dac_col = space.columns[space.index["dac_bits"]]
    base = np.where(space.low < 0, 0, space.low)
    base[space.share_cols[space.share_cols >= 0]] = -1
    rows, owner, dacs = [], [], []
    for i, p in enumerate(points):
        for dac in dac_col.choices:
            row = base.copy()
            for name in space.global_names:
                row[space.index[name]] = space.columns[space.index[name]].index(dac if name == "dac_bits" else p[name])
            rows.append(row)
            owner.append(i)
            dacs.append(dac)
    return np.array(rows, dtype=np.int64), np.array(owner), np.array(dacs)


def unfit_reasons(space: DesignSpace, X: np.ndarray) -> list[str | None]:
    """Per base row (M, D): None if one copy of the weights fits its globals (in a segmented
    space: if one block of crossbars fits the chip), else why not."""
    repaired = repair(space, X)
    if space.segmented:
        return _unfit_segmented(space, X, repaired)
    g = space.globals_of(X)
    need = space.crossbar_sets(X).sum(1)
    budget = space.crossbar_budget(X).astype(np.int64)
    limit = space.crossbar_limit(X).astype(np.int64)
    moved = (repaired[:, :len(space.global_names)] != X[:, :len(space.global_names)]).any(1)
    left_of = "power" if space.area_mm2 is None else "area" if space.power_w is None else "power or area"
    out = []
    for m in range(len(X)):
        if need[m] > budget[m]:
            out.append(f"the weights need {need[m]} crossbars, the crossbar share pays for {budget[m]}")
        elif need[m] > limit[m]:
            out.append(f"the weights need {need[m]} crossbars, the {left_of} left for their periphery "
                       f"allows {max(limit[m], 0)}")
        elif moved[m]:
            out.append(f"no ADC is precise enough for {int(g['dac_bits'][m])}-bit DACs")
        else:
            out.append(None)
    return out


def search_points(space: DesignSpace, points: list[dict], effort: Effort, objective: str,
                  rng: np.random.Generator, duplication: str = "sa",
                  instances: dict | None = None) -> list[PointOutcome]:
    """Run the inner synthesis of ``points`` together (see the module docstring).

    ``duplication`` chooses the candidates of step 2: ``sa`` (the SA filter's, with the
    heuristic's vector as the last one), ``sa_only`` (the SA filter's alone, as PIMSYN),
    or one candidate per pair for the ablations: ``heuristic`` (copies proportional to
    H_out x W_out filling the crossbar limit, the published baseline) or ``none`` (one
    copy of every layer).

    A space with epitome choices (``--epitomes search``) runs this synthesis on its dense
    twin, then the epitome stage from each (point, DAC resolution)'s best design
    (:func:`search.synth.epitome_stage.search_epitomes`). ``instances``, when given, gets
    ``{(point index, DAC bits): (row, fitness)}``: the best EA row of every pair."""
    if space.epitomes is not None:
        from search.synth.epitome_stage import search_epitomes
        return search_epitomes(space, points, effort, objective, rng, duplication)
    start = time.perf_counter()
    X, owner, dacs = point_rows(space, points)
    reasons = unfit_reasons(space, X)
    ok = np.array([r is None for r in reasons], dtype=bool)
    outcomes = [PointOutcome(params=dict(p), value=None, reason=None) for p in points]
    for i in range(len(points)):
        mine = np.flatnonzero(owner == i)
        if not ok[mine].any():
            distinct = {reasons[m] for m in mine}
            outcomes[i].reason = (distinct.pop() if len(distinct) == 1 else
                                  "; ".join(f"{int(dacs[m])}-bit DAC: {reasons[m]}" for m in mine))
    if not ok.any():
        return outcomes
    X, owner, dacs = X[ok], owner[ok], dacs[ok]

    filt = duplication_candidates(space, X, effort, rng, duplication)
    pair, cand = np.nonzero(filt.found())
    X0 = np.repeat(X[pair][:, None, :], effort.population, 1)               # (E, P, D)
    X0[..., space.dup_cols[space.conv]] = filt.dup[pair, cand][:, None, :]
    cols = _ea_columns(space)
    fresh = space.random(X0.shape[0] * X0.shape[1], rng).reshape(X0.shape)
    X0[..., cols] = fresh[..., cols]
    _seed_modes(space, X0)
    if space.segmented:
        X0 = _seed_segments(space, X0, rng)
    latency = needs_latency(objective)
    score = ScoreMemo(lambda rows: fitness(space.evaluate(rows, latency), objective), space.dims)
    generations = generations_for(effort, space.segmented)
    X_best, f_best, history = evolve(space, score, X0, generations, rng,
                                     population=effort.population, columns=cols)
    sign = 1.0 if maximised(objective) else -1.0
    point_of = owner[pair]
    seconds = time.perf_counter() - start
    best_rows = {}
    for i in np.unique(point_of):
        inst = np.flatnonzero(point_of == i)
        k = inst[np.argmax(f_best[inst])]
        if not np.isfinite(f_best[k]):
            why = space.evaluate(X_best[inst], False)              # the reasons name the fix
            names = ", ".join(sorted({why.reason_name(m) for m in range(len(inst))}))
            outcomes[i].reason = f"no feasible design among the EA's populations ({names})"
            continue
        best_rows[i] = X_best[k]
        if instances is not None:
            for d in np.unique(dacs[pair[inst]]):
                mine = inst[dacs[pair[inst]] == d]
                m = mine[np.argmax(f_best[mine])]
                if np.isfinite(f_best[m]):
                    instances[(int(i), int(d))] = (X_best[m], float(f_best[m]))
        per_gen = history["best_so_far"][:, inst].max(1)
        per_dac = {int(d): _value(f_best[inst][dacs[pair[inst]] == d].max(), sign)
                   for d in np.unique(dacs[pair[inst]])}
        outcomes[i].value = float(sign * f_best[k])
        outcomes[i].stats = {
            "evaluations": int(len(inst) * effort.population * (generations + 1)),
            "candidates": int(len(np.unique(pair[inst] * 10_000 + cand[inst]))),
            "best_by_dac_bits": per_dac,
            "best_per_generation": [_value(v, sign) for v in per_gen],
            "duplication": duplication,
            "sa_best_energy": float(filt.energy[pair[inst], 0].min()),
            "batch_seconds": round(seconds, 3),
            "batch_points": len(points),
            "batch_evaluations": score.misses,
            "batch_repeats": score.hits,
        }
    if best_rows:
        idx = sorted(best_rows)
        res = space.evaluate(np.stack([best_rows[i] for i in idx]))
        for n, i in enumerate(idx):
            outcomes[i].row = best_rows[i]
            outcomes[i].metrics = res.metrics(n)
    return outcomes


def _unfit_segmented(space: DesignSpace, X: np.ndarray, repaired: np.ndarray) -> list[str | None]:
    """:func:`unfit_reasons` of a segmented space: every network runs when one block (a row
    group of a column group, ``slices`` crossbars) fits the crossbar share."""
    slices = space.layer_slices(X).max(1)
    budget = space.crossbar_budget(X).astype(np.int64)
    moved = (repaired[:, :len(space.global_names)] != X[:, :len(space.global_names)]).any(1)
    g = space.globals_of(X)
    return [f"one block of the weights needs {slices[m]} crossbars, the crossbar share pays for {budget[m]}"
            if slices[m] > budget[m] else
            f"no ADC is precise enough for {int(g['dac_bits'][m])}-bit DACs" if moved[m] else None
            for m in range(len(X))]


def duplication_candidates(space: DesignSpace, X: np.ndarray, effort: Effort, rng: np.random.Generator,
                           duplication: str) -> FilterResult:
    """Duplication candidates of the pairs ``X`` (E, D) (see :func:`search_points`); in a
    segmented space, one: copies filling each segment of repair's packing in proportion
    to the layers' output pixels (the EA refills them whenever it moves a boundary)."""
    if duplication not in DUPLICATION_SOURCES:
        raise PimtuneError(f"unknown duplication source {duplication!r}; choose from {', '.join(DUPLICATION_SOURCES)}")
    if space.segmented:
        Y = repair(space, X)
        if duplication != "none":
            fill_segments(space, Y)
        dup = space.dup_values(repair(space, Y))[:, space.conv]
        return FilterResult(dup=dup[:, None, :], energy=np.zeros((len(X), 1)), best_energy=np.zeros((1, len(X))))
    dup, sets, limit = conv_copies(space, X)
    g = space.globals_of(X)
    fc = space.crossbar_sets(X)[:, ~space.conv].sum(1)
    heuristic = heuristic_dup(space.network, space.tech, g["xbar_size"], g["cell_bits"], limit + fc,
                              densities=space.densities)
    heuristic = np.minimum(heuristic[:, space.conv], space.dup_max[space.conv])
    if duplication in ("sa", "sa_only"):
        res = filter_duplication(space, X, effort.sa_chains, effort.sa_steps, effort.candidates, rng,
                                 t0=effort.sa_t0, decay=effort.sa_decay,
                                 steps_per_temperature=effort.sa_steps_per_temperature)
        if duplication == "sa_only":
            return res
        missing = ~(res.dup == heuristic[:, None, :]).all(-1).any(1)          # (E,) heuristic not kept
        res.dup[missing, -1] = heuristic[missing]
        res.energy[missing, -1] = duplication_energy(heuristic[missing], *energy_terms(space))
        return res
    dup = heuristic if duplication == "heuristic" else np.ones_like(dup)
    return FilterResult(dup=dup[:, None, :], energy=np.zeros((len(X), 1)), best_energy=np.zeros((1, len(X))))


def _ea_columns(space: DesignSpace) -> np.ndarray:
    """Columns the EA searches: macro levels, sharing, the allocation multipliers, in a
    segmented space the segments, batch and dataflow, and in a space with densities the
    layers' sparsity modes."""
    alloc = space.alloc_cols[space.alloc_cols >= 0]
    return np.concatenate([partition_columns(space), alloc, segment_columns(space),
                           sparse_columns(space)]).astype(np.int64)


def _seed_modes(space: DesignSpace, X0: np.ndarray) -> None:
    """In a space with densities, design m of every EA instance (E, P, D) uses mode m on
    every layer, for each valid mode m (none first: the dense design's mapping is always
    in the first population); the others keep their random modes. In place."""
    cols = sparse_columns(space)
    if len(cols) == 0:
        return
    for m in range(min(int(space.high[cols].max()) + 1, X0.shape[1])):
        X0[:, m, cols] = m


def _seed_segments(space: DesignSpace, X0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The first population of a segmented EA (E, P, D): the first design of each instance
    keeps repair's packing, the others also start a segment at a random
    ``SEGMENT_SEED_SHARE`` of the layers; copies refilled for their segments."""
    E, P, D = X0.shape
    seg = space.seg_cols[space.seg_cols >= 0]
    X0[..., seg] = rng.random((E, P, len(seg))) < SEGMENT_SEED_SHARE
    X0[:, 0, seg] = 0
    rows = repair(space, X0.reshape(E * P, D))
    fill_segments(space, rows)
    return rows.reshape(E, P, D)


def _value(f: float, sign: float) -> float | None:
    return float(sign * f) if np.isfinite(f) else None
