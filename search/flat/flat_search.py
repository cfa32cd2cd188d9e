"""The flat search: any Optuna sampler over the whole design space, scored in batches.

:func:`run_search` asks a batch of trials, encodes and repairs their parameters, scores
the batch in ONE vectorised ``space.evaluate`` call and tells every trial, until the
study holds ``n_trials`` COMPLETE trials (counting those already there, so a resumed
study continues to the same total). For each trial it records, before telling it:

- the repaired row it scored (:func:`search.points.store_point`), which SA, EA and any
  later reader take as the trial's design;
- two Optuna constraints (``<= 0`` feasible, see ``DesignSpace.constraints``):
  ``crossbar_budget`` and ``other``;
- user attrs :data:`METRIC_ATTRS`: ``tops_per_watt``, ``throughput_ips``, ``area_mm2``,
  ``feasible`` and ``reason`` (the evaluator's reason name).

Objectives are those of :mod:`search.objectives`; infeasible designs are told 0 for a
maximised objective (the evaluator's value) and :data:`INFEASIBLE_MINIMISED` for a
minimised one (Optuna refuses infinite values).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from costmodel.resolve import REASONS
from onnx_frontend.errors import PimtuneError
from search import lifecycle
from search.objectives import INFEASIBLE_MINIMISED, OBJECTIVES, needs_latency, told_values
from search.points import store_point
from search.storage.studies import fail_stale_trials
from search.storage.study_lease import hold_study
from search.storage.study_mirror import StudyMirror
from space import DesignSpace, repair

#: The user attrs every told trial carries.
METRIC_ATTRS = ("tops_per_watt", "throughput_ips", "area_mm2", "feasible", "reason")
CONSTRAINT_KEYS = ("crossbar_budget", "other")

Progress = Callable[[int, int, float | None, float], None]


@dataclass
class SearchStats:
    """What one :func:`run_search` call did.

    Attributes:
        objectives: the study's objective names.
        trials: trials told COMPLETE by this call.
        complete: COMPLETE trials in the study at the end (>= ``n_trials`` unless stopped).
        failed_stale: RUNNING trials of a killed run marked FAIL at the start.
        seconds: wall time of this call; ``trials_per_second`` = trials / seconds.
        best: objective name -> value of the best feasible trial (single objective), or
            of the Pareto point with the best first objective (several); None if no
            feasible trial.
        best_trial: that trial.
        trace: single objective: (complete,) best feasible value of the objective after
            each COMPLETE trial of the study, in trial order (0 before the first feasible
            trial for a maximised objective, inf for the area); None for several.
        pareto: several objectives: the feasible Pareto front (``study.best_trials``).
    """

    objectives: tuple[str, ...]
    trials: int
    complete: int
    failed_stale: int
    seconds: float
    trials_per_second: float
    best: dict[str, float] | None
    best_trial: FrozenTrial | None
    trace: np.ndarray | None
    pareto: list[FrozenTrial] = field(default_factory=list)


def directions_of(objectives: Sequence[str]) -> list[str]:
    """Optuna directions ("maximize"/"minimize") of objective names; PimtuneError if unknown."""
    check_objectives(objectives)
    return [OBJECTIVES[o][1] for o in objectives]


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    objectives = tuple(objectives)
    if not objectives:
        raise PimtuneError(f"need at least one objective; choose from {', '.join(OBJECTIVES)}")
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise PimtuneError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}")
    if len(set(objectives)) != len(objectives):
        raise PimtuneError(f"objectives repeat: {','.join(objectives)}")
    return objectives


def run_search(space: DesignSpace, study: optuna.Study, sampler_batch: int, n_trials: int,
               objectives: Sequence[str] = ("tops_per_watt",), progress: Progress | None = None) -> SearchStats:
    """Run ``study`` (whose sampler is already set) until it holds ``n_trials`` COMPLETE trials.

    Args:
        space: the design space; the study's parameters are ``space.to_optuna()``.
        study: a study whose directions are those of ``objectives``.
        sampler_batch: trials asked, scored and told together (``make_sampler``'s batch).
        n_trials: COMPLETE trials the study should hold at the end, counting earlier ones.
        objectives: names of :data:`OBJECTIVES`, in the study's order.
        progress: called after each batch with (complete trials, ``n_trials``, best
            feasible value of the first objective so far or None, trials/s of this call).
    """
    objectives = check_objectives(objectives)
    want = [StudyDirection.MAXIMIZE if OBJECTIVES[o][1] == "maximize" else StudyDirection.MINIMIZE
            for o in objectives]
    if list(study.directions) != want:
        have = ",".join(d.name.lower() for d in study.directions)
        raise PimtuneError(f"study {study.study_name!r} has directions {have}, but objectives "
                           f"{','.join(objectives)} need {','.join(d.name.lower() for d in want)}")
    if sampler_batch < 1 or n_trials < 0:
        raise PimtuneError(f"batch must be >= 1 and trials >= 0, got {sampler_batch} and {n_trials}")

    with hold_study(study):            # one process per stored study (search.storage.study_lease)
        stale = len(fail_stale_trials(study))
        mirror = None if isinstance(study._storage, InMemoryStorage) else StudyMirror(study)
        study = study if mirror is None else mirror.study         # batches are stored by flush
        first_max = want[0] == StudyDirection.MAXIMIZE
        best = _best_first(study, objectives[0])
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # CmaEsSampler warns on every trial that it ignores the constraints (its infeasible
                # trials are told the worst value anyway)
                warnings.filterwarnings("ignore", message="Constraints have been set, but CmaEsSampler")
                told = _loop(space, study, sampler_batch, n_trials, objectives, first_max, best, progress, start,
                             flush=mirror.flush if mirror else None)
        finally:
            if mirror is not None:
                mirror.flush()                  # an interrupted batch's trials, told FAIL

    seconds = time.perf_counter() - start
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    stats = SearchStats(objectives=objectives, trials=told, complete=len(done), failed_stale=stale,
                        seconds=seconds, trials_per_second=told / seconds if seconds > 0 else 0.0,
                        best=None, best_trial=None, trace=None)
    if len(objectives) == 1:
        stats.trace = best_so_far(done, objectives[0])
        stats.best_trial = best_trial(done, objectives[0])
    else:
        stats.pareto = sorted(study.best_trials, key=lambda t: t.number)
        if stats.pareto:
            pick = max if first_max else min
            stats.best_trial = pick(stats.pareto, key=lambda t: t.values[0])
    if stats.best_trial is not None:
        stats.best = dict(zip(objectives, (float(v) for v in stats.best_trial.values)))
    return stats


# --- reading finished trials ---------------------------------------------------------------
def is_feasible(trial: FrozenTrial) -> bool:
    """A told trial's feasibility: its ``feasible`` user attr, else its constraints."""
    f = trial.user_attrs.get("feasible")
    if f is not None:
        return bool(f)
    return all(c <= 0 for c in trial.constraints.values())


def best_so_far(trials: Sequence[FrozenTrial], objective: str = "tops_per_watt") -> np.ndarray:
    """(len(trials),) best feasible value of ``objective`` after each COMPLETE trial, in
    trial-number order (0 before the first feasible one when maximised, inf when minimised)."""
    trials = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    maximise = OBJECTIVES[objective][1] == "maximize"
    worst = 0.0 if maximise else math.inf
    v = np.array([objective_value(t, objective) if is_feasible(t) else worst for t in trials], dtype=float)
    v = np.where(np.isnan(v), worst, v)
    if not len(v):
        return v
    return np.maximum.accumulate(v) if maximise else np.minimum.accumulate(v)


def objective_value(trial: FrozenTrial, objective: str) -> float:
    """``objective`` of a told trial: its user attr (any objective), else its single value."""
    attr = OBJECTIVES[objective][0]
    if attr in trial.user_attrs:
        return float(trial.user_attrs[attr])
    if trial.values is not None and len(trial.values) == 1:
        return float(trial.values[0])
    return math.nan


def best_trial(trials: Sequence[FrozenTrial], objective: str) -> FrozenTrial | None:
    """The feasible COMPLETE trial with the best ``objective`` (earliest on ties), or None."""
    maximise = OBJECTIVES[objective][1] == "maximize"
    best, best_v = None, None
    for t in sorted(trials, key=lambda t: t.number):
        if t.state != TrialState.COMPLETE or not is_feasible(t):
            continue
        v = objective_value(t, objective)
        if math.isnan(v):
            continue
        if best is None or (v > best_v if maximise else v < best_v):
            best, best_v = t, v
    return best


def _loop(space, study, sampler_batch, n_trials, objectives, first_max, best, progress, start, flush=None) -> int:
    """Ask, score and tell batches until the study holds ``n_trials`` COMPLETE trials,
    calling ``flush`` after each batch; returns the trials told."""
    dists = space.to_optuna()
    told = 0
    complete = _n_complete(study)
    while complete < n_trials:
        lifecycle.raise_if_signalled()
        n = min(sampler_batch, n_trials - complete)
        trials = []
        try:
            for _ in range(n):
                trials.append(study.ask(fixed_distributions=dists))
            X = repair(space, space.encode([t.params for t in trials]))
            res = space.evaluate(X, latency=any(map(needs_latency, objectives)))
            C = space.constraints(res)
            values = _values(res, objectives)
            for i, trial in enumerate(trials):
                store_point(study, trial, X[i])
                trial.set_constraint(CONSTRAINT_KEYS[0], float(C[i, 0]))
                trial.set_constraint(CONSTRAINT_KEYS[1], float(C[i, 1]))
                trial.set_user_attr("tops_per_watt", float(res.tops_per_watt[i]))
                trial.set_user_attr("throughput_ips", float(res.throughput_ips[i]))
                trial.set_user_attr("area_mm2", _finite(res.area_mm2[i]))
                trial.set_user_attr("feasible", bool(res.feasible[i]))
                trial.set_user_attr("reason", REASONS[int(res.reason[i])])
                study.tell(trial, [float(v) for v in values[i]])
                trials[i] = None
                told += 1
        except BaseException:
            for trial in trials:            # nothing this run asked stays RUNNING
                if trial is not None:
                    try:
                        study.tell(trial, state=TrialState.FAIL)
                    except Exception:
                        pass
            raise
        if res.feasible.any():
            v = values[res.feasible, 0]
            b = float(v.max() if first_max else v.min())
            if best is None or (b > best if first_max else b < best):
                best = b
        if flush is not None:
            flush()
        complete = _n_complete(study)
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(complete, n_trials, best, told / elapsed if elapsed > 0 else 0.0)
    return told


# --- helpers -------------------------------------------------------------------------------
def _values(res, objectives: Sequence[str]) -> np.ndarray:
    """(N, K) values to tell."""
    return np.stack([told_values(res, o) for o in objectives], 1)


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _n_complete(study: optuna.Study) -> int:
    return study._storage.get_n_trials(study._study_id, TrialState.COMPLETE)


def _best_first(study: optuna.Study, objective: str) -> float | None:
    t = best_trial(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), objective)
    return None if t is None else objective_value(t, objective)


__all__ = ["OBJECTIVES", "INFEASIBLE_MINIMISED", "METRIC_ATTRS", "SearchStats", "run_search", "best_so_far",
           "best_trial", "directions_of", "check_objectives", "is_feasible"]
