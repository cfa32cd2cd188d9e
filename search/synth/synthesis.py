"""The two-level synthesis flow (PIMSYN's Algorithm 1) recorded in an Optuna study.

The outer level is an Optuna study whose trials are architecture points (rram_ratio,
cell_bits, xbar_size); each trial's inner synthesis (:mod:`search.synth.inner_search`: SA filter
over duplication at every DAC resolution, then EA over macro partitioning) runs in memory
with the vectorised engine. A trial's value is its best design's objective; its user
attributes hold that design (the ``pimtune-design/1`` JSON form, ``design``), its
metrics (``metrics``) and the inner search's statistics (``stats``). An outer point where
nothing fits is PRUNED with its ``reason``. In an epitome search (``--epitomes search``,
:mod:`search.synth.epitome_stage`) each point's dense synthesis runs first and a trial also
holds its result (``dense``: value, design, metrics), which the report compares against.

Outer samplers (``outer``):

- ``grid`` (default): every point of ``effort.rram_ratios`` x cell bits x crossbar sizes,
  PIMSYN's 36-point grid at the default effort. Points are enqueued in a fixed order and
  searched in fixed batches of ``effort.points_per_batch`` (one population matrix per
  batch), each batch seeded from the seed and its points, so an interrupted and resumed
  study ends with exactly the values of an uninterrupted one.
- ``tpe`` / ``random``: ``trials`` points sampled by Optuna, rram_ratio on the space's
  finer grid (``SpaceOptions.rram_ratio``).

Batches run in ``jobs`` worker processes (which die with this one, even when it is
SIGKILLed: :mod:`search.lifecycle`); only the calling process writes to the storage, and
only one process runs a study at a time (:mod:`search.storage.study_lease`). Resuming: trials a
killed run left RUNNING become FAIL and their points are searched again; finished points
are skipped. Ctrl-C, SIGTERM or SIGHUP kill the workers, mark the trials in flight FAIL
and raise :class:`SynthesisInterrupted`; everything told before is kept.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState
from threadpoolctl import threadpool_limits

from onnx_frontend.errors import Interrupted, PimtuneError
from search.synth.effort import Effort
from space.options import FAMILY_GLOBALS
from search.synth.inner_search import DUPLICATION_SOURCES, OUTER_PARAMS, PointOutcome, point_rows, search_points, unfit_reasons
from search import lifecycle
from search.lifecycle import init_worker, stop_pool
from search.objectives import SYNTH_OBJECTIVES, maximised
from search.storage.studies import fail_stale_trials, open_study, tech_fingerprint
from search.storage.study_lease import hold_study
from space import DesignSpace, SpaceOptions

OUTER_SAMPLERS = ("grid", "tpe", "random")
#: How many more outer points a segmented space searches per batch (:func:`points_per_batch`).
SEGMENTED_BATCH_FACTOR = 6
#: Outer trials of ``tpe`` / ``random`` when none are given: PIMSYN's grid size.
DEFAULT_OUTER_TRIALS = 36

#: progress(finished outer points, total, best value so far or None, seconds so far)
Progress = Callable[[int, int, float | None, float], None]


class SynthesisInterrupted(Interrupted):
    """Ctrl-C during a synthesis; the study keeps every finished outer point."""


@dataclass(frozen=True)
class SynthesisPlan:
    """What one synthesis searches, besides the space: stored in the study's identity."""

    objective: str = "tops_per_watt"
    outer: str = "grid"
    effort: Effort | None = None
    trials: int = DEFAULT_OUTER_TRIALS
    seed: int = 0
    jobs: int = 1
    duplication: str = "sa"

    def check(self) -> None:
        if self.objective not in SYNTH_OBJECTIVES:
            raise PimtuneError(f"unknown objective {self.objective!r}; choose from {', '.join(SYNTH_OBJECTIVES)}")
        if self.outer not in OUTER_SAMPLERS:
            raise PimtuneError(f"unknown outer sampler {self.outer!r}; choose from {', '.join(OUTER_SAMPLERS)}")
        if self.effort is None:
            raise PimtuneError("a synthesis needs an effort (search.synth.effort.EFFORTS)")
        if self.duplication not in DUPLICATION_SOURCES:
            raise PimtuneError(f"unknown duplication source {self.duplication!r}; choose from "
                               f"{', '.join(DUPLICATION_SOURCES)}")
        if self.trials < 1 or self.jobs < 1:
            raise PimtuneError(f"outer trials and jobs must be >= 1, got {self.trials} and {self.jobs}")


