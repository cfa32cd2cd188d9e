"""PIMSYN's ablations reproduced in pimtune's model, driven by ``studies/ablations.yaml``.

For every network of the file, full syntheses (:func:`search.synth.synthesis.synthesize`) of
these variants, at the file's budgets (``power_w`` in W, ``area_mm2`` in mm^2, either or both):

- ``full``: the complete flow (SA-filtered duplication candidates plus the heuristic's,
  specialised macros, sharing);
- ``sa_only_dup``: the SA filter's candidates alone (PIMSYN's flow);
- ``heuristic_dup``: duplication proportional to H_out x W_out instead of the SA filter;
- ``no_dup``: one copy of every layer;
- ``identical_macros``: every macro alike;
- ``no_sharing``: no inter-layer macro sharing;

and, at ``isaac_power_w`` / ``isaac_area_mm2`` (budgets at which ISAAC's organisation holds
the network; by default the file's), the full flow against the ``isaac`` reference design.
With ``sparsity`` (``measured`` or a profile YAML, relative to the file; default
``dense``) every synthesis and the ISAAC design use the densities it names (the
syntheses search each layer's sparsity mode; their study names end in ``-sp-FINGERPRINT``).
With ``epitomes`` (an epitome plan YAML, relative to the file, or ``search`` with
``epitome_search: {min_ratio, accuracy_table, weight_bits}``; default ``none``) every
synthesis stores the plan's epitomes or searches them (``pimtune synth --epitomes``; study
names end in ``-ep-FINGERPRINT``); the ISAAC design stores the plan's too.
Every synthesis is a study in one storage (default: SQLite in the output directory), so an
interrupted run resumes. The result is one row per (network, comparison) of ratios
``a / b`` of power efficiency (TOPS/W) and throughput (inferences/s), beside the paper's
figures.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tabulate import tabulate

from costmodel.budgets import budget_label, budget_text
from costmodel.chip_limits import SquareMillimetres, Watts
from costmodel.evaluator import evaluate
from costmodel.reference_designs import reference_design
from costmodel.sparsity.source import DENSE, MEASURED
from costmodel.technology import load_technology, require_network_family
from onnx_frontend.errors import PimtuneError
from search import atomic_files
from search.cli.common import densities_of
from search.sweeps.sweep_spec import NO_EPITOMES, SEARCH_EPITOMES, EpitomeSearchSpec
from space.epitome_choices import EpitomeSearch, load_accuracy_table
from search.synth.effort import Effort, effort_named
from search.synth.synthesis import SynthesisPlan, best_trial, synthesis_space, synthesize
from search.yaml_files import load_yaml_model
from space import SpaceOptions

#: variant -> (space options, duplication source).
VARIANTS: dict[str, tuple[SpaceOptions, str]] = {
    "full": (SpaceOptions(), "sa"),
    "sa_only_dup": (SpaceOptions(), "sa_only"),
    "heuristic_dup": (SpaceOptions(), "heuristic"),
    "no_dup": (SpaceOptions(), "none"),
    "identical_macros": (SpaceOptions(macro_mode="identical"), "sa"),
    "no_sharing": (SpaceOptions(sharing=False), "sa"),
}
#: comparison -> (variant a, variant b, what the PIMSYN paper reports for a / b); ``isaac``
#: is the reference design and ``isaac_full`` the full flow at ``isaac_power_w``.
COMPARISONS: dict[str, tuple[str, str, str]] = {
    "SA dup vs heuristic": ("sa_only_dup", "heuristic_dup", "+19 % TOPS/W, +27 % throughput"),
    "SA + heuristic candidates vs heuristic": ("full", "heuristic_dup", "-"),
    "dup vs no dup": ("full", "no_dup", "tens of times"),
    "specialised vs identical": ("full", "identical_macros", "+13 % TOPS/W, +31 % throughput"),
    "sharing vs none": ("full", "no_sharing", "+8 % TOPS/W, +15 % throughput"),
    "synthesised vs isaac": ("isaac_full", "isaac", "1.4-5.8x TOPS/W, 2.3-6.45x throughput"),
}


class AblationFile(BaseModel):
    """``studies/ablations.yaml``: networks (zoo names or ONNX paths), the budgets of the
    ablations (``power_w`` in W, ``area_mm2`` in mm^2: either or both), the technology,
    the effort (a preset name or inline Effort fields), seed, worker processes, the
    per-network budgets of the ISAAC comparison (``isaac_power_w`` in W,
    ``isaac_area_mm2`` in mm^2; default ``power_w`` and ``area_mm2``), its effort
    (default: ``effort``), the ``--sparsity`` spec of every synthesis (default dense;
    a profile's path is made absolute on load) and its ``epitomes`` (``none``, a plan
    file, made absolute on load, or ``search`` with ``epitome_search``)."""

    model_config = ConfigDict(extra="forbid")

    networks: list[str] = Field(min_length=1)
    power_w: Watts | None = None
    area_mm2: SquareMillimetres | None = None
    tech: str = "reram"
    effort: str | Effort = "default"
    isaac_power_w: dict[str, Watts] = Field(default_factory=dict)
    isaac_area_mm2: dict[str, SquareMillimetres] = Field(default_factory=dict)
    isaac_effort: str | Effort | None = None
    seed: int = 0
    jobs: int = Field(default=1, ge=1)
    sparsity: str = DENSE
    epitomes: str = NO_EPITOMES
    epitome_search: EpitomeSearchSpec | None = None

    @model_validator(mode="after")
    def _budget(self):
        if self.power_w is None and self.area_mm2 is None:
            raise ValueError("no budget: give power_w (W), area_mm2 (mm^2) or both")
        if self.epitomes == SEARCH_EPITOMES and self.epitome_search is None:
            raise ValueError("epitomes: search needs epitome_search: {min_ratio: R} and/or {accuracy_table: FILE}")
        return self

    def epitome_setting(self) -> EpitomeSearch | None:
        """What ``epitomes: search`` searches (None otherwise)."""
        if self.epitomes != SEARCH_EPITOMES:
            return None
        s = self.epitome_search
        table = None if s.accuracy_table is None else load_accuracy_table(s.accuracy_table)
        return EpitomeSearch(min_ratio=s.min_ratio, table=table, table_source=s.accuracy_table,
                             weight_bits=tuple(sorted(set(s.weight_bits))))

    def isaac_budgets(self, name: str) -> tuple[float | None, float | None]:
        """``(power_w, area_mm2)`` of network ``name``'s ISAAC comparison."""
        return self.isaac_power_w.get(name, self.power_w), self.isaac_area_mm2.get(name, self.area_mm2)


