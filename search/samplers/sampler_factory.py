"""``make_sampler(name, space, seed, n_objectives) -> (sampler, batch_size)``: the samplers
the flat search (``pimtune search``) and the strategy comparison (``pimtune compare``) use.

``batch_size`` is how many trials the driver asks before it scores them in one
``space.evaluate`` call and tells them: one generation or one round of chains, so that
every trial of a batch is proposed from the same information.

- ``sa``: :class:`search.samplers.sa_sampler.SimulatedAnnealingSampler`, 10 chains, batch 10;
  one maximised objective.
- ``ea``: :class:`search.samplers.ea_sampler.EvolutionarySampler`, population 40, batch 40; one
  maximised objective.
- ``tpe``: Optuna's multivariate ``TPESampler`` with the constant liar (trials of a batch
  still running are "lied" about, so a batch does not repeat one point), 32 random
  startup trials, batch 16; any number of objectives.
- ``cmaes``: Optuna's ``CmaEsSampler`` (needs ``pip install cmaes``), population
  ``4 + floor(3 ln n)`` for the n numeric parameters, batch = population; one objective.
  The categorical globals (cell bits, crossbar size, DAC bits) are sampled at random by
  its independent sampler.
- ``random``: Optuna's ``RandomSampler``, batch 256; any number of objectives.
- ``nsga2``: Optuna's ``NSGAIISampler``, population 50, batch 50; any number of objectives.
- ``gp``: Optuna's ``GPSampler`` (needs PyTorch: ``pip install 'pimtune[gp]'``), batch 8.

Constraints: the driver stores each trial's two constraint values with
``trial.set_constraint`` (Optuna 5), and Optuna 5's constrained samplers (TPE, NSGA-II,
GP) read ``trial.constraints`` of every finished trial by themselves. No
``constraints_func`` is passed: it is deprecated in Optuna 5, and passing one would store
the same values a second time under the old list key (``trial.constraints`` would then
hold four values) and warn on every sampler construction.

Cost of TPE: multivariate TPE refits its Parzen estimators on the whole history for
every trial, so its time per trial grows linearly with the number of finished trials
(measured: :data:`TPE_NOTE`).
"""

from __future__ import annotations

import importlib.util
import math

import optuna

from onnx_frontend.errors import PimtuneError
from space import DesignSpace

SAMPLERS = ("sa", "ea", "tpe", "cmaes", "random", "nsga2", "gp")
#: Samplers that search one objective only (SA and EA also only maximise).
SINGLE_OBJECTIVE = ("sa", "ea", "cmaes")

SA_CHAINS = 10
EA_POPULATION = 40
NSGA2_POPULATION = 50
RANDOM_BATCH = 256
TPE_BATCH = 16
TPE_STARTUP = 32
GP_BATCH = 8

#: Measured cost of TPE as configured here on VGG16 at 49 W (48 parameters, one process):
#: 19 trials/s over trials 0-250, 14 over 250-500, 9 over 500-1000, 5.6 over 1000-2000,
#: i.e. about 0.04 s + 0.09 ms per finished trial for each new trial; 20,000 trials would
#: take about 5 hours per run.
TPE_NOTE = ("TPE refits on the whole history for every trial: about 5.6 trials/s at 1,000-2,000 "
            "finished trials on VGG16, slower as the study grows")


def make_sampler(name: str, space: DesignSpace, seed: int | None, n_objectives: int = 1,
                 *, maximize: bool = True) -> tuple[optuna.samplers.BaseSampler, int]:
    """The sampler called ``name`` for ``space`` and the number of trials to ask per batch.

    Args:
        name: one of :data:`SAMPLERS`.
        space: the design space the study's parameters come from.
        seed: seed of the sampler's randomness (None: drawn).
        n_objectives: objectives of the study.
        maximize: whether the (single) objective is maximised; SA and EA only maximise.

    Raises:
        PimtuneError: unknown name, an objective count or direction the sampler does not
            support, or a missing optional package (cmaes, torch); one line each.
    """
    if name not in SAMPLERS:
        raise PimtuneError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    if n_objectives < 1:
        raise PimtuneError(f"need at least one objective, got {n_objectives}")
    if name in SINGLE_OBJECTIVE and n_objectives > 1:
        raise PimtuneError(f"sampler {name} searches one objective only, got {n_objectives}; "
                           f"use nsga2, tpe, random or gp for several objectives")
    if name in ("sa", "ea") and not maximize:
        raise PimtuneError(f"sampler {name} maximises its objective; use tops_per_watt or throughput, "
                           f"or another sampler to minimise area")

    if name == "sa":
        from search.samplers.sa_sampler import SimulatedAnnealingSampler
        return SimulatedAnnealingSampler(space, chains=SA_CHAINS, seed=seed), SA_CHAINS
    if name == "ea":
        from search.samplers.ea_sampler import EvolutionarySampler
        return EvolutionarySampler(space, population_size=EA_POPULATION, seed=seed), EA_POPULATION
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed), RANDOM_BATCH
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          n_startup_trials=TPE_STARTUP), TPE_BATCH
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=NSGA2_POPULATION, seed=seed), NSGA2_POPULATION
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise PimtuneError("sampler cmaes needs the cmaes package: pip install cmaes")
        popsize = cmaes_popsize(space)
        return optuna.samplers.CmaEsSampler(seed=seed, popsize=popsize, warn_independent_sampling=False), popsize
    # gp
    if importlib.util.find_spec("torch") is None:
        raise PimtuneError("sampler gp needs PyTorch: pip install 'pimtune[gp]'")
    return optuna.samplers.GPSampler(seed=seed), GP_BATCH


def cmaes_popsize(space: DesignSpace) -> int:
    """CMA-ES's default population ``4 + floor(3 ln n)`` for the ``n`` numeric parameters of
    ``space`` (Optuna's CmaEsSampler samples categorical ones independently)."""
    n = sum(not isinstance(d, optuna.distributions.CategoricalDistribution) for d in space.to_optuna().values())
    return 4 + int(math.floor(3 * math.log(max(n, 1))))


__all__ = ["SAMPLERS", "SINGLE_OBJECTIVE", "make_sampler", "cmaes_popsize"]
