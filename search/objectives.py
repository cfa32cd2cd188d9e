"""What a search optimises: the objectives by name, and scoring a population by one.

Every search command names its objectives from :data:`OBJECTIVES`: ``tops_per_watt``
(TOPS/W of a stream: static energy over the pipeline interval), ``tops_per_watt_single``
(TOPS/W of one inference alone: static energy over its latency) and ``throughput``
(inferences/s) are maximised, ``edp`` (energy-delay product
of one inference, J*s) and ``area`` (mm^2) minimised.
"""

from __future__ import annotations

import numpy as np

from costmodel.evaluator import Results
from onnx_frontend.errors import PimtuneError

#: objective name -> (Results attribute, Optuna direction).
OBJECTIVES: dict[str, tuple[str, str]] = {
    "tops_per_watt": ("tops_per_watt", "maximize"),
    "tops_per_watt_single": ("tops_per_watt_single", "maximize"),
    "throughput": ("throughput_ips", "maximize"),
    "edp": ("edp_js", "minimize"),
    "area": ("area_mm2", "minimize"),
}
#: The objectives a synthesis (and a sweep) may choose: one value per design, no area.
SYNTH_OBJECTIVES = ("tops_per_watt", "tops_per_watt_single", "throughput", "edp")
#: Value told to Optuna for an infeasible design under a minimised objective: worse than
#: any real chip's area (mm^2) or EDP (J*s), and finite, since Optuna refuses infinities.
INFEASIBLE_MINIMISED = 1e9


def check_objective(name: str, allowed=tuple(OBJECTIVES)) -> str:
    """``name`` if it is one of ``allowed``, else PimtuneError (one line)."""
    if name not in allowed:
        raise PimtuneError(f"unknown objective {name!r}; choose from {', '.join(allowed)}")
    return name


def maximised(name: str) -> bool:
    return OBJECTIVES[name][1] == "maximize"


def needs_latency(name: str) -> bool:
    """Whether objective ``name`` depends on the latency (the evaluator's ``latency``)."""
    return name in ("edp", "tops_per_watt_single")


def raw_values(results: Results, name: str) -> np.ndarray:
    """(N,) float64 values of objective ``name`` as the evaluator reports them."""
    return np.asarray(getattr(results, OBJECTIVES[name][0]), dtype=float)


def fitness(results: Results, name: str) -> np.ndarray:
    """(N,) higher-is-better fitness: the value of a maximised objective, minus that of a
    minimised one, ``-inf`` for an infeasible design or a non-finite value."""
    v = raw_values(results, name)
    f = v if maximised(name) else -v
    return np.where(results.feasible & np.isfinite(f), f, -np.inf)


def told_values(results: Results, name: str) -> np.ndarray:
    """(N,) values to tell Optuna: the evaluator's value where feasible; 0 for an
    infeasible design under a maximised objective, :data:`INFEASIBLE_MINIMISED` under a
    minimised one."""
    v = np.nan_to_num(raw_values(results, name), nan=0.0, posinf=0.0, neginf=0.0)
    ok = results.feasible & np.isfinite(raw_values(results, name))
    return np.where(ok, v, 0.0 if maximised(name) else INFEASIBLE_MINIMISED)