@dataclass
class SynthesisStats:
    """What :func:`run_synthesis` did: points searched now, stale trials retried, wall time."""

    searched: int
    retried: int
    skipped: int
    seconds: float
    evaluations: int


# --- the study ---------------------------------------------------------------------------
def direction(plan: SynthesisPlan) -> str:
    return "maximize" if maximised(plan.objective) else "minimize"


def identity(space: DesignSpace, plan: SynthesisPlan) -> dict:
    """What a synthesis study searches (see :func:`search.storage.studies.open_study`)."""
    return {"command": "synth", "network": space.network.name, "network_sha1": space.network.fingerprint(),
            **space.budget_identity(), "tech": space.tech.name, "tech_sha1": tech_fingerprint(space.tech),
            "sharing": space.options.sharing, "macros": space.options.macro_mode,
            "objective": plan.objective, "outer": plan.outer, "effort": plan.effort.name,
            "effort_sha1": hashlib.sha1(plan.effort.model_dump_json().encode()).hexdigest()[:16],
            "seed": plan.seed, "duplication": plan.duplication, **space.segment_identity(),
            **space.sparsity_identity(), **space.epitome_identity()}


def outer_distributions(space: DesignSpace, plan: SynthesisPlan) -> dict:
    """Optuna distributions of the outer parameters."""
    cells = space.columns[space.index["cell_bits"]].choices
    sizes = space.columns[space.index["xbar_size"]].choices
    ratios = space.columns[space.index["rram_ratio"]].choices
    if plan.outer == "grid":
        wanted = plan.effort.rram_ratios if space.tech.sram is None else space.tech.sram.chip.array_shares
        on_grid = tuple(r for r in wanted if any(abs(r - v) < 1e-9 for v in ratios))
        if not on_grid:
            raise PimtuneError(f"none of the outer grid's rram_ratios {list(wanted)} is in the "
                               f"space's range {ratios[0]}..{ratios[-1]}")
        rram = CategoricalDistribution(on_grid)
    elif len(ratios) == 1:
        rram = CategoricalDistribution(ratios)
    else:
        rram = FloatDistribution(ratios[0], ratios[-1], step=space.options.rram_ratio[2])
    dists = {"rram_ratio": rram, "cell_bits": CategoricalDistribution(cells), "xbar_size": CategoricalDistribution(sizes)}
    if "adc_bits" in space.index:                       # analog SRAM arrays: the ADC resolution too
        dists["adc_bits"] = CategoricalDistribution(space.columns[space.index["adc_bits"]].choices)
    return dists


def synthesis_space(network, tech, power_w: float | None, options: SpaceOptions, plan: SynthesisPlan,
                    area_mm2: float | None = None, densities=None, epitomes=None) -> DesignSpace:
    """The design space a synthesis searches at ``power_w`` W and/or ``area_mm2`` mm^2
    (with ``densities`` from ``--sparsity``, None: dense; ``epitomes``, an
    :class:`~space.epitome_choices.EpitomeSearch` from ``--epitomes search``, None: the
    network's own): ``options``' space, except that
    with ``segments="auto"`` a grid synthesis whose grid holds no point where one copy of
    the weights fits (the effort's rram_ratios may be below the box's top) searches segments."""
    space = DesignSpace.for_network(network, tech, power_w, options, area_mm2=area_mm2, densities=densities,
                                    epitomes=epitomes)
    if space.segmented or options.segments != "auto" or plan.outer != "grid":
        return space
    dists = outer_distributions(space, plan)
    names = list(dists)
    grid = [dict(zip(names, values)) for values in itertools.product(*(dists[k].choices for k in names))]
    rows, _, _ = point_rows(space, grid)
    if any(r is None for r in unfit_reasons(space, rows)):
        return space
    return DesignSpace.for_network(network, tech, power_w, options, segmented=True, area_mm2=area_mm2,
                                   densities=densities, epitomes=epitomes)


