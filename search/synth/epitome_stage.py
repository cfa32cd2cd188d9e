"""The epitome stage of a synthesis (``pimtune synth MODEL --epitomes search``).

For a batch of outer points, in a space with epitome choices (:mod:`space.epitome_choices`):

1. the dense synthesis of the points runs exactly as ``pimtune synth MODEL`` runs it, on
   the space's dense twin with the same random source (:func:`search.synth.inner_search.search_points`):
   its results are the dense synthesis at the same budget, effort and seed, which the
   report compares against;
2. for every (point, DAC resolution) whose best dense design is within
   :data:`DAC_MARGIN` of the point's best, an EA instance starts from that design (DAC
   resolutions far behind, often several times worse, are left out): its first
   population holds that design unchanged (all layers dense) and
   ``population - 1`` variants with random epitomes (each variant draws a share of
   layers, each of those a random candidate shape and, with ``--weight-bits``, a random
   precision; half the variants scale each changed layer's copies to keep its
   crossbars), repaired (floor, accuracy budget, crossbar budget, macros);
3. all instances of the batch are one population matrix evolved for
   :data:`GENERATION_SHARE` of the effort's generations, one evaluator call per
   generation, searching every layer's epitome and precision (grow / shrink moves,
   :mod:`search.operators.epitome_moves`) jointly with the copies (PIMSYN's duplication
   move at the row's own crossbars per copy) and the macro partitioning, sharing and
   allocation (the EA's operators, :mod:`search.operators.evolution`);
4. a point's result is the stage's best design when it beats the point's best dense
   design, else that dense design: the synthesis is never worse than the dense one.
"""

from __future__ import annotations

import time

import numpy as np

from search.objectives import fitness, maximised, needs_latency
from search.operators.epitome_moves import epitome_columns
from search.operators.evolution import evolve, partition_columns
from search.synth.effort import Effort
from search.synth.inner_search import PointOutcome, search_points
from search.synth.score_memo import ScoreMemo
from space import DesignSpace, repair

#: Generations of the epitome stage, as a share of the effort's EA generations.
GENERATION_SHARE = 1.0
#: Population of the epitome stage's instances, as a multiple of the effort's.
POPULATION_FACTOR = 1
#: A (point, DAC resolution) pair gets an instance when its best dense fitness is within
#: this share of the point's best (ResNet18 at 49 W, three seeds of the stage: as good as
#: with every pair, in two thirds of the time; the pairs left out were 2-10x worse).
DAC_MARGIN = 0.1


def search_epitomes(space: DesignSpace, points: list[dict], effort: Effort, objective: str,
                    rng: np.random.Generator, duplication: str = "sa") -> list[PointOutcome]:
    """The inner synthesis of ``points`` with epitomes (module docstring); each outcome's
    ``row`` is a row of ``space`` and ``dense`` holds the dense synthesis' result."""
    dense = space.dense_twin()
    instances: dict = {}
    outcomes = search_points(dense, points, effort, objective, rng, duplication, instances)
    for o in outcomes:
        if o.value is not None:
            o.dense = {"value": o.value, "row": o.row, "metrics": o.metrics}
            o.row = space.rows_from(dense, o.row)[0]
    best_of = {}
    for (i, _), (_, f) in instances.items():
        best_of[i] = max(best_of.get(i, -np.inf), f)
    keys = sorted(k for k, (_, f) in instances.items() if f >= best_of[k[0]] - DAC_MARGIN * abs(best_of[k[0]]))
    if not keys:
        return outcomes
    start = time.perf_counter()
    X_dense = np.stack([instances[k][0] for k in keys])
    f_dense = np.array([instances[k][1] for k in keys])
    copies = duplication != "none"                  # one copy of every layer stays one copy
    population = stage_population(effort)
    X0 = first_population(space, space.rows_from(dense, X_dense), population, rng, copies)
    latency = needs_latency(objective)
    score = ScoreMemo(lambda rows: fitness(space.evaluate(rows, latency), objective), space.dims)
    generations = stage_generations(effort)
    X_best, f_best, history = evolve(space, score, X0, generations, rng, population=population,
                                     columns=stage_columns(space, copies))
    seconds = time.perf_counter() - start
    sign = 1.0 if maximised(objective) else -1.0
    point_of = np.array([k[0] for k in keys])
    improved = {}
    for i in np.unique(point_of):
        inst = np.flatnonzero(point_of == i)
        k = inst[np.argmax(f_best[inst])]
        o = outcomes[i]
        if f_best[k] > f_dense[inst].max():
            improved[i] = X_best[k]
        per_gen = history["best_so_far"][:, inst].max(1)
        evaluations = int(len(inst) * population * (generations + 1))
        o.stats["evaluations"] = int(o.stats.get("evaluations", 0)) + evaluations
        o.stats["epitome"] = {
            "dense_value": o.value,
            "value": float(sign * max(f_best[k], f_dense[inst].max())),
            "improved": bool(i in improved),
            "instances": int(len(inst)),
            "evaluations": evaluations,
            "generations": int(generations),
            "best_per_generation": [float(sign * v) if np.isfinite(v) else None for v in per_gen],
            "batch_seconds": round(seconds, 3),
            "batch_evaluations": score.misses,
            "batch_repeats": score.hits,
        }
    if improved:
        idx = sorted(improved)
        res = space.evaluate(np.stack([improved[i] for i in idx]))
        for n, i in enumerate(idx):
            outcomes[i].row = improved[i]
            outcomes[i].metrics = res.metrics(n)
            outcomes[i].value = float(sign * f_best[point_of == i].max())
    return outcomes


