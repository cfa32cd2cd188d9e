"""Whole networks on SRAM in-memory macros (MODEL.md section 9).

An SRAM file's ``chip:`` section describes the chip around its macro; with it, the file
runs through the one network evaluator as the crossbar template whose array is an SRAM
array: ``rows`` x ``cols`` weights (cols output channels of ``weight_bits`` cells, so one
array holds whole weights: one slice) with its own ADCs (AIMC) or adder trees (DIMC),
place-value adders and accumulators, clocked at the macro model's clock period once per
``input_bits_per_cycle`` bits of the activations.

:func:`network_technology` turns the file into the :class:`~costmodel.technology.Technology`
the evaluator, the design space and the reference scheduler read (the chip's periphery,
memory hierarchy and array shapes; the table rows of the shapes hold the file's default
macro settings); :func:`sram_array_figures` gives each design's arrays from the macro
kernel, tabulated once per file over shapes x input bits x ADC resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

import numpy as np

from costmodel.array_figures import ArrayFigures, index_of
from costmodel.design import DesignError
from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.families.sram.technology import SramTechnology
from costmodel.technology import (TECH_DIR, ConverterRow, Counting, CrossbarRow, Macro, Precision, SampleHold,
                                  Technology, TechnologyError, adc_bits_required)

PJ_TO_NJ = 1e-3
NW_TO_W = 1e-9


@dataclass(frozen=True)
class SramTables:
    """The macro model over every searched setting: arrays ``[shape, input bits, adc]``
    (``adc_bits`` is ``(0,)`` for DIMC); energies in nJ per clock cycle."""

    rows: np.ndarray
    cols: np.ndarray
    input_bits: np.ndarray
    adc_bits: np.ndarray
    tclk_ns: np.ndarray
    static_w: np.ndarray
    peak_w: np.ndarray
    area_mm2: np.ndarray
    row_nj: np.ndarray
    cell_nj: np.ndarray
    column_nj: np.ndarray


def network_technology(sram: SramTechnology) -> Technology:
    """``sram`` as the technology of the network evaluator (cached per file object).

    Raises:
        TechnologyError: the file has no ``chip:`` section (a published chip's file
            describes its macro only).
    """
    if sram.chip is None:
        raise TechnologyError(
            f"{sram.name}: no 'chip:' section, so it models one macro (pimtune macro, pimtune chips); whole "
            f"networks need one: copy the 'chip:' section from the bundled file "
            f"{TECH_DIR / ('sram-aimc.yaml' if sram.is_analog else 'sram-dimc.yaml')}")
    return _lowered(sram)


def _per_file(fn):
    """Cache ``fn(sram)`` per file object (pydantic models with lists do not hash)."""
    cache: dict[int, tuple] = {}

    @wraps(fn)
    def cached(sram: SramTechnology):
        hit = cache.get(id(sram))
        if hit is None or hit[0] is not sram:
            if len(cache) > 32:
                cache.clear()
            hit = cache[id(sram)] = (sram, fn(sram))
        return hit[1]
    return cached


@_per_file
def _lowered(sram: SramTechnology) -> Technology:
    chip, m = sram.chip, sram.macro
    t = sram_tables(sram)
    # the table rows of each shape: the file's default input bits and ADC where searched, else the first
    j = _default_index(t.input_bits, m.input_bits_per_cycle)
    k = _default_index(t.adc_bits, m.adc_bits or 0)
    crossbar = [CrossbarRow.model_construct(
        size=int(t.rows[i]), cell_bits=m.weight_bits, static_power_w=float(t.static_w[i, j, k]),
        dynamic_power_w=float(t.peak_w[i, j, k] - t.static_w[i, j, k]), latency_ns=float(t.tclk_ns[i, j, k]),
        area_mm2=float(t.area_mm2[i, j, k])) for i in range(len(t.rows))]
    # the DACs are inside the arrays: rows of zeros that make the input bits a choice
    dac = [ConverterRow.model_construct(bits=int(b), static_power_w=0.0, dynamic_power_w=0.0, latency_ns=0.0,
                                        area_mm2=0.0) for b in t.input_bits]
    return Technology.model_construct(
        name=sram.name, family=sram.family, description=sram.description,
        precision=Precision(weight_bits=m.weight_bits, activation_bits=m.activation_bits),
        crossbar=crossbar, adc=[], dac=dac, sample_hold=SampleHold(static_power_w=0.0, area_mm2=0.0),
        vector_units=chip.vector_units, scratchpad=chip.scratchpad, noc=chip.noc, registers=chip.registers,
        macro=Macro(max_crossbars=chip.max_arrays_per_macro, input_bus_width_bits=chip.input_bus_width_bits,
                    input_bus_clock_ghz=chip.input_bus_clock_ghz, input_register_steps=chip.input_register_steps),
        counting=Counting(dacs="used_rows", adc_conversions="used_columns"),
        offchip_links=chip.offchip_links, offchip_memory=sram.offchip_memory, global_buffer=sram.global_buffer,
        array_write=sram.array_write, sparsity=chip.sparsity, epitome=chip.epitome, sram=sram,
    )


def _default_index(options: np.ndarray, value: int) -> int:
    hit = np.flatnonzero(options == value)
    return int(hit[0]) if len(hit) else 0


@_per_file
def sram_tables(sram: SramTechnology) -> SramTables:
    """The macro kernel over shapes x input bits x ADC resolutions, in one call."""
    chip, m = sram.chip, sram.macro
    rows = np.array([a.rows for a in chip.arrays], dtype=float)
    cols = np.array([a.cols for a in chip.arrays], dtype=float)
    order = np.argsort(rows)
    rows, cols = rows[order], cols[order]
    input_bits = np.array(chip.input_bits_per_cycle_options, dtype=float)
    adc_bits = np.array(chip.adc_bits_options if sram.is_analog else [0], dtype=float)
    shape = (len(rows), len(input_bits), len(adc_bits))
    r, bs, adc = (np.broadcast_to(a, shape).ravel() for a in
                  (rows[:, None, None], input_bits[None, :, None], adc_bits[None, None, :]))
    c = np.broadcast_to(cols[:, None, None], shape).ravel()
    n = r.size
    full = lambda v: np.full(n, float(v))  # noqa: E731
    batch = MacroBatch(
        rows=r, cols=c, banks=full(1), weight_bits=full(m.weight_bits), activation_bits=full(m.activation_bits),
        input_bits_per_cycle=bs, adc_bits=adc, cells_per_weight_group=full(m.cells_per_weight_group),
        weight_bits_per_adc=full(m.weight_bits_per_adc), booth_encoding=full(m.booth_encoding),
        adc_area_bits=np.where(m.adc_area_bits > 0, np.maximum(full(m.adc_area_bits), adc), 0.0),
        output_adder_bits=full(m.output_adder_bits), weight_bits_per_column=full(m.weight_bits_per_column),
        column_adder_bits=full(m.column_adder_bits), input_toggle_rate=full(sram.activity.input_toggle_rate),
        weight_sparsity=full(sram.activity.weight_sparsity), cell_area_um2=full(sram.cell.area_um2))
    k = macro_costs(sram, batch)
    e = k.energy_pj
    per_cell = e["multipliers"] + e["bitlines"]
    per_column = e["adcs"] + e["place_value_adders"] + e["accumulators"]
    if sram.is_analog:
        per_column = per_column + e["adder_trees"]             # the output adders: one per channel
    else:
        per_cell = per_cell + e["adder_trees"]                 # a tree's adders grow with its rows
    static = r * c * m.weight_bits * m.cells_per_weight_group * chip.cell_leakage_nw * NW_TO_W
    dynamic_w = k.energy_per_cycle_pj / k.tclk_ns * PJ_TO_NJ   # pJ/ns = mW -> W
    as_table = lambda a: np.asarray(a, dtype=float).reshape(shape)  # noqa: E731
    return SramTables(
        rows=rows.astype(np.int64), cols=cols.astype(np.int64), input_bits=input_bits.astype(np.int64),
        adc_bits=adc_bits.astype(np.int64), tclk_ns=as_table(k.tclk_ns), static_w=as_table(static),
        peak_w=as_table(static + dynamic_w), area_mm2=as_table(k.total_area_mm2),
        row_nj=as_table(e["dacs"] / r * PJ_TO_NJ), cell_nj=as_table(per_cell / (r * c) * PJ_TO_NJ),
        column_nj=as_table(per_column / c * PJ_TO_NJ))


def sram_array_figures(tech: Technology, batch: dict) -> ArrayFigures:
    """Each design's arrays (``batch``: (N,) globals): ``xbar_size`` is the array's rows, ``dac_bits`` the input bits
    per cycle, ``adc_bits`` the ADC resolution (AIMC with ``chip.adc_bits_rule: searched``;
    else 0: a lossless AIMC file derives it, DIMC has none), ``cell_bits`` the weight bits
    (one array holds whole weights)."""
    sram = tech.sram
    t = sram_tables(sram)
    tb = tech.tables
    si = index_of(tb.xbar_sizes, batch["xbar_size"], "xbar_size (SRAM array rows)")
    index_of(tb.cell_bits, batch["cell_bits"], "cell_bits (SRAM: the weight bits)")
    di = index_of(t.input_bits, batch["dac_bits"], "dac_bits (SRAM: input bits per cycle)")
    no_adc = np.zeros(len(si), dtype=bool)
    if sram.searched_adc_bits:
        if (batch["adc_bits"] <= 0).any():
            raise DesignError(f"designs on {sram.name} (sram_aimc, chip.adc_bits_rule: searched) need adc_bits, "
                              f"one of {t.adc_bits.tolist()}")
        ai = index_of(t.adc_bits, batch["adc_bits"], "adc_bits")
    elif sram.is_analog:
        if (batch["adc_bits"] > 0).any():
            raise DesignError(f"{sram.name} derives each design's ADC resolution (chip.adc_bits_rule: lossless); "
                              "drop adc_bits from the designs")
        need = adc_bits_required(t.rows[si], batch["dac_bits"], sram.macro.weight_bits_per_adc)
        ai = np.minimum(np.searchsorted(t.adc_bits, need), len(t.adc_bits) - 1)
        no_adc = t.adc_bits[ai] < need
    else:
        if (batch["adc_bits"] > 0).any():
            raise DesignError(f"{sram.name} (sram_dimc) has no ADC; drop adc_bits from the designs")
        ai = np.zeros(len(si), dtype=np.int64)
    at = (si, di, ai)
    n = len(si)
    zero, one = np.zeros(n), np.ones(n, dtype=np.int64)
    Wb, A = sram.macro.weight_bits, sram.macro.activation_bits
    return ArrayFigures(
        size_index=si, rows=t.rows[si], cols=t.cols[si], slices=one,
        cells_per_weight=one * Wb * sram.macro.cells_per_weight_group,
        iterations=-(-A // batch["dac_bits"]), step_ns=t.tclk_ns[at], dac_ns=zero,
        array_static_w=t.static_w[at], array_peak_w=t.peak_w[at], array_area_mm2=t.area_mm2[at],
        array_nj=zero, dac_nj=t.row_nj[at], cell_nj=t.cell_nj[at], column_nj=t.column_nj[at],
        dac_static_w=zero, dac_peak_w=zero, dac_area_mm2=zero,
        adc_static_w=zero, adc_dynamic_w=zero, adc_ns=zero, adc_area_mm2=zero, adc_peak_w=zero,
        adc_bits=t.adc_bits[ai] if sram.is_analog else np.full(n, np.nan), no_adc=no_adc,
        shift_add_outside=0.0,
    )