def outer_sampler(space: DesignSpace, plan: SynthesisPlan) -> optuna.samplers.BaseSampler:
    """The study's sampler: a GridSampler over the grid (its points are enqueued in a fixed
    order anyway), TPE with the constant liar for parallel asks, or random."""
    if plan.outer == "grid":
        grid = {k: list(d.choices) for k, d in outer_distributions(space, plan).items()}
        return optuna.samplers.GridSampler(grid, seed=plan.seed)
    if plan.outer == "tpe":
        return optuna.samplers.TPESampler(seed=plan.seed, constant_liar=True,
                                          n_startup_trials=min(10, max(plan.trials // 3, 1)))
    return optuna.samplers.RandomSampler(seed=plan.seed)


def point_key(params: dict) -> tuple:
    """A hashable key of an outer point (rram_ratio rounded to 1e-9)."""
    return (round(float(params["rram_ratio"]), 9), int(params["cell_bits"]), int(params["xbar_size"]),
            int(params.get("adc_bits", 0)))


def finished_points(study: optuna.Study) -> dict[tuple, FrozenTrial]:
    """Outer points with a COMPLETE or PRUNED trial, by :func:`point_key`."""
    done = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if all(k in t.params for k in OUTER_PARAMS):
            done.setdefault(point_key(t.params), t)
    return done


def best_trial(study: optuna.Study, objective: str) -> FrozenTrial | None:
    """The COMPLETE trial with the best value, or None."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    pick = max if maximised(objective) else min
    return pick(done, key=lambda t: t.value)


# --- the flow ------------------------------------------------------------------------------
def run_synthesis(space: DesignSpace, study: optuna.Study, plan: SynthesisPlan,
                  progress: Progress | None = None) -> SynthesisStats:
    """Search every outer point the study still lacks (see the module docstring); the
    study's lease is held meanwhile (:mod:`search.storage.study_lease`: StudyBusy if another live
    process runs it)."""
    plan.check()
    with hold_study(study):
        return _run_synthesis(space, study, plan, progress)


def _run_synthesis(space, study, plan, progress) -> SynthesisStats:
    start = time.perf_counter()
    stale = fail_stale_trials(study)
    dists = outer_distributions(space, plan)
    stats = SynthesisStats(searched=0, retried=len(stale), skipped=0, seconds=0.0, evaluations=0)
    if plan.outer == "grid":
        batches, total = _grid_batches(space, study, plan, dists, stats)
    else:
        for t in stale:                                       # retry cut-off points first
            if all(k in t.params for k in OUTER_PARAMS):
                study.enqueue_trial({k: v for k, v in t.params.items() if k in OUTER_PARAMS + FAMILY_GLOBALS}, skip_if_exists=False)
        batches, total = None, plan.trials
    best = _best_value(study, plan.objective)
    if progress:
        progress(len(finished_points(study)), total, best, 0.0)

    def told(outcome_trials: list[tuple[PointOutcome, optuna.trial.Trial]]) -> None:
        nonlocal best
        for outcome, trial in outcome_trials:
            _tell(space, study, trial, outcome)
            stats.searched += 1
            stats.evaluations += int(outcome.stats.get("evaluations", 0))
            if outcome.value is not None and (best is None or (outcome.value > best) == maximised(plan.objective)):
                best = outcome.value
        if progress:
            progress(len(finished_points(study)), total, best, time.perf_counter() - start)

    with threadpool_limits(limits=1):       # batches are vectorised; BLAS threads only oversubscribe
        _execute(space, study, plan, dists, batches, told)
    stats.seconds = time.perf_counter() - start
    return stats


def _grid_batches(space, study, plan, dists, stats):
    """An iterator over the grid's fixed batches that still hold unfinished points, as
    (points, grid indices), and the grid's size; points where no DAC resolution fits are
    told PRUNED here at once."""
    names = list(dists)
    grid = [dict(zip(names, values)) for values in itertools.product(*(dists[k].choices for k in names))]
    reasons = unfit_reasons(space, point_rows(space, grid)[0])
    n_dac = len(reasons) // len(grid)
    done = finished_points(study)
    fits = []
    for i, p in enumerate(grid):
        mine = reasons[i * n_dac:(i + 1) * n_dac]
        if any(r is None for r in mine):
            fits.append(i)
        elif point_key(p) not in done:
            study.add_trial(optuna.trial.create_trial(params=p, distributions=dists, state=TrialState.PRUNED,
                                                      user_attrs={"reason": _join_reasons(mine)}))
            stats.skipped += 1
    size = points_per_batch(space, plan.effort)
    batches = []
    for b in range(0, len(fits), size):
        ids = fits[b:b + size]
        if any(point_key(grid[i]) not in done for i in ids):
            batches.append(([grid[i] for i in ids], ids))
    return iter(batches), len(grid)


def points_per_batch(space: DesignSpace, effort: Effort) -> int:
    """Outer points searched as one population matrix: ``effort.points_per_batch``, times
    ``SEGMENTED_BATCH_FACTOR`` in a segmented space (its EA has one duplication candidate
    per point and DAC resolution where the SA filter gives ten: more points keep the
    matrices, and so the evaluator's per-call overhead, as in a space that fits)."""
    return effort.points_per_batch * (SEGMENTED_BATCH_FACTOR if space.segmented else 1)


def _join_reasons(reasons: list[str]) -> str:
    distinct = list(dict.fromkeys(reasons))
    return distinct[0] if len(distinct) == 1 else "; ".join(distinct)


def _ask_point(study: optuna.Study, params: dict, dists: dict) -> optuna.trial.Trial:
    """A new trial at exactly ``params`` (enqueued, then asked: no other trial may be
    WAITING, which :func:`~search.storage.studies.fail_stale_trials` ensures at the start)."""
    study.enqueue_trial(params, skip_if_exists=False)
    trial = study.ask(dists)
    if point_key(trial.params) != point_key(params):
        raise PimtuneError(f"study {study.study_name!r} handed out trial {trial.number} at {trial.params}, not "
                           f"{params}: is another process running it? Stop it and rerun")
    return trial


def _tell(space: DesignSpace, study: optuna.Study, trial: optuna.trial.Trial, outcome: PointOutcome) -> None:
    """Record an outer point's outcome on its trial (COMPLETE with the value, or PRUNED)."""
    if outcome.value is None:
        trial.set_user_attr("reason", outcome.reason or "no feasible design")
        if outcome.stats:
            trial.set_user_attr("stats", outcome.stats)
        study.tell(trial, state=TrialState.PRUNED)
        return
    design = space.to_batch(outcome.row[None, :]).to_dict(0, space.network)
    trial.set_user_attr("design", design)
    trial.set_user_attr("metrics", outcome.metrics)
    trial.set_user_attr("stats", outcome.stats)
    if outcome.dense is not None:                     # an epitome search: the dense synthesis' result
        dense = space.dense_twin()
        trial.set_user_attr("dense", {"value": outcome.dense["value"], "metrics": outcome.dense["metrics"],
                                      "design": dense.to_batch(outcome.dense["row"][None, :]).to_dict(0, dense.network)})
    study.tell(trial, outcome.value)


def _best_value(study: optuna.Study, objective: str) -> float | None:
    t = best_trial(study, objective)
    return None if t is None else float(t.value)


# --- running batches, in this process or in workers ----------------------------------------
_WORKER_SPACE: DesignSpace | None = None


def _init_worker(parent, network, tech, power_w, options, segmented, area_mm2=None, densities=None,
                 epitomes=None) -> None:
    global _WORKER_SPACE
    init_worker(parent)                      # ignores Ctrl-C, dies with the parent
    threadpool_limits(limits=1)              # one BLAS thread per worker process (for good)
    _WORKER_SPACE = DesignSpace.for_network(network, tech, power_w, options, segmented, area_mm2=area_mm2,
                                            densities=densities, epitomes=epitomes)


def _run_in_worker(points: list[dict], plan: SynthesisPlan, seed_words: list[int]) -> list[PointOutcome]:
    return _search(_WORKER_SPACE, points, plan, seed_words)


def _search(space: DesignSpace, points: list[dict], plan: SynthesisPlan, seed_words: list[int]) -> list[PointOutcome]:
    return search_points(space, points, plan.effort, plan.objective, _rng(seed_words), plan.duplication)


def _rng(seed_words: list[int]) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in seed_words]))


