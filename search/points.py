"""Where a trial's design lives in the study, for every sampler and driver.

Drivers that repair a sampled point store the repaired row of the space's integer
matrix in the trial's system attributes under :data:`REPAIRED_KEY` before telling the
result, so samplers learn from the design that was actually scored. Trials without it
(e.g. told by a user's own loop) are encoded from their parameters and repaired.
"""

from __future__ import annotations

import numpy as np
import optuna

from space import DesignSpace, repair

REPAIRED_KEY = "pimtune:x"


def store_point(study: optuna.Study, trial: optuna.trial.BaseTrial, row: np.ndarray) -> None:
    """Record the repaired row of ``trial`` (call before ``study.tell``)."""
    study._storage.set_trial_system_attr(trial._trial_id, REPAIRED_KEY, [int(v) for v in row])


def trial_point(space: DesignSpace, trial: optuna.trial.FrozenTrial) -> np.ndarray:
    """(D,) repaired row of a finished trial."""
    row = trial.system_attrs.get(REPAIRED_KEY)
    if row is not None and len(row) == space.dims:
        return np.asarray(row, dtype=np.int64)
    return repair(space, space.encode(trial.params))[0]


def trial_points(space: DesignSpace, trials: list[optuna.trial.FrozenTrial]) -> np.ndarray:
    """(N, D) rows of several finished trials."""
    if not trials:
        return np.zeros((0, space.dims), dtype=np.int64)
    return np.stack([trial_point(space, t) for t in trials])
