"""Cells of a sweep and running one cell: the part of ``pimtune sweep`` that Ray does not know.

A *cell* is one synthesis of a sweep file (:mod:`search.sweeps.sweep_spec`): one network, power
and / or area budget, technology, space options, sparsity spec, epitome setting (none, a
plan, or ``search``) and seed. It writes its outer-level study into the
sweep's Optuna storage under :attr:`Cell.study_name`, a name derived from the cell alone,
so that every rerun finds it again. The storage is the only record of progress:

- *done*: :func:`run_cell` returned, i.e. :func:`search.synth.synthesis.synthesize` found no
  unfinished outer point, and then set the study's user attribute :data:`DONE_KEY`;
- *partial*: the study exists without that mark (a run was cut off); running the cell
  again fails the trials left RUNNING and searches their points again;
- *new*: no study of that name yet.

A lost database connection during a cell is retried (:data:`RETRY_DELAYS_S`); the
synthesis then resumes from what the storage holds, so finished trials are never lost.
"""

from __future__ import annotations

import itertools
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import optuna
from sqlalchemy import exc as sa_exc

from costmodel import load_technology
from costmodel.budgets import budget_label
from costmodel.sparsity.densities import Densities
from costmodel.sparsity.source import DENSE
from costmodel.technology import Technology, require_network_family
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from search.cli.common import densities_of, load_model_arg
from search.synth.effort import effort_named
from search.synth.inner_search import point_rows, unfit_reasons
from search.storage.studies import one_line, open_storage
from search.sweeps.sweep_spec import (NO_EPITOMES, SEARCH_EPITOMES, EpitomeSearchSpec, SweepError,
                                      SweepSpec)
from search.synth.synthesis import SynthesisPlan, best_trial, outer_distributions, synthesis_space, synthesize
from space import SpaceOptions
from space.epitome_choices import EpitomeSearch, load_accuracy_table

#: Study user attribute marking a finished cell (a dict, see :func:`run_cell`).
DONE_KEY = "pimtune_sweep"
#: Seconds to wait before each retry of a cell whose database connection was lost.
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass(frozen=True)
class Cell:
    """One synthesis of a sweep. ``network`` and ``tech`` are zoo / bundled names or
    absolute file paths; ``power_w`` in W and ``area_mm2`` in mm^2 (None: no budget of
    that kind); ``sparsity`` the ``--sparsity`` spec (``dense``, ``measured`` or a
    profile's absolute path). Ray Tune trials rebuild it from :meth:`as_dict`, budgets
    and spec included."""

    sweep: str
    network: str
    power_w: float | None
    tech: str
    macros: str
    sharing: bool
    seed: int
    objective: str
    outer: str
    outer_trials: int
    effort: str
    segments: str = "auto"
    batch: int | None = None
    area_mm2: float | None = None
    sparsity: str = DENSE
    epitomes: str = NO_EPITOMES
    epitome_search: str | None = None

    @property
    def study_name(self) -> str:
        """``SWEEP/NETWORK-BUDGETS-TECH-MACROS[-noshare][-segMODE][-bBATCH][-sp-SPEC][-ep-EPI]-OBJECTIVE-OUTER-EFFORT-sSEED``,
        BUDGETS as ``POWERW``, ``AREAmm2`` or ``POWERW-AREAmm2`` (:func:`costmodel.budgets.budget_label`),
        SPEC ``measured`` or the profile's stem (a dense cell has no such part), EPI ``search``
        or the epitome plan's stem (a cell without epitomes has none)."""
        outer = self.outer if self.outer == "grid" else f"{self.outer}{self.outer_trials}"
        share = "" if self.sharing else "-noshare"
        share += "" if self.segments == "auto" else f"-seg{self.segments}"
        share += "" if self.batch is None else f"-b{self.batch}"
        share += "" if self.sparsity == DENSE else f"-sp-{short(self.sparsity)}"
        share += "" if self.epitomes == NO_EPITOMES else f"-ep-{short(self.epitomes)}"
        return (f"{self.sweep}/{short(self.network)}-{budget_label(self.power_w, self.area_mm2)}-{short(self.tech)}-"
                f"{self.macros}{share}-"
                f"{self.objective}-{outer}-{self.effort}-s{self.seed}")

    def space_options(self) -> SpaceOptions:
        """The cell's design-space options."""
        return SpaceOptions(macro_mode=self.macros, sharing=self.sharing, segments=self.segments, batch=self.batch)

    def plan(self) -> SynthesisPlan:
        """The synthesis plan of this cell (one worker process: a cell gets one CPU)."""
        return SynthesisPlan(objective=self.objective, outer=self.outer, effort=effort_named(self.effort),
                             trials=self.outer_trials, seed=self.seed, jobs=1)

    def as_dict(self) -> dict:
        return asdict(self)