def _execute(space, study, plan, dists, batches, told) -> None:
    """Ask, run and tell batches until none is left, ``plan.jobs`` at a time."""
    pool = None
    if plan.jobs > 1:
        pool = ProcessPoolExecutor(plan.jobs, initializer=_init_worker,
                                   initargs=(os.getpid(), space.network, space.tech, space.power_w, space.options,
                                             space.segmented, space.area_mm2, space.densities,
                                             None if space.epitomes is None else space.epitomes.spec))
    in_flight: dict[Future, list] = {}
    asked: list[optuna.trial.Trial] = []
    try:
        while True:
            lifecycle.raise_if_signalled()
            while len(in_flight) < plan.jobs:
                job = _next_job(space, study, plan, dists, batches)
                if job is None:
                    break
                points, trials, seed_words = job
                asked.extend(t for t in trials if t is not None)
                if pool is None:
                    outcomes = _search(space, points, plan, seed_words)
                    _finish(points, trials, outcomes, told, asked)
                else:
                    fut = pool.submit(_run_in_worker, points, plan, seed_words)
                    in_flight[fut] = [points, trials]
            if not in_flight:
                break
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for fut in finished:
                points, trials = in_flight.pop(fut)
                _finish(points, trials, fut.result(), told, asked)
    except KeyboardInterrupt:                # Ctrl-C, or SIGTERM / SIGHUP (search.lifecycle)
        if pool is not None:
            stop_pool(pool)
            pool = None
        for trial in asked:
            study.tell(trial, state=TrialState.FAIL)
        n = len(finished_points(study))
        raise SynthesisInterrupted(f"interrupted: {n} finished outer points are kept in the study; "
                                   f"run the same command again to resume") from None
    finally:
        if pool is not None:
            pool.shutdown()


