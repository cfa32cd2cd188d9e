"""Technology files: component power, latency and area figures, schema-checked.

A technology file is YAML (see ``costmodel/tech/reram.yaml``); every figure carries its
unit in its key (``_w``, ``_ns``, ``_nj``, ``_mm2``, ``_kib``, ``_bits``; ``_pj``,
``_pj_per_bit`` and ``_gbyte_per_s`` in the segmented-execution sections of
``costmodel/memory_hierarchy.py``). ``load_technology`` validates it with pydantic and
turns the tables into numpy lookup arrays for the vectorised evaluator. The evaluator only
sees :class:`Technology`: a new family of in-memory macros is a new schema section plus its
own resolve step, not a new evaluator.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Literal, get_origin

import numpy as np
import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from costmodel.memory_hierarchy import ArrayWrite, GlobalBuffer, OffchipMemory
from costmodel.periphery import Noc, OffchipLinks, Registers, Scratchpad, Unit, VectorUnits
from costmodel.schema import NonNegative, Positive, Strict
from costmodel.epitome.support import EpitomeSupport
from costmodel.sparsity.support import SparsitySupport
from costmodel.families.sram.technology import SramTechnology
from onnx_frontend.errors import PimtuneError
from onnx_frontend.text_files import read_text

TECH_DIR = Path(__file__).parent / "tech"


class TechnologyError(PimtuneError):
    """A technology file is missing, not YAML, or breaks the schema."""


class CrossbarRow(Unit):
    size: int = Positive
    cell_bits: int = Positive

    @model_validator(mode="after")
    def _power_of_two(self):
        if self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two, got {self.size}")
        return self


class ConverterRow(Unit):
    bits: int = Field(gt=0, le=32)


class SampleHold(Strict):
    static_power_w: float = NonNegative
    area_mm2: float = NonNegative


class Macro(Strict):
    """How big a macro may be and how its scratchpad feeds its crossbars (MODEL.md section 3).

    Attributes:
        max_crossbars: crossbars one macro holds at most.
        input_bus_width_bits: wires of the bus from the macro's scratchpad to the input
            registers of its crossbars; one transfer is broadcast to every crossbar that
            shares the rows it carries.
        input_bus_clock_ghz: transfers per ns on that bus.
        input_register_steps: steps of inputs the crossbars' input registers hold: 1 (a
            step's inputs are written while the crossbars wait, after the previous step's
            bit iterations) or 2 (double-buffered: written during them).
    """

    max_crossbars: int = Positive
    input_bus_width_bits: int = Positive
    input_bus_clock_ghz: float = Positive
    input_register_steps: Literal[1, 2]

    @property
    def input_bus_bits_per_ns(self) -> float:
        return self.input_bus_width_bits * self.input_bus_clock_ghz


class Counting(Strict):
    """What the model counts where published tools differ (MODEL.md section 6).

    Attributes:
        dacs: ``physical_rows`` (a DAC per row of every crossbar: area, static and peak
            power of all of them) or ``used_rows`` (DACs of rows that hold no weight are
            power-gated: only used rows pay).
        adc_conversions: ``used_columns`` (the column multiplexer visits only columns
            that hold weights) or ``physical_columns`` (every column of every crossbar
            is converted, used or not).
    """

    dacs: Literal["physical_rows", "used_rows"]
    adc_conversions: Literal["used_columns", "physical_columns"]


class Precision(Strict):
    weight_bits: int = Field(gt=0, le=64)
    activation_bits: int = Field(gt=0, le=64)


class Technology(Strict):
    """A validated technology file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    name: str
    family: Literal["analog_crossbar", "sram_aimc", "sram_dimc"]
    description: str = ""
    precision: Precision
    crossbar: list[CrossbarRow] = Field(min_length=1)
    adc: list[ConverterRow] = Field(min_length=1)
    dac: list[ConverterRow] = Field(min_length=1)
    sample_hold: SampleHold
    vector_units: VectorUnits
    scratchpad: Scratchpad
    noc: Noc
    registers: Registers
    macro: Macro
    counting: Counting
    offchip_links: OffchipLinks
    # segmented execution (costmodel/memory_hierarchy.py): DRAM, global buffer, weight writes
    offchip_memory: OffchipMemory
    global_buffer: GlobalBuffer
    array_write: ArrayWrite
    # what exploiting zeros costs (costmodel/sparsity/support.py); None: no sparsity support
    sparsity: SparsitySupport | None = None
    # what the epitome datapath costs (costmodel/epitome/support.py); None: no epitome layers
    epitome: EpitomeSupport | None = None
    # the SRAM file this chip was made from (costmodel/families/sram/network.py); None for crossbars
    sram: SramTechnology | None = None

    @model_validator(mode="after")
    def _unique_keys(self):
        for table, key in (("crossbar", ("size", "cell_bits")), ("adc", ("bits",)), ("dac", ("bits",))):
            seen = [tuple(getattr(r, k) for k in key) for r in getattr(self, table)]
            if len(seen) != len(set(seen)):
                raise ValueError(f"{table}: duplicate rows for {'/'.join(key)} in {seen}")
        return self

    # --- lookups -------------------------------------------------------------------
    @property
    def xbar_sizes(self) -> tuple[int, ...]:
        return tuple(sorted({r.size for r in self.crossbar}))

    @property
    def array_cols(self) -> tuple[int, ...]:
        """Output-channel columns of each array shape, in ``xbar_sizes`` order (a crossbar's
        columns are its size; an SRAM array's come from its file's ``chip.arrays``)."""
        if self.sram is None:
            return self.xbar_sizes
        return tuple(a.cols for a in sorted(self.sram.chip.arrays, key=lambda a: a.rows))

    @property
    def cell_bits_options(self) -> tuple[int, ...]:
        return tuple(sorted({r.cell_bits for r in self.crossbar}))

    @property
    def dac_bits_options(self) -> tuple[int, ...]:
        return tuple(sorted(r.bits for r in self.dac))

    def crossbar_row(self, size: int, cell_bits: int) -> CrossbarRow:
        for r in self.crossbar:
            if r.size == size and r.cell_bits == cell_bits:
                return r
        raise TechnologyError(
            f"technology '{self.name}' has no crossbar of size {size} with {cell_bits}-bit cells; "
            f"available: {[(r.size, r.cell_bits) for r in self.crossbar]}"
        )

    def dac_row(self, bits: int) -> ConverterRow:
        for r in self.dac:
            if r.bits == bits:
                return r
        raise TechnologyError(f"technology '{self.name}' has no {bits}-bit DAC; available: {self.dac_bits_options}")

    def adc_row_for(self, bits_needed: int) -> ConverterRow | None:
        """The ADC with the smallest resolution >= ``bits_needed`` (None if none)."""
        fits = [r for r in self.adc if r.bits >= bits_needed]
        return min(fits, key=lambda r: r.bits) if fits else None

    @cached_property
    def tables(self) -> "TechTables":
        return TechTables.build(self)