def short(entry: str) -> str:
    """A network or technology entry as it reads in names: a name, or a file's stem."""
    return entry.rsplit("/", 1)[-1].rsplit(".", 1)[0] if "/" in entry else entry


def cells_of(spec: SweepSpec) -> list[Cell]:
    """Every cell of the sweep, networks outermost, seeds innermost."""
    powers = [float(p) for p in spec.power_budgets_w] or [None]
    areas = [float(a) for a in spec.area_budgets_mm2] or [None]
    search = None if spec.epitome_search is None else spec.epitome_search.model_dump_json()
    cells = [Cell(spec.name, n, p, t, o.macros, o.sharing, s, spec.objective, spec.outer,
                  spec.outer_trials, spec.effort, o.segments, o.batch, a, z, e,
                  search if e == SEARCH_EPITOMES else None)
             for n in spec.networks for p in powers for a in areas for t in spec.techs for o in spec.options
             for z in spec.sparsity for e in spec.epitomes for s in spec.seeds]
    names = [c.study_name for c in cells]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SweepError(f"two cells would share the study {dup!r}: give the network, technology or profile files "
                         f"distinct names")
    return cells


@dataclass(frozen=True)
class Inputs:
    """The networks, technologies and densities of a sweep, loaded once by the driver and
    shipped to the workers (so worker nodes need none of the files, and a bad profile or
    a model without weights to measure is refused before any cell runs). ``densities`` is
    keyed by ``(network, tech, sparsity)`` of the cells (None: dense)."""

    networks: dict[str, Network]
    techs: dict[str, Technology]
    densities: dict[tuple[str, str, str], Densities | None]
    planned: dict[tuple[str, str], Network] = field(default_factory=dict)
    searches: dict[str, EpitomeSearch] = field(default_factory=dict)

    def densities_of(self, cell: Cell) -> Densities | None:
        """The densities of ``cell``'s sparsity spec for its network and technology."""
        return self.densities[(cell.network, cell.tech, cell.sparsity)]

    def network_of(self, cell: Cell) -> Network:
        """``cell``'s network, with its epitome plan's epitomes when it names one."""
        return self.planned.get((cell.network, cell.epitomes), self.networks[cell.network])

    def epitomes_of(self, cell: Cell) -> EpitomeSearch | None:
        """What ``cell`` searches of the epitomes (``epitomes: search``), else None."""
        return self.searches.get(cell.epitome_search) if cell.epitomes == SEARCH_EPITOMES else None


def load_inputs(cells: list[Cell]) -> Inputs:
    """Load every network, technology and densities the cells name (PimtuneError on a bad
    one); densities are computed once per (network, technology, spec): deterministic,
    ``measured`` too (:mod:`costmodel.sparsity.source`)."""
    networks = {n: load_model_arg(n) for n in dict.fromkeys(c.network for c in cells)}
    techs = {t: load_technology(t) for t in dict.fromkeys(c.tech for c in cells)}
    densities = {}
    for key in dict.fromkeys((c.network, c.tech, c.sparsity) for c in cells):
        network, tech, spec = key
        densities[key] = densities_of(spec, network, networks[network], require_network_family(techs[tech]))
    planned = {(c.network, c.epitomes): load_model_arg(c.network, c.epitomes) for c in cells
               if c.epitomes not in (NO_EPITOMES, SEARCH_EPITOMES)}
    searches = {}
    for text in dict.fromkeys(c.epitome_search for c in cells if c.epitome_search is not None):
        s = EpitomeSearchSpec.model_validate_json(text)
        table = None if s.accuracy_table is None else load_accuracy_table(s.accuracy_table)
        searches[text] = EpitomeSearch(min_ratio=s.min_ratio, table=table, table_source=s.accuracy_table,
                                       weight_bits=tuple(sorted(set(s.weight_bits))))
    return Inputs(networks, techs, densities, planned, searches)


# --- the expected cost of a cell, to run the longest first -------------------------------------
#: Per outer point, a cell's search costs about as much as this many extra weighted layers.
POINT_LAYERS = 18
#: A cell's fixed cost (study, space, storage), in the same units as one point's.
CELL_FIXED = 120


