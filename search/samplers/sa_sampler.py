"""Simulated annealing as an Optuna sampler, with its chains kept in the study's storage.

Trial ``n`` belongs to chain ``n % chains``. Each chain's state (its current repaired
row, that row's value and the number of finished steps) is a study system attribute
(:data:`STATE_KEY` + chain id), so the annealing survives any storage backend, runs
from several workers on one storage, and continues when a study is resumed with a new
sampler object. Proposals and acceptance draw from RNGs seeded by ``(seed,
trial.number)``, so a seed fixes the trials of a given sequence of results.

Concurrency: workers read and write a chain's state without a lock; when two trials of
one chain are in flight at once, both are proposed from the same state and the later
``tell`` decides against the state the earlier one left (last writer wins). The chains
stay valid, only the annealing order is looser.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.operators.annealing import accept, pimsyn_energy, propose, temperature
from search.points import trial_point
from space import DesignSpace, SpaceError, repair

#: Study system attribute prefix of a chain's state: ``{"x": [D ints], "f": float | None
#: (None: infeasible or no value yet), "steps": finished steps, "trial": last trial number}``.
STATE_KEY = "pimtune:sa:chain:"
#: Trial system attribute: the chain a trial was proposed for.
CHAIN_KEY = "pimtune:sa:chain"


class SimulatedAnnealingSampler(optuna.samplers.BaseSampler):
    """PIMSYN-style simulated annealing over a :class:`space.DesignSpace`.

    Args:
        space: the design space; the study's parameters of the same names are sampled
            jointly (``sample_relative``), any other parameter at random.
        chains: parallel chains (trial ``n`` belongs to chain ``n % chains``).
        t0, decay, steps_per_temperature: the cooling schedule of each chain,
            ``t0 * decay ** (steps // steps_per_temperature)`` with ``steps`` the chain's
            finished trials; temperatures are relative (a candidate 5 % worse than the
            current is accepted with probability ``exp(-0.05 / T)``).
        energy: ``"objective"``: the trial's value (the study must maximise it, one
            objective); ``"pimsyn"``: PIMSYN's Eq. 4 on the trial's duplication (lower is
            better; the trial's value then only marks feasibility).
        move_globals: probability of moving a non-duplication column instead of the
            duplication (see :func:`search.operators.annealing.propose`). 0.5 because this sampler
            searches the whole space, macros and sharing included: on alexnet-cifar at
            20 W, 10 chains x 200 steps reached a best 0.72 / 0.80 / 0.84 TOPS/W (mean of
            8 seeds) with 0.1 / 0.3 / 0.5, against 0.70 for 2000 random points.
        seed: seed of every random draw; None draws one.

    Trials that are infeasible (value NaN or ``-inf``, or any Optuna constraint > 0) are
    never accepted into a chain whose current design is feasible. FAIL and PRUNED trials
    advance nothing.
    """

    def __init__(self, space: DesignSpace, *, chains: int = 10, t0: float = 0.05, decay: float = 0.95,
                 steps_per_temperature: int = 100, energy: Literal["objective", "pimsyn"] = "objective",
                 move_globals: float = 0.5, seed: int | None = None) -> None:
        if chains < 1:
            raise ValueError(f"chains must be >= 1, got {chains}")
        if energy not in ("objective", "pimsyn"):
            raise ValueError(f"energy must be 'objective' or 'pimsyn', got {energy!r}")
        self._space = space
        self._chains = int(chains)
        self._t0, self._decay, self._spt = float(t0), float(decay), int(steps_per_temperature)
        self._energy = energy
        self._move_globals = float(move_globals)
        self._seed = _draw_seed() if seed is None else int(seed) & 0xFFFFFFFFFFFFFFFF
        self._random = optuna.samplers.RandomSampler(seed=self._seed & 0xFFFFFFFF)
        self._dists = space.to_optuna()

    # --- Optuna's sampler interface ---------------------------------------------------
    def reseed_rng(self) -> None:
        """New seeds for this sampler and its fallback RandomSampler (Optuna calls this on
        each copy when ``n_jobs > 1``, so the copies do not repeat one another)."""
        self._seed = _draw_seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The space's distributions (:meth:`space.DesignSpace.to_optuna`)."""
        return dict(self._dists)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """A neighbour of the trial's chain's current design, as parameters of ``search_space``.

        A chain without a current design, or whose current design is infeasible, starts
        from a random repaired point instead (an infeasible design gives no direction)."""
        if not search_space:
            return {}
        self._check_study(study)
        chain = trial.number % self._chains
        rng = np.random.default_rng([self._seed, trial.number])
        state = self.chain_state(study, chain)
        if state is None or state["f"] is None:       # no design yet, or an infeasible one
            x = repair(self._space, self._space.random(1, rng))
        else:
            x = np.asarray(state["x"], dtype=np.int64)[None, :]
        y = propose(self._space, x, rng, move_globals=self._move_globals)
        study._storage.set_trial_system_attr(trial._trial_id, CHAIN_KEY, chain)
        params = self._space.decode(y)[0]
        return {k: v for k, v in params.items() if k in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """Parameters outside the space: at random."""
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Metropolis step of the trial's chain for a COMPLETE trial."""
        if state != TrialState.COMPLETE or values is None:
            return
        self._check_study(study)
        chain = int(trial.system_attrs.get(CHAIN_KEY, trial.number % self._chains))
        try:
            x = trial_point(self._space, trial)
        except SpaceError as e:
            warnings.warn(f"trial {trial.number} does not encode a design of the space ({e}); "
                          "its chain does not advance", stacklevel=2)
            return
        f_new = self._value(x, trial, values)
        cur = self.chain_state(study, chain)
        steps = 0 if cur is None else int(cur["steps"])
        f_cur = -math.inf if cur is None or cur["f"] is None else float(cur["f"])
        rng = np.random.default_rng([self._seed, trial.number, 1])
        T = temperature(steps, self._t0, self._decay, self._spt)
        if bool(accept(np.array([f_cur]), np.array([f_new]), T, rng)[0]):
            new = {"x": [int(v) for v in x], "f": f_new if math.isfinite(f_new) else None}
        else:
            new = {"x": cur["x"], "f": cur["f"]}
        new.update(steps=steps + 1, trial=trial.number)
        study._storage.set_study_system_attr(study._study_id, f"{STATE_KEY}{chain}", new)

    # --- chains ------------------------------------------------------------------------
    def chain_state(self, study: Study, chain: int) -> dict | None:
        """The stored state of ``chain`` (see :data:`STATE_KEY`), or None before its first
        finished trial."""
        return study._storage.get_study_system_attrs(study._study_id).get(f"{STATE_KEY}{chain}")

    # --- helpers -----------------------------------------------------------------------
    def _check_study(self, study: Study) -> None:
        directions = study.directions
        if len(directions) != 1:
            raise ValueError(f"SimulatedAnnealingSampler needs a single-objective study; this one has "
                             f"{len(directions)} objectives")
        if self._energy == "objective" and directions[0] != StudyDirection.MAXIMIZE:
            raise ValueError("SimulatedAnnealingSampler(energy='objective') needs a study that maximises "
                             "its objective (e.g. TOPS/W); create it with direction='maximize'")

    def _value(self, x: np.ndarray, trial: FrozenTrial, values: Sequence[float]) -> float:
        """The chain's objective of a finished trial (higher is better; -inf infeasible)."""
        v = float(values[0])
        constraints = _constraints(trial)
        if math.isnan(v) or v == -math.inf or any(c > 0 for c in constraints):
            return -math.inf
        if self._energy == "pimsyn":
            return -float(pimsyn_energy(self._space, x[None, :])[0])
        return v


def _constraints(trial: FrozenTrial) -> list[float]:
    """A trial's Optuna constraint values (both the list and the per-key formats)."""
    try:
        return [float(c) for c in trial.constraints.values()]
    except AttributeError:       # FrozenTrial without .constraints (older Optuna)
        from optuna.study._constrained_optimization import _CONSTRAINTS_KEY
        return [float(c) for c in (trial.system_attrs.get(_CONSTRAINTS_KEY) or ())]


def _draw_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