class TechTables:
    """Numpy views of a :class:`Technology` for vectorised lookups.

    Crossbar arrays are indexed ``[size_index, cell_index]`` (``xbar_sizes`` and
    ``cell_bits_options`` order; NaN where the file has no such row). ADC arrays are
    indexed by the *required* resolution in bits (0..64) and give the row actually used
    (NaN: no ADC is precise enough). DAC arrays are indexed by ``dac_bits_options``.
    """

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    @classmethod
    def build(cls, tech: Technology) -> "TechTables":
        sizes, cells = tech.xbar_sizes, tech.cell_bits_options
        xb = np.full((4, len(sizes), len(cells)), np.nan)
        for r in tech.crossbar:
            i, j = sizes.index(r.size), cells.index(r.cell_bits)
            xb[:, i, j] = (r.static_power_w, r.dynamic_power_w, r.latency_ns, r.area_mm2)
        adc = np.full((6, 65), np.nan)
        for need in range(65):
            row = tech.adc_row_for(need)
            if row is not None:
                adc[:, need] = (row.static_power_w, row.dynamic_power_w, row.latency_ns, row.area_mm2,
                                row.bits, row.peak_power_w)
        dacs = sorted(tech.dac, key=lambda r: r.bits)
        dac = np.array([(r.static_power_w, r.dynamic_power_w, r.latency_ns, r.area_mm2) for r in dacs]).T
        sp = tech.scratchpad.sizes
        spad = np.array([(s.capacity_kib, s.leak_power_w, s.read_latency_ns, s.write_latency_ns,
                          s.read_energy_nj, s.write_energy_nj, s.area_mm2, s.peak_power_w) for s in sp]).T
        return cls(
            xbar_sizes=np.array(sizes), cell_bits=np.array(cells), dac_bits=np.array([r.bits for r in dacs]),
            xbar_static=xb[0], xbar_dynamic=xb[1], xbar_latency=xb[2], xbar_area=xb[3],
            xbar_peak=xb[0] + xb[1],
            adc_static=adc[0], adc_dynamic=adc[1], adc_latency=adc[2], adc_area=adc[3], adc_bits=adc[4],
            adc_peak=adc[5],
            dac_static=dac[0], dac_dynamic=dac[1], dac_latency=dac[2], dac_area=dac[3],
            dac_peak=dac[0] + dac[1],
            spad_capacity_kib=spad[0], spad_leak=spad[1], spad_read_latency=spad[2],
            spad_write_latency=spad[3], spad_read_energy=spad[4], spad_write_energy=spad[5],
            spad_area=spad[6], spad_peak=spad[7],
        )