def expected_cost(cell: Cell, inputs: Inputs) -> float:
    """A cell's cost relative to the other cells of its sweep (which share its effort):
    the outer points it will search x (weighted layers + :data:`POINT_LAYERS`) +
    :data:`CELL_FIXED`. A grid searches the points where one copy of the weights fits
    (the check :func:`search.synth.inner_search.unfit_reasons` starts with); TPE and random
    search ``outer_trials`` points, of which the grid's share fits. Fitted to the quick
    effort's cell times on this machine (within ~15 %, a process's first cell aside), it
    is good enough to order cells, at about 1 ms a cell. A cell whose space cannot be
    built costs :data:`CELL_FIXED` (its trial will report why)."""
    try:
        space = synthesis_space(inputs.network_of(cell), inputs.techs[cell.tech], cell.power_w,
                                cell.space_options(), cell.plan(), area_mm2=cell.area_mm2,
                                densities=inputs.densities_of(cell), epitomes=inputs.epitomes_of(cell))
        dists = outer_distributions(space, replace(cell, outer="grid").plan())     # the grid's points
    except PimtuneError:
        return float(CELL_FIXED)
    names = list(dists)
    grid = [dict(zip(names, values)) for values in itertools.product(*(dists[k].choices for k in names))]
    rows, owner, _ = point_rows(space, grid)
    if space.segmented:                                  # every point runs, in segments
        fits = np.array([r is None for r in unfit_reasons(space, rows)], dtype=bool)
    else:
        need = space.crossbar_sets(rows).sum(1)
        fits = (need <= space.crossbar_budget(rows)) & (need <= space.crossbar_limit(rows))
    fitting = len(set(owner[fits].tolist()))
    points = fitting if cell.outer == "grid" else cell.outer_trials * fitting / len(grid)
    return points * (space.workload.n_weighted + POINT_LAYERS) + CELL_FIXED


def longest_first(cells: list[Cell], inputs: Inputs) -> list[Cell]:
    """``cells`` by :func:`expected_cost`, highest first (ties in the given order): run in
    this order, two or more workers finish their last cells at about the same time."""
    costs = {c.study_name: expected_cost(c, inputs) for c in cells}
    return sorted(cells, key=lambda c: -costs[c.study_name])


# --- the state of the cells, from the storage ---------------------------------------------------
def cell_states(storage, cells: list[Cell]) -> dict[str, str]:
    """``done`` / ``partial`` / ``new`` by study name (see the module docstring)."""
    try:
        studies = {s.study_name: s for s in storage.get_all_studies()}
    except Exception as exc:
        raise PimtuneError(f"cannot read the studies of the storage ({one_line(exc)})") from None
    states = {}
    for c in cells:
        s = studies.get(c.study_name)
        states[c.study_name] = "new" if s is None else ("done" if s.user_attrs.get(DONE_KEY) else "partial")
    return states


# --- one cell ------------------------------------------------------------------------------------
def run_cell(cell: Cell, inputs: Inputs, storage_url: str, node: str | None = None,
             sleep: Callable[[float], None] = time.sleep) -> dict:
    """Run the cell's synthesis to the end in ``storage_url`` and mark it done.

    Returns ``{"study", "best" (objective value or None), "seconds" (this call, s),
    "searched" (outer points searched now), "retried" (cut-off points retried),
    "attempts" (connections used), "node"}``. A lost database connection is retried after
    each of :data:`RETRY_DELAYS_S`; any other error is raised (PimtuneError: one line).
    """
    start = time.perf_counter()
    plan = cell.plan()
    space = synthesis_space(inputs.network_of(cell), inputs.techs[cell.tech], cell.power_w,
                            cell.space_options(), plan, area_mm2=cell.area_mm2, densities=inputs.densities_of(cell),
                            epitomes=inputs.epitomes_of(cell))
    searched = retried = attempt = 0
    while True:
        attempt += 1
        try:
            storage = open_storage(storage_url)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
                study, stats = synthesize(space, plan, storage, cell.study_name)
            searched += stats.searched
            retried += stats.retried
            best = best_trial(study, cell.objective)
            result = {"study": cell.study_name, "best": None if best is None else float(best.value),
                      "seconds": time.perf_counter() - start, "searched": searched, "retried": retried,
                      "attempts": attempt, "node": node or socket.gethostname()}
            study.set_user_attr(DONE_KEY, result)
            return result
        except Exception as exc:
            if attempt > len(RETRY_DELAYS_S) or not connection_lost(exc):
                raise
            sleep(RETRY_DELAYS_S[attempt - 1])


def connection_lost(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from) is a lost or refused database
    connection, which a retry may cure."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def run_in_process(cells: list[Cell], inputs: Inputs, storage_url: str,
                   report: Callable[[Cell, dict], None] | None = None) -> list[dict]:
    """Run ``cells`` one after the other in this process (the reference the Ray runner is
    measured against); returns :func:`run_cell`'s results in order."""
    results = []
    for cell in cells:
        results.append(run_cell(cell, inputs, storage_url))
        if report:
            report(cell, results[-1])
    return results
