"""The schema of SRAM in-memory-macro technology files (``family: sram_aimc | sram_dimc``).

Every figure carries its unit in its key (``_um2``, ``_ns``, ``_ff``, ``_v``, ``_nm``,
``_bits``); ratios are named ``_vs_nand2`` / ``_fraction`` / ``_rate``. The bundled files
are ``costmodel/tech/sram-aimc.yaml``, ``sram-dimc.yaml`` and the published chips under
``costmodel/tech/chips/``. The model is BACKGROUND.md section 9 (KU Leuven, ICCAD 2023).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from costmodel.memory_hierarchy import ArrayWrite, GlobalBuffer, OffchipMemory
from costmodel.periphery import Noc, OffchipLinks, Registers, Scratchpad, VectorUnits
from costmodel.schema import NonNegative, Positive, Strict
from costmodel.epitome.support import EpitomeSupport
from costmodel.sparsity.support import SparsitySupport

Fraction = Field(ge=0, le=1)


class UnitGates(Strict):
    """The unit gates every logic cost is built from (the published set is 28 nm, 0.9 V)."""

    vdd_v: float = Positive
    nand2_area_um2: float = Positive
    nand2_delay_ns: float = Positive
    nand2_cap_ff: float = Positive
    xor2_area_vs_nand2: float = Positive
    xor2_delay_vs_nand2: float = Positive
    xor2_cap_vs_nand2: float = Positive
    dff_area_vs_nand2: float = Positive
    dff_cap_vs_nand2: float = Positive
    cell_bitline_cap_ff: float = NonNegative
    multiplier_switching_fraction: float = Fraction
    #: capacitance (fF) of a per-weight enable line (AIMC1's "csbias") charged every cycle,
    #: one per weight (row x output channel), in the bitlines' energy; 0: no enable line
    weight_enable_cap_ff: float = Field(default=0.0, ge=0)


class Node(Strict):
    """Linear scaling of logic area and energy from the unit gates' node to the chip's."""

    node_nm: float = Positive
    unit_gate_node_nm: float = Positive
    scale_adc_area: bool
    scale_adc_energy: bool
    scale_dac_energy: bool

    @property
    def factor(self) -> float:
        return self.node_nm / self.unit_gate_node_nm


class AdcFit(Strict):
    """energy (e1*B + e4*4^B) fF*V^2; area 10^(a1*B + a0)*2^B um^2 (0 for B <= 1);
    delay B*(d_row*rows + d_bit) ns."""

    energy_ff_per_bit: float = NonNegative
    energy_ff_per_4_pow_bits: float = NonNegative
    area_log10_um2_offset: float
    area_log10_um2_per_bit: float
    delay_ns_per_bit: float = NonNegative
    delay_ns_per_bit_per_row: float = NonNegative


class DacFit(Strict):
    """energy k*Bs fF*V^2 per row and cycle, none for 1-bit inputs; area and delay 0."""

    energy_ff_per_input_bit: float = NonNegative


class Cell(Strict):
    """One bitcell's area at the file's node (not scaled; 0 leaves the array out)."""

    area_um2: float = NonNegative


def _power_of_two(n: int) -> bool:
    return n >= 1 and not n & (n - 1)


class MacroGeometry(Strict):
    """One macro design: ``rows`` x ``cols`` weights per bank, ``banks`` banks.

    Attributes:
        rows: accumulation dimension (C_in*kh*kw mapped), a power of two.
        cols: output channels per bank.
        banks: macros computing in parallel.
        weight_bits, activation_bits: operand precisions.
        input_bits_per_cycle: activation bits fed per cycle (divides activation_bits).
        adc_bits: ADC resolution (AIMC only; null for DIMC).
        cells_per_weight_group: cells sharing one compute unit (weights time-multiplexed);
            they cost cell area only.
        weight_bits_per_adc: weight-bit columns whose bitlines one ADC reads together (AIMC).
        booth_encoding: radix-4 Booth multipliers (DIMC): each pair of input bits is recoded
            into one partial product of weight_bits + 1 bits, halving the multipliers and the
            adder trees (one tree per two input bits, input_bits_per_cycle even).
        adc_area_bits: the ADC resolution its area is counted at (AIMC; 0: adc_bits); delay
            and energy stay at adc_bits.
        output_adder_bits: AIMC only; N > 0: one N-bit ripple-carry adder per output channel
            after the ADCs, without a register, in place of the accumulator (the input bits
            accumulate in the analog domain); 0: the accumulator.
        weight_bits_per_column: DIMC only; the weight bits one column holds (0: weight_bits,
            a whole weight per column). Fewer: each weight is spread over weight_bits / it
            columns (cols still counts output channels, operations still count weights);
            each column has its own adder tree over the rows' products of the input bits
            and its weight bits, and the columns are summed with a place-value adder.
        column_adder_bits: DIMC only, with weight_bits_per_column < weight_bits; N > 0: a
            binary ripple-carry adder tree of N-bit operands across a weight's columns in
            place of that place-value adder; 0: the place-value adder.
    """

    rows: int = Positive
    cols: int = Positive
    banks: int = Positive
    weight_bits: int = Field(gt=0, le=32)
    activation_bits: int = Field(gt=0, le=32)
    input_bits_per_cycle: int = Field(gt=0, le=32)
    adc_bits: int | None = Field(default=None, gt=0, le=16)
    cells_per_weight_group: int = Field(default=1, gt=0)
    weight_bits_per_adc: int = Field(default=1, gt=0)
    booth_encoding: bool = False
    adc_area_bits: int = Field(default=0, ge=0, le=16)
    output_adder_bits: int = Field(default=0, ge=0, le=64)
    weight_bits_per_column: int = Field(default=0, ge=0, le=32)
    column_adder_bits: int = Field(default=0, ge=0, le=64)

    @model_validator(mode="after")
    def _consistent(self):
        if not _power_of_two(self.rows):
            raise ValueError(f"rows must be a power of two (adder trees are binary), got {self.rows}")
        if self.activation_bits % self.input_bits_per_cycle:
            raise ValueError(f"input_bits_per_cycle ({self.input_bits_per_cycle}) must divide "
                             f"activation_bits ({self.activation_bits})")
        if self.weight_bits % self.weight_bits_per_adc:
            raise ValueError(f"weight_bits_per_adc ({self.weight_bits_per_adc}) must divide "
                             f"weight_bits ({self.weight_bits})")
        return self


class ArrayShape(Strict):
    """One array shape whole networks may use: ``rows`` (accumulation, a power of two) by
    ``cols`` output channels, each of ``macro.weight_bits`` cells."""

    rows: int = Positive
    cols: int = Positive

    @model_validator(mode="after")
    def _rows(self):
        if not _power_of_two(self.rows) or self.rows < 2:
            raise ValueError(f"rows must be a power of two of at least 2, got {self.rows}")
        return self


class SramChip(Strict):
    """The chip whole networks run on (MODEL.md section 9): arrays of the macro with their
    ADCs / adder trees, grouped into macros that share a scratchpad (local buffer), vector
    units, a router and registers, as in the crossbar template.

    Attributes:
        arrays: the array shapes the search may pick (``rows`` unique).
        input_bits_per_cycle_options: activation bits fed per cycle (each divides
            ``macro.activation_bits``).
        adc_bits_options: the ADC resolutions on offer (``sram_aimc`` only).
        adc_bits_rule: ``sram_aimc`` only. ``lossless``: each design's ADCs resolve every
            partial sum of a column, ``log2(rows) + input bits - 1`` bits (with one weight
            bit per ADC; the crossbar family's rule), the smallest offered resolution at
            least that (none: infeasible, ``adc_resolution``); the published regression
            point's 8-bit ADC at 128 rows and 2 input bits is this rule. ``searched``:
            ``adc_bits`` is a design variable over the options; the model charges no
            accuracy for fewer bits, so the search takes the fewest.
        array_shares: the shares of the budget for arrays a synthesis' outer grid tries
            (``rram_ratio``; the ReRAM grid is PIMSYN's 0.15-0.3, but SRAM arrays carry
            their converters, so the rest of the chip needs less); a design space spans
            them unless its options set ``rram_ratio``.
        cell_leakage_nw: static power of one bitcell, nW.
        max_arrays_per_macro: arrays one macro holds at most (the published model's banks).
        input_bus_width_bits, input_bus_clock_ghz, input_register_steps: the bus from a
            macro's scratchpad to its arrays' input registers (as ``macro:`` of reram.yaml).
        vector_units, scratchpad, noc, registers, offchip_links: the schema of reram.yaml
            (``registers.per_crossbar_*`` is per array).
        sparsity: what zero detection and skipping cost per array row
            (:class:`~costmodel.sparsity.support.SparsitySupport`); None: no support.
        epitome: what the epitome datapath costs (address tables, routing muxes;
            :class:`~costmodel.epitome.support.EpitomeSupport`); None: no epitome layers.
    """

    arrays: list[ArrayShape] = Field(min_length=1)
    input_bits_per_cycle_options: list[int] = Field(min_length=1)
    adc_bits_options: list[int] | None = None
    adc_bits_rule: Literal["lossless", "searched"] | None = None
    array_shares: list[float] = Field(min_length=1)
    cell_leakage_nw: float = NonNegative
    max_arrays_per_macro: int = Positive
    input_bus_width_bits: int = Positive
    input_bus_clock_ghz: float = Positive
    input_register_steps: Literal[1, 2]
    vector_units: VectorUnits
    scratchpad: Scratchpad
    noc: Noc
    registers: Registers
    offchip_links: OffchipLinks
    sparsity: SparsitySupport | None = None
    epitome: EpitomeSupport | None = None

    @model_validator(mode="after")
    def _options(self):
        rows = [a.rows for a in self.arrays]
        if len(rows) != len(set(rows)):
            raise ValueError(f"arrays: one shape per rows value; got rows {rows}")
        shares = self.array_shares
        if shares != sorted(set(shares)) or not all(0 < r < 1 for r in shares):
            raise ValueError(f"array_shares must be ascending distinct fractions in (0, 1), got {shares}")
        for name in ("input_bits_per_cycle_options", "adc_bits_options"):
            values = getattr(self, name) or []
            if values != sorted(set(values)) or any(v < 1 or v > 16 for v in values):
                raise ValueError(f"{name} must be ascending distinct bits in 1..16, got {values}")
        return self


class Activity(Strict):
    """Activity factors: multipliers and digital adder trees switch at
    toggle*(1 - sparsity) (their operand is an input bit times a weight bit); ADCs and
    bitlines at (1 - sparsity) (a zero weight leaves its bitline and ADC idle)."""

    input_toggle_rate: float = Fraction
    weight_sparsity: float = Fraction


class Measured(Strict):
    """A published chip's measured figures and the published model's errors."""

    citation: str
    area_mm2: float = Positive
    tclk_ns: float = Positive
    tops_per_w: float = Positive
    published_model_area_vs_measured: float = Positive
    published_model_tclk_vs_measured: float = Positive
    published_model_energy_per_mac_vs_measured: float = Positive


class SramTechnology(Strict):
    """A validated SRAM in-memory-macro technology file."""

    name: str
    family: Literal["sram_aimc", "sram_dimc"]
    description: str = ""
    unit_gates: UnitGates
    node: Node
    cell: Cell
    adc: AdcFit | None = None
    dac: DacFit | None = None
    macro: MacroGeometry
    activity: Activity
    # segmented execution (costmodel/memory_hierarchy.py): DRAM, global buffer, weight writes
    offchip_memory: OffchipMemory
    global_buffer: GlobalBuffer
    array_write: ArrayWrite
    measured: Measured | None = None
    chip: SramChip | None = None
    notes: str = ""

    @model_validator(mode="after")
    def _family_sections(self):
        analog = self.family == "sram_aimc"
        for section in ("adc", "dac"):
            if analog and getattr(self, section) is None:
                raise ValueError(f"family sram_aimc needs a '{section}:' section")
            if not analog and getattr(self, section) is not None:
                raise ValueError(f"family sram_dimc has no '{section}:' section; remove it")
        check_geometry_family(self.macro, self.family)
        if self.chip is not None:
            _check_chip_family(self.chip, self.macro, self.family)
        return self

    @property
    def is_analog(self) -> bool:
        return self.family == "sram_aimc"

    @property
    def searched_adc_bits(self) -> tuple[int, ...]:
        """The ADC resolutions a design chooses among (``adc_bits_rule: searched``), else ()."""
        chip = self.chip
        if chip is None or not self.is_analog or chip.adc_bits_rule != "searched":
            return ()
        return tuple(chip.adc_bits_options)


def _check_chip_family(chip: SramChip, macro: MacroGeometry, family: str) -> None:
    """Raise ValueError when the chip's searched options do not suit the macro and family."""
    a = macro.activation_bits
    bad = [b for b in chip.input_bits_per_cycle_options if a % b]
    if bad:
        raise ValueError(f"chip.input_bits_per_cycle_options {bad} do not divide macro.activation_bits ({a})")
    if family == "sram_aimc" and not chip.adc_bits_options:
        raise ValueError("chip.adc_bits_options is required for family sram_aimc (the ADC resolutions on offer)")
    if family == "sram_aimc" and chip.adc_bits_rule is None:
        raise ValueError("chip.adc_bits_rule is required for family sram_aimc: lossless or searched")
    if family == "sram_dimc":
        if chip.adc_bits_options is not None or chip.adc_bits_rule is not None:
            raise ValueError("family sram_dimc has no ADC; remove chip.adc_bits_options and chip.adc_bits_rule")
        odd = [b for b in chip.input_bits_per_cycle_options if not _power_of_two(b)]
        if odd:
            raise ValueError(f"chip.input_bits_per_cycle_options must be powers of two for sram_dimc, got {odd}")


def check_geometry_family(geom: MacroGeometry, family: str) -> None:
    """Raise ValueError when ``geom`` does not suit ``family``: AIMC needs ``adc_bits`` and
    a power-of-two number of ADCs per weight (place-value adder), DIMC a power-of-two
    ``input_bits_per_cycle`` and no ADC."""
    if family == "sram_aimc":
        if geom.adc_bits is None:
            raise ValueError("adc_bits is required for family sram_aimc")
        if geom.booth_encoding:
            raise ValueError("booth_encoding is a digital multiplier (family sram_dimc); set it false")
        if geom.adc_area_bits and geom.adc_area_bits < geom.adc_bits:
            raise ValueError(f"adc_area_bits ({geom.adc_area_bits}) must be 0 (adc_bits) or at least "
                             f"adc_bits ({geom.adc_bits})")
        if geom.weight_bits_per_column or geom.column_adder_bits:
            raise ValueError("weight_bits_per_column and column_adder_bits are digital columns (family sram_dimc); "
                             "set them 0")
        if not _power_of_two(geom.weight_bits // geom.weight_bits_per_adc):
            raise ValueError(f"weight_bits / weight_bits_per_adc must be a power of two, "
                             f"got {geom.weight_bits}/{geom.weight_bits_per_adc}")
    else:
        if geom.adc_bits is not None:
            raise ValueError(f"family sram_dimc has no ADC; adc_bits must be null, got {geom.adc_bits}")
        if geom.weight_bits_per_adc != 1:
            raise ValueError("family sram_dimc has no ADC; weight_bits_per_adc must be 1")
        if geom.output_adder_bits:
            raise ValueError(f"output_adder_bits replaces an AIMC accumulator (family sram_aimc); "
                             f"set it 0, got {geom.output_adder_bits}")
        if geom.adc_area_bits:
            raise ValueError(f"family sram_dimc has no ADC; adc_area_bits must be 0, got {geom.adc_area_bits}")
        if geom.booth_encoding and geom.input_bits_per_cycle % 2:
            raise ValueError(f"booth_encoding recodes input bits in pairs; input_bits_per_cycle must be even, "
                             f"got {geom.input_bits_per_cycle}")
        wpc = geom.weight_bits_per_column or geom.weight_bits
        if geom.weight_bits % wpc or not _power_of_two(geom.weight_bits // wpc):
            raise ValueError(f"weight_bits / weight_bits_per_column must be a power of two, "
                             f"got {geom.weight_bits}/{wpc}")
        if wpc < geom.weight_bits and geom.booth_encoding:
            raise ValueError("booth_encoding needs whole weights per column; set weight_bits_per_column 0 "
                             "or booth_encoding false")
        if geom.column_adder_bits and wpc == geom.weight_bits:
            raise ValueError(f"column_adder_bits sums a weight's columns; it needs weight_bits_per_column "
                             f"below weight_bits ({geom.weight_bits}), got {wpc}")
        if not _power_of_two(geom.input_bits_per_cycle):
            raise ValueError(f"input_bits_per_cycle must be a power of two (place-value adder), "
                             f"got {geom.input_bits_per_cycle}")
    if math.log2(geom.rows) < 1 and family == "sram_dimc":
        raise ValueError("rows must be at least 2 for an adder tree")