def _next_job(space, study, plan, dists, batches):
    """The next batch to run as (points, trials, seed words), or None when done."""
    if plan.outer == "grid":
        batch = next(batches, None)
        if batch is None:
            return None
        points, ids = batch
        done = finished_points(study)
        trials = [None if point_key(p) in done else _ask_point(study, p, dists) for p in points]
        return points, trials, [plan.seed, *ids]
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    want = min(points_per_batch(space, plan.effort), plan.trials - len(finished_points(study)) - running)
    if want <= 0:
        return None
    trials = [study.ask(dists) for _ in range(want)]
    points = [{k: v for k, v in t.params.items() if k in OUTER_PARAMS + FAMILY_GLOBALS} for t in trials]
    return points, trials, [plan.seed, *(t.number for t in trials)]


def _finish(points, trials, outcomes, told, asked) -> None:
    """Tell the batch's trials (points finished earlier have no trial) and forget them."""
    pairs = [(o, t) for o, t in zip(outcomes, trials) if t is not None]
    for _, t in pairs:
        asked.remove(t)
    told(pairs)


# --- one synthesis, end to end --------------------------------------------------------------
def run_label(plan: SynthesisPlan) -> str:
    """``EFFORT`` or ``EFFORT-sSEED`` (seed 0 left out): what tells apart runs of one
    network and budget, so that a quick first look and the default run live side by side."""
    effort = plan.effort.name if plan.effort is not None else "default"
    return effort if plan.seed == 0 else f"{effort}-s{plan.seed}"


def default_study_name(space: DesignSpace, plan: SynthesisPlan) -> str:
    """``NETWORK-BUDGETS-synth-OBJECTIVE-EFFORT[-sSEED][-segMODE][-bBATCH][-sp-FINGERPRINT]``:
    what a rerun of the same command finds again (BUDGETS: ``POWERW``, ``AREAmm2`` or
    ``POWERW-AREAmm2``, :func:`costmodel.budgets.budget_label`; FINGERPRINT: the densities'
    of a sparsity-aware synthesis, :meth:`space.DesignSpace.sparsity_label`)."""
    return (f"{space.network.name}-{space.budget_label()}-synth-{plan.objective}-{run_label(plan)}"
            f"{space.options_label()}")


def synthesize(space: DesignSpace, plan: SynthesisPlan, storage, study_name: str | None = None,
               progress: Progress | None = None) -> tuple[optuna.Study, SynthesisStats]:
    """Open (or create) the synthesis study ``study_name`` in ``storage`` and run it to
    the end; a study of that name made for something else is refused (PimtuneError)."""
    plan.check()
    name = study_name or default_study_name(space, plan)
    study = open_study(storage, name, outer_sampler(space, plan), [direction(plan)], identity(space, plan))
    return study, run_synthesis(space, study, plan, progress)