def load_ablation_file(path: str | Path) -> AblationFile:
    """The validated file; PimtuneError naming the file, key and rule otherwise."""
    path = Path(path)
    spec = load_yaml_model(path, AblationFile, PimtuneError, "ablation file")
    for key in ("isaac_power_w", "isaac_area_mm2"):
        for name in getattr(spec, key):
            if name not in spec.networks:
                raise PimtuneError(f"{path}: {key}.{name}: not one of the networks {spec.networks}")
    if spec.sparsity not in (DENSE, MEASURED):
        profile = path.parent / spec.sparsity
        if not profile.is_file():
            raise PimtuneError(f"{path}: sparsity: {spec.sparsity!r} is neither dense, measured nor a profile file "
                               "(relative to the ablation file's folder); write one with pimtune profile")
        spec = spec.model_copy(update={"sparsity": str(profile.resolve())})
    if spec.epitomes not in (NO_EPITOMES, SEARCH_EPITOMES):
        plan = path.parent / spec.epitomes
        if not plan.is_file():
            raise PimtuneError(f"{path}: epitomes: {spec.epitomes!r} is neither none, search nor an epitome plan file "
                               "(relative to the ablation file's folder)")
        spec = spec.model_copy(update={"epitomes": str(plan.resolve())})
    if spec.epitome_search is not None and spec.epitome_search.accuracy_table is not None:
        table = path.parent / spec.epitome_search.accuracy_table
        if not table.is_file():
            raise PimtuneError(f"{path}: epitome_search.accuracy_table: {spec.epitome_search.accuracy_table!r} is not "
                               "a file (relative to the ablation file's folder)")
        search = spec.epitome_search.model_copy(update={"accuracy_table": str(table.resolve())})
        spec = spec.model_copy(update={"epitome_search": search})
    return spec


def _effort(value: str | Effort) -> Effort:
    return value if isinstance(value, Effort) else effort_named(value)


@dataclass
class Cell:
    """One synthesis of the ablations: best TOPS/W and inferences/s, or why none."""

    tops_per_watt: float | None
    throughput_ips: float | None
    reason: str | None = None


