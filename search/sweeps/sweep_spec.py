"""Sweep files (``studies/*.yaml``): which syntheses a ``pimtune sweep`` runs.

A sweep is the product networks x power budgets x area budgets x technologies x space
options x sparsity specs x epitome settings x seeds; every element is one synthesis (a *cell*,
:mod:`search.sweeps.sweep`).
Either budget list may be left out (the cells then have no budget of that kind), not
both. Example::

    name: pimsyn-benchmarks          # prefix of every cell's study name
    networks: [alexnet, vgg16]       # zoo names or .onnx paths (relative to this file)
    power_budgets_w: [20, 49]        # W
    area_budgets_mm2: [100]          # mm^2 (optional: with both, each cell keeps within both)
    techs: [reram]                   # bundled names or YAML paths (relative to this file)
    options: [{macros: specialised, sharing: true}]   # also segments: auto|one|searched, batch: N
    sparsity: dense                  # or measured, a profile YAML (relative to this file), or a list of them
    epitomes: none                   # or an epitome plan YAML (relative to this file), search, or a list of them
    epitome_search: {min_ratio: 2}   # with search: min_ratio, accuracy_table (a file) and/or weight_bits
    objective: tops_per_watt         # tops_per_watt | throughput | edp
    outer: grid                      # grid | tpe | random
    outer_trials: 36                 # outer points of tpe / random
    effort: default                  # quick | default | thorough
    seeds: [0]
    storage: sqlite:///pimsyn-benchmarks.db   # relative to this file, like the paths above

:func:`load_sweep` validates a file and refuses a bad one in one line that names the
file, the key and the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costmodel.chip_limits import SquareMillimetres, Watts
from costmodel.sparsity.source import DENSE, MEASURED
from costmodel.technology import TECH_DIR
from onnx_frontend.errors import PimtuneError
from onnx_frontend.zoo import NETWORKS
from search.synth.effort import EFFORTS
from search.storage.storage_urls import resolve_storage
from search.synth.synthesis import DEFAULT_OUTER_TRIALS, OUTER_SAMPLERS
from search.yaml_files import load_yaml_model

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class SweepError(PimtuneError):
    """A sweep file that cannot be read or does not validate."""


class CellOptions(BaseModel):
    """Space options of a cell: macro mode, whether layers may share macros, whether the
    network runs in segments (``auto``: when it fits nowhere) and a fixed batch (None:
    searched; MODEL.md section 8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    macros: Literal["specialised", "identical"] = "specialised"
    sharing: bool = True
    segments: Literal["auto", "one", "searched"] = "auto"
    batch: int | None = Field(default=None, ge=1, le=4096)


#: ``epitomes`` entry of a cell without epitomes (the network's own, usually dense).
NO_EPITOMES = "none"
#: ``epitomes`` entry of a cell that searches them (``pimtune synth --epitomes search``).
SEARCH_EPITOMES = "search"


class EpitomeSearchSpec(BaseModel):
    """What a sweep's ``epitomes: search`` cells search (``pimtune synth --epitomes search``
    with ``--min-ratio``, ``--accuracy-table`` and ``--weight-bits``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_ratio: float | None = Field(default=None, ge=1)
    accuracy_table: str | None = None
    weight_bits: list[int] = Field(default=[])

    @model_validator(mode="after")
    def _accuracy_side(self):
        if self.min_ratio is None and self.accuracy_table is None:
            raise ValueError("give min_ratio (each layer dense or compressed at least that much) and/or "
                             "accuracy_table (a pimtune-epitome-accuracy/1 file)")
        return self


class SweepSpec(BaseModel):
    """A validated sweep file; ``networks`` and ``techs`` hold zoo / bundled names or
    absolute paths, ``sparsity`` one spec or a list of them (``dense``, ``measured`` or a
    profile's absolute path; a sweep axis), ``storage`` a URL whose SQLite or journal file
    is absolute (relative ones are resolved against the file's folder on load)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    networks: list[str] = Field(min_length=1)
    power_budgets_w: list[Watts] = Field(default=[])
    area_budgets_mm2: list[SquareMillimetres] = Field(default=[])
    techs: list[str] = Field(default=["reram"], min_length=1)
    options: list[CellOptions] = Field(default=[CellOptions()], min_length=1)
    sparsity: list[str] = Field(default=[DENSE], min_length=1)
    epitomes: list[str] = Field(default=[NO_EPITOMES], min_length=1)
    epitome_search: EpitomeSearchSpec | None = None
    objective: Literal["tops_per_watt", "tops_per_watt_single", "throughput", "edp"] = "tops_per_watt"
    outer: Literal[OUTER_SAMPLERS] = "grid"
    outer_trials: int = Field(default=DEFAULT_OUTER_TRIALS, ge=1)
    effort: Literal[tuple(EFFORTS)] = "default"
    seeds: list[int] = Field(default=[0], min_length=1)
    storage: str = "sqlite:///pimtune-sweep.db"

    @field_validator("sparsity", "epitomes", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("networks", "power_budgets_w", "area_budgets_mm2", "techs", "options", "sparsity", "epitomes",
                     "seeds")
    @classmethod
    def _distinct(cls, values: list) -> list:
        if len(set(values)) != len(values):
            raise ValueError("has repeated entries; list each value once")
        return values

    @model_validator(mode="after")
    def _budgets(self):
        if not self.power_budgets_w and not self.area_budgets_mm2:
            raise ValueError("no budget: give power_budgets_w (W), area_budgets_mm2 (mm^2) or both")
        if SEARCH_EPITOMES in self.epitomes and self.epitome_search is None:
            raise ValueError("epitomes: search needs epitome_search: {min_ratio: R} and/or {accuracy_table: FILE} "
                             "(what the searched epitomes must respect)")
        return self


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate the sweep file ``path`` (see the module docstring).

    Raises:
        SweepError: one line naming the file, the key, the problem and the allowed values.
    """
    path = Path(path)
    spec = load_yaml_model(path, SweepSpec, SweepError, "sweep file")
    networks = [_resolve(path, "networks", i, n, NETWORKS, (".onnx",)) for i, n in enumerate(spec.networks)]
    bundled = sorted(p.stem for p in TECH_DIR.glob("*.yaml"))
    techs = [_resolve(path, "techs", i, t, bundled, (".yaml", ".yml")) for i, t in enumerate(spec.techs)]
    sparsity = [_resolve(path, "sparsity", i, s, (DENSE, MEASURED), (".yaml", ".yml"))
                for i, s in enumerate(spec.sparsity)]
    epitomes = [_resolve(path, "epitomes", i, e, (NO_EPITOMES, SEARCH_EPITOMES), (".yaml", ".yml"))
                for i, e in enumerate(spec.epitomes)]
    search = spec.epitome_search
    if search is not None and search.accuracy_table is not None:
        table = _resolve(path, "epitome_search.accuracy_table", None, search.accuracy_table, (), (".yaml", ".yml"))
        search = search.model_copy(update={"accuracy_table": table})
    storage = resolve_storage(spec.storage, path.parent)
    return spec.model_copy(update={"networks": networks, "techs": techs, "sparsity": sparsity, "epitomes": epitomes,
                                   "epitome_search": search, "storage": storage})


def _resolve(path: Path, key: str, index: int | None, value: str, names, suffixes: tuple[str, ...]) -> str:
    """A zoo / bundled name as it is, or an existing file as an absolute path."""
    if value in names:
        return value
    candidate = Path(value) if Path(value).is_absolute() else path.parent / value
    if candidate.suffix in suffixes and candidate.is_file():
        return str(candidate.resolve())
    where = key if index is None else f"{key}[{index}]"
    if not names:
        raise SweepError(f"{path}: key '{where}': {value!r} is not a file (relative to the sweep file's folder); "
                         f"give an existing {' or '.join(suffixes)} file")
    allowed = ", ".join(names)
    raise SweepError(f"{path}: key '{where}': {value!r} is neither a file (relative to the sweep file's "
                     f"folder) nor one of: {allowed}")

