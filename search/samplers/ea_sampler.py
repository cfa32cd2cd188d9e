"""PIMSYN's evolutionary algorithm as an Optuna sampler (generations of ``population_size`` trials).

:class:`EvolutionarySampler` runs the EA of :mod:`search.operators.evolution` over a whole
:class:`space.DesignSpace` through an Optuna study, so that it works with Optuna's
ask/tell and ``optimize`` loops, Ray Tune's ``OptunaSearch`` and any storage:

- generations come from :class:`optuna.samplers.BaseGASampler`: a trial belongs to the
  generation after the newest one that has ``population_size`` complete trials;
- the parents of generation g (cached as trial ids by the base class) are selected by
  :func:`search.operators.evolution.select_parents` from the complete trials of generation g - 1
  and the parents of g - 1 (a (mu + lambda) scheme: the elite survives);
- the children of generation g are bred once, deterministically from ``(seed, g)`` and the
  parents, and cached as rows of the space's integer matrix in the study's system attrs;
  the k-th trial of the generation (by trial number) takes child k, so a batch of
  ``population_size`` asks is one generation. Generation 0 is ``population_size`` repaired
  points of ``space.random``. A generation that gets more trials (failed trials, workers
  asking ahead) takes extra children: mutations of child ``k % population_size``;
- a parent's design is the repaired row the driver stored (``search.points``), else its
  parameters encoded over the row it was given, repaired; its fitness is its value
  (single-objective, maximised), infeasible trials (a constraint > 0) after feasible ones.

All state lives in the study's storage, none on the sampler: several workers, a resumed
study or a new sampler object continue the same run. Without a ``seed`` one is drawn
once and stored in the study. Concurrent workers asking at the same moment may rarely
take the same child (the trial order is read from the storage without a lock).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseGASampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.study._constrained_optimization import _get_constraints_from_system_attrs
from optuna.trial import FrozenTrial, TrialState

from search.operators.evolution import breed, mutate, select_parents
from search.points import REPAIRED_KEY
from space import DesignSpace, repair


class EvolutionarySampler(BaseGASampler):
    """Elite + random selection, uniform layer crossover and PIMSYN's mutations, per generation.

    Args:
        space: the design space the study's parameters come from (``space.to_optuna()``).
        population_size: trials per generation (PIMSYN: 40).
        elite_fraction: share of the parents taken best first (PIMSYN: 0.7); the rest are
            random others from the pool.
        crossover_prob: probability that a child is the crossover of two parents before
            mutation.
        p_other: probability that a mutation also changes one non-partition column
            (duplication, globals, allocation), for the flat search of the whole space.
        seed: seed of every generation's randomness (with the generation number).
    """

    def __init__(self, space: DesignSpace, *, population_size: int = 40, elite_fraction: float = 0.7,
                 crossover_prob: float = 0.5, p_other: float = 0.5, seed: int | None = None) -> None:
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}")
        if not 0.0 <= elite_fraction <= 1.0:
            raise ValueError(f"elite_fraction must be in [0, 1], got {elite_fraction}")
        if not 0.0 <= crossover_prob <= 1.0:
            raise ValueError(f"crossover_prob must be in [0, 1], got {crossover_prob}")
        super().__init__(population_size=population_size)
        self._space = space
        self._elite_fraction = float(elite_fraction)
        self._crossover_prob = float(crossover_prob)
        self._p_other = float(p_other)
        self._seed = seed
        self._random_sampler = RandomSampler(seed=seed)

    # --- storage keys -----------------------------------------------------------------
    @classmethod
    def _key(cls, what: str) -> str:
        return f"{cls.__name__}:{what}"

    def reseed_rng(self) -> None:
        self._random_sampler.reseed_rng()

    # --- pickling (Ray Tune ships the sampler to its workers) ---------------------------
    def __getstate__(self) -> dict:
        """The sampler's state without Optuna 5's generation lock, which cannot be pickled."""
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()

    # --- Optuna interface ---------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """``space.to_optuna()``, restricted to the parameters the newest complete trial used
        (all of them before any trial completes)."""
        _check_study(study)
        dists = self._space.to_optuna()
        done = study._get_trials(deepcopy=False, states=[TrialState.COMPLETE], use_cache=True)
        if done:
            used = done[-1].distributions
            dists = {k: d for k, d in dists.items() if k in used and type(used[k]) is type(d)}
        return dists

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        row = self._child_of(study, trial)
        params = self._space.decode(row[None])[0]
        return {k: v for k, v in params.items() if k in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._random_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._random_sampler.after_trial(study, trial, state, values)

    # --- generations ----------------------------------------------------------------------
    def select_parent(self, study: Study, generation: int) -> list[FrozenTrial]:
        """Elite + random parents of ``generation`` from the complete trials of the previous
        generation and its parents, ordered by trial number."""
        pool = {t._trial_id: t for t in self.get_population(study, generation - 1)}
        pool.update({t._trial_id: t for t in self.get_parent_population(study, generation - 1)
                     if t.state == TrialState.COMPLETE})
        trials = sorted(pool.values(), key=lambda t: t.number)
        if not trials:
            return []
        fitness, violation = _fitness(trials)
        rng = self._rng(study, generation, 1)
        idx = select_parents(fitness, self._population_size, self._elite_fraction, rng, violation)
        return sorted((trials[i] for i in idx), key=lambda t: t.number)

    def _child_of(self, study: Study, trial: FrozenTrial) -> np.ndarray:
        """(D,) the row this trial evaluates; recorded in the trial's system attrs."""
        stored = trial.system_attrs.get(self._key("child"))
        if stored is not None:
            return np.asarray(stored, dtype=np.int64)
        generation = self.get_trial_generation(study, trial)
        gen_key = self._get_generation_key()
        # count this generation's earlier trials, newest first; stop once a whole population
        # of older generations has gone by (generations only grow with trial numbers, give
        # or take workers racing), so each ask costs O(population), not O(trials)
        k, older = 0, 0
        for t in reversed(study._storage.get_all_trials(study._study_id, deepcopy=False)):
            if t.number >= trial.number:
                continue
            g = t.system_attrs.get(gen_key)
            if g == generation:
                k += 1
            elif g is not None and g < generation:
                older += 1
                if older > self._population_size:
                    break
        children = self._children(study, generation)
        if k < len(children):
            row = children[k]
        else:
            rng = self._rng(study, generation, 2, k)
            row = mutate(self._space, children[k % len(children)][None], rng, p_other=self._p_other)[0]
        study._storage.set_trial_system_attr(trial._trial_id, self._key("child"), [int(v) for v in row])
        return row

    def _children(self, study: Study, generation: int) -> np.ndarray:
        """(population_size, D) children of ``generation``, bred once and cached in the study."""
        key = self._key(f"children:{generation}")
        cached = study._storage.get_study_system_attrs(study._study_id).get(key)
        if cached is not None:
            return np.asarray(cached, dtype=np.int64)
        space, n = self._space, self._population_size
        rng = self._rng(study, generation, 0)
        parents = self.get_parent_population(study, generation) if generation > 0 else []
        if not parents:
            X = repair(space, space.random(n, rng))
        else:
            P = np.stack([self._point(t) for t in sorted(parents, key=lambda t: t.number)])
            X = breed(space, P, rng, n, crossover_prob=self._crossover_prob, p_other=self._p_other)
        study._storage.set_study_system_attr(study._study_id, key, X.tolist())
        # another worker may have written first: use whatever the storage holds now
        return np.asarray(study._storage.get_study_system_attrs(study._study_id)[key], dtype=np.int64)

    def _point(self, trial: FrozenTrial) -> np.ndarray:
        """(D,) repaired row of a finished trial: the stored point, else its parameters over
        the row it was given (or the lows), repaired."""
        space = self._space
        stored = trial.system_attrs.get(REPAIRED_KEY)
        if stored is not None and len(stored) == space.dims:
            return np.asarray(stored, dtype=np.int64)
        base = trial.system_attrs.get(self._key("child"))
        row = np.asarray(base, dtype=np.int64) if base is not None and len(base) == space.dims else space.low.copy()
        for name, value in trial.params.items():
            k = space.index.get(name)
            if k is not None:
                try:
                    row[k] = space.columns[k].index(value)
                except Exception:           # a parameter outside the column's domain: keep the row's
                    pass
        return repair(space, row[None])[0]

    def _rng(self, study: Study, generation: int, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self._study_seed(study), int(generation), *stream])

    def _study_seed(self, study: Study) -> int:
        if self._seed is not None:
            return int(self._seed)
        key = self._key("seed")
        attrs = study._storage.get_study_system_attrs(study._study_id)
        if key not in attrs:
            study._storage.set_study_system_attr(study._study_id, key, int(np.random.SeedSequence().entropy % (2**63)))
            attrs = study._storage.get_study_system_attrs(study._study_id)
        return int(attrs[key])


def _check_study(study: Study) -> None:
    if len(study.directions) != 1 or study.direction != StudyDirection.MAXIMIZE:
        dirs = [d.name.lower() for d in study.directions]
        raise ValueError(f"EvolutionarySampler needs a single-objective study that maximises "
                         f"(e.g. TOPS/W); this study's directions are {dirs}")


def _fitness(trials: list[FrozenTrial]) -> tuple[np.ndarray, np.ndarray]:
    """(n,) values (NaN where missing) and (n,) total constraint violation of ``trials``."""
    f = np.array([t.value if t.values is not None and len(t.values) == 1 else np.nan for t in trials], dtype=float)
    v = np.array([sum(max(float(c), 0.0) for c in _get_constraints_from_system_attrs(t.system_attrs).values())
                  for t in trials], dtype=float)
    return f, v


__all__ = ["EvolutionarySampler"]