def run_ablations(spec: AblationFile, load_network, storage, progress=None) -> dict[str, dict[str, Cell]]:
    """``{network: {variant or "isaac_full" / "isaac": Cell}}``; ``load_network(name)``
    maps a name to a Network; ``progress(network, variant)`` is called before each one."""
    tech = load_technology(spec.tech)
    epitomes = spec.epitome_setting()
    out: dict[str, dict[str, Cell]] = {}
    for name in spec.networks:
        network = load_network(name)
        if spec.epitomes not in (NO_EPITOMES, SEARCH_EPITOMES):
            from onnx_frontend.epitome_plan import apply_plan, load_plan
            network = apply_plan(network, load_plan(spec.epitomes), label=spec.epitomes)
        densities = densities_of(spec.sparsity, name, network, require_network_family(tech))
        row = out.setdefault(name, {})
        for variant, (options, duplication) in VARIANTS.items():
            if progress:
                progress(name, variant)
            row[variant] = _synth(network, tech, (spec.power_w, spec.area_mm2), options, duplication,
                                  _effort(spec.effort), spec, storage,
                                  f"ablation-{network.name}-{budget_label(spec.power_w, spec.area_mm2)}-{variant}",
                                  densities, epitomes)
        power, area = spec.isaac_budgets(name)
        if progress:
            progress(name, f"isaac at {budget_text(power, area)}")
        effort = _effort(spec.isaac_effort or spec.effort)
        row["isaac_full"] = _synth(network, tech, (power, area), SpaceOptions(), "sa", effort, spec, storage,
                                   f"ablation-{network.name}-{budget_label(power, area)}-full-{effort.name}", densities,
                                   epitomes)
        try:
            batch = reference_design("isaac", network, tech, power, area_mm2=area, densities=densities)
            m = evaluate(network, tech, batch, power, area_mm2=area, densities=densities).metrics(0)
            row["isaac"] = Cell(m["tops_per_watt"], m["throughput_ips"])
        except PimtuneError as exc:
            row["isaac"] = Cell(None, None, str(exc))
    return out


def _synth(network, tech, budgets, options, duplication, effort, spec, storage, study_name, densities=None,
           epitomes=None) -> Cell:
    """One synthesis at ``budgets``, ``(power_w, area_mm2)``, with ``densities`` (None: dense;
    else the study's name ends in their ``-sp-FINGERPRINT``) and ``epitomes`` searched (None:
    the network's own; a network with epitomes, searched or a plan's, ends it in ``-ep-FINGERPRINT``)."""
    plan = SynthesisPlan(effort=effort, seed=spec.seed, jobs=spec.jobs, duplication=duplication)
    power, area = budgets
    space = synthesis_space(network, tech, power, options, plan, area_mm2=area, densities=densities,
                            epitomes=epitomes)
    study, _ = synthesize(space, plan, storage, study_name + space.sparsity_label() + space.epitome_label())
    best = best_trial(study, plan.objective)
    if best is None:
        return Cell(None, None, "no feasible design")
    m = best.user_attrs["metrics"]
    return Cell(m["tops_per_watt"], m["throughput_ips"])


def ratio_rows(results: dict[str, dict[str, Cell]]) -> list[dict]:
    """One row per (network, comparison): a / b of TOPS/W and throughput."""
    rows = []
    for name, cells in results.items():
        for label, (a, b, paper) in COMPARISONS.items():
            top, bottom = cells[a], cells[b]
            eff = thr = None
            if top.tops_per_watt and bottom.tops_per_watt:
                eff = top.tops_per_watt / bottom.tops_per_watt
                thr = top.throughput_ips / bottom.throughput_ips
            rows.append({"network": name, "comparison": label, "a_tops_per_watt": top.tops_per_watt,
                         "b_tops_per_watt": bottom.tops_per_watt, "tops_per_watt_ratio": eff,
                         "throughput_ratio": thr, "paper": paper, "note": bottom.reason or top.reason or ""})
    return rows


def markdown(rows: list[dict]) -> str:
    table = [[r["network"], r["comparison"], _fmt(r["a_tops_per_watt"]), _fmt(r["b_tops_per_watt"]),
              ratio_text(r["tops_per_watt_ratio"]), ratio_text(r["throughput_ratio"]), r["paper"], r["note"]] for r in rows]
    return tabulate(table, headers=["network", "comparison", "a TOPS/W", "b TOPS/W", "TOPS/W ratio",
                                    "throughput ratio", "paper", "note"], tablefmt="github")


def write_tables(out: Path, rows: list[dict]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path = out / "ablations.md", out / "ablations.csv"
    atomic_files.write_text(md, markdown(rows) + "\n")
    with atomic_files.open_text(csv_path, newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return md, csv_path


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def ratio_text(v) -> str:
    return "-" if v is None else f"{v:.2f}x"