SRAM_FAMILIES = ("sram_aimc", "sram_dimc")


def bundled_technologies() -> list[str]:
    """Names ``--tech`` resolves without a path: ``reram``, ``sram-aimc``, ``chips/dimc3``, ..."""
    return sorted(p.relative_to(TECH_DIR).with_suffix("").as_posix() for p in TECH_DIR.rglob("*.yaml"))


def require_network_family(tech: Technology | SramTechnology) -> Technology:
    """The chip the network evaluator models for ``tech``: a crossbar file as it is, an
    SRAM file as its ``chip:`` (:func:`costmodel.families.sram.network.network_technology`; one
    line why not when it has none)."""
    if isinstance(tech, SramTechnology):
        from costmodel.families.sram.network import network_technology
        return network_technology(tech)
    return tech


def load_technology(source: str | Path | Technology | SramTechnology = "reram") -> Technology | SramTechnology:
    """Load a technology by bundled name (``reram``, ``sram-aimc``, ``chips/dimc3``) or by
    YAML file path; ``family:`` picks the schema (:class:`Technology` for
    ``analog_crossbar``, :class:`~costmodel.families.sram.technology.SramTechnology` for SRAM macros).

    Raises:
        TechnologyError: one line naming the file, the key, the rule and the value.
    """
    if isinstance(source, (Technology, SramTechnology)):
        return source
    path = Path(source)
    if not path.suffix and (TECH_DIR / f"{source}.yaml").exists():
        path = TECH_DIR / f"{source}.yaml"
    if not path.is_file():
        raise TechnologyError(f"{source}: no such technology file; pass a YAML path or one of {bundled_technologies()}")
    text = read_text(path, TechnologyError, "technology file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise TechnologyError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if not isinstance(data, dict):
        raise TechnologyError(f"{path}: expected a mapping of sections (name, crossbar, adc, ...), got {type(data).__name__}")
    family = data.get("family")
    if family not in ("analog_crossbar",) + SRAM_FAMILIES:
        raise TechnologyError(f"{path}: key 'family': must be one of analog_crossbar, {', '.join(SRAM_FAMILIES)}; "
                              f"value {family!r}")
    schema = SramTechnology if family in SRAM_FAMILIES else Technology
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # an unknown key (a typo) explains the "missing" error it causes: report it first
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "missing" if err["type"] == "missing" else repr(value)
        if isinstance(value, dict) and err["type"] != "missing":
            shown = "{...}"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        hint = _missing_section_hint(schema, family, err)
        raise TechnologyError(f"{path}: key '{key}': {err['msg']}; value {shown}{hint}{more}") from None


#: the bundled file of each family, the one to copy a missing section from
BUNDLED_BY_FAMILY = {"analog_crossbar": "reram.yaml", "sram_aimc": "sram-aimc.yaml", "sram_dimc": "sram-dimc.yaml"}


def _missing_section_hint(schema: type[Strict], family: str, err: dict) -> str:
    """For a missing top-level section (``offchip_memory:``, ``noc:`` ...): where to copy it
    from; else ''. Files written before a section existed fail this way."""
    loc = err.get("loc", ())
    if err["type"] != "missing" or len(loc) != 1:
        return ""
    field = schema.model_fields.get(str(loc[0]))
    annotation = getattr(field, "annotation", None)
    section = get_origin(annotation) is list or (isinstance(annotation, type) and issubclass(annotation, Strict))
    if not section:
        return ""
    return f"; copy the '{loc[0]}:' section from the bundled file {TECH_DIR / BUNDLED_BY_FAMILY[family]}"


def adc_bits_required(xbar_size, dac_bits, cell_bits):
    """ADC resolution that loses no precision (PIMSYN, after ISAAC); works on arrays.

    ``log2(S) + d + c - 1`` when ``d > 1`` and ``c > 1``, else ``log2(S) + d + c - 2``.
    """
    log_s = np.log2(xbar_size).astype(int) if isinstance(xbar_size, np.ndarray) else int(math.log2(xbar_size))
    both = (np.asarray(dac_bits) > 1) & (np.asarray(cell_bits) > 1)
    return log_s + dac_bits + cell_bits - np.where(both, 1, 2)