def stage_generations(effort: Effort) -> int:
    """EA generations of the epitome stage at ``effort``."""
    return max(1, int(round(effort.generations * GENERATION_SHARE)))


def stage_population(effort: Effort) -> int:
    """Designs per instance and generation of the epitome stage at ``effort``."""
    return max(2, int(effort.population * POPULATION_FACTOR))


def stage_columns(space: DesignSpace, copies: bool = True) -> np.ndarray:
    """Columns the stage's EA searches: macro levels and sharing, the allocation
    multipliers, every layer's epitome and precision, and (``copies``) the conv layers'
    copies."""
    alloc = space.alloc_cols[space.alloc_cols >= 0]
    dups = space.dup_cols[space.conv] if copies else np.zeros(0, dtype=np.int64)
    return np.concatenate([partition_columns(space), alloc, epitome_columns(space), dups]).astype(np.int64)


def first_population(space: DesignSpace, X: np.ndarray, population: int, rng: np.random.Generator,
                     copies: bool = True) -> np.ndarray:
    """(M, population, D) first populations of the instances started from rows ``X``
    (M, D) (module docstring, step 2): design 0 of each is its row unchanged (``copies``:
    variants may scale a changed layer's copies)."""
    M, D = X.shape
    X0 = np.repeat(X[:, None, :], population, 1)
    if population < 2:
        return X0
    rows = X0[:, 1:].reshape(-1, D).copy()
    n, L = len(rows), len(space.epitome_cols)
    ch = space.epitomes
    share = rng.random(n)[:, None]                                        # each variant's share of layers
    e, b = space.choice_indices(rows)
    shape_has = (space.epitome_cols >= 0)[None, :]
    pick = (rng.random((n, L)) < share) & shape_has
    e = np.where(pick, 1 + np.floor(rng.random((n, L)) * np.maximum(ch.count - 1, 1)).astype(np.int64), e)
    bits_has = (space.wbits_cols >= 0)[None, :]
    pick_b = (rng.random((n, L)) < share) & bits_has
    b = np.where(pick_b, np.floor(rng.random((n, L)) * ch.nbits).astype(np.int64), b)
    before = space.crossbar_sets(rows)
    for cols, values in ((space.epitome_cols, e), (space.wbits_cols, b)):
        has = cols >= 0
        rows[:, cols[has]] = values[:, has]
    keep = (rng.random(n) < 0.5) & copies                                 # these keep each layer's crossbars
    if keep.any():
        after = space.crossbar_sets(rows[keep])
        dup = space.dup_values(rows[keep])
        scaled = np.clip(np.floor(dup * before[keep] / np.maximum(after, 1)), 1, space.dup_max).astype(np.int64)
        sub = rows[keep]
        sub[:, space.dup_cols[space.conv]] = scaled[:, space.conv]
        rows[keep] = sub
    X0[:, 1:] = repair(space, rows).reshape(M, population - 1, D)
    return X0
