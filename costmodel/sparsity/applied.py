"""Sparsity in the resolve step: the dense per-step work scaled by each layer's mode (MODEL.md 10).

:func:`sparse_work` multiplies the (N, La) per-step work of :mod:`costmodel.resolve` by
the factors of :mod:`costmodel.sparsity.factors` (in place) and adds the overheads'
energy per occurrence; :func:`sparsity_hardware` gives the detectors' and index
memories' leakage and area.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from costmodel.array_figures import ArrayFigures, index_of
from costmodel.design import DesignBatch
from costmodel.sparsity.densities import Densities
from costmodel.sparsity.factors import COMPACT, GATE, SparsityFactors, sparsity_factors
from costmodel.sparsity.tables import sparsity_tables
from costmodel.technology import Technology, adc_bits_required
from costmodel.workload import Workload, build_workload
from onnx_frontend.network import Network

F = np.float32


def uses_sparsity(batch: DesignBatch, densities: Densities | None) -> bool:
    """Whether a batch's evaluation involves sparsity at all (densities, or any layer's mode)."""
    return densities is not None or bool(batch.sparse_mode.any())


def sparse_work(network: Network, tech: Technology, densities: Densities | None, wl: Workload, batch: DesignBatch,
                a: ArrayFigures, work: dict[str, np.ndarray], expand: Callable[[np.ndarray], np.ndarray],
                step_arrays: np.ndarray) -> SparsityFactors:
    """Scale ``work`` (per-step (N, La) arrays of resolve) by the designs' modes, in place,
    and add ``work["sparsity_pj"]``: the overheads' energy per occurrence (pJ). Returns the
    factors (the iterations factor scales the array's cycle time). ``step_arrays`` (N, L):
    the arrays of one step of each weighted layer whose inputs differ (every copy's row
    groups, or its weight tile's)."""
    dense_wl = build_workload(network, tech) if densities is not None else wl
    tables = sparsity_tables(network, tech, densities, wl, dense_wl)
    dac_index = index_of(np.asarray(tech.dac_bits_options), batch.dac_bits, "dac_bits")
    cell_index = index_of(np.asarray(tech.cell_bits_options), batch.cell_bits, "cell_bits")
    f = sparsity_factors(tables, tech, dac_index, a.size_index, cell_index, batch.sparse_mode, ou_bits_share(tech, batch, a),
                         step_arrays)
    rows_dense, arrays_dense = work["dac_conv"], work["crossbars"]
    work["sparsity_pj"] = (rows_dense * expand(f.overhead_pj_per_row)
                           + arrays_dense * expand(f.ou_cycles * F(f.ou_rows) * f.overhead_pj_per_ou_row))
    work["dac_conv"] = rows_dense * expand(f.rows)
    work["crossbars"] = arrays_dense * expand(f.array)
    digital = tech.family == "sram_dimc"
    work["adc_conv"] = work["adc_conv"] * expand(f.products if digital else f.conversions)
    work["shift_add"] = work["shift_add"] * expand(f.columns)
    if "cells" in work:
        work["cells"] = work["cells"] * expand(f.products)
    return f


def ou_bits_share(tech: Technology, batch: DesignBatch, a: ArrayFigures) -> np.ndarray:
    """(N,) the lossless resolution of an operation unit's partial sums (``ou_rows`` rows,
    section 1's rule) over the resolution of the design's ADC, at most 1; 1 where the
    design has no ADC (digital arrays: compact is not offered)."""
    if tech.sparsity is None:
        return np.ones(len(batch))
    per_adc = batch.cell_bits if tech.sram is None else tech.sram.macro.weight_bits_per_adc
    rows = np.minimum(tech.sparsity.ou_rows, a.rows)
    need = adc_bits_required(np.asarray(rows, dtype=np.int64), batch.dac_bits, per_adc)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(a.adc_bits > 0, need / a.adc_bits, 1.0)
    return np.clip(np.nan_to_num(share, nan=1.0), 0.0, 1.0)


def sparsity_hardware(tech: Technology, batch: DesignBatch, arrays_per_layer: np.ndarray, rows: np.ndarray,
                      chip_total: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(static_w, area_mm2)`` (N,) of the zero detectors (a row of every array of a layer
    with a mode) and compaction index memories (compact layers' arrays).

    ``arrays_per_layer`` (N, L) arrays resident per weighted layer, ``rows`` (N,) array
    rows, ``chip_total`` sums (N, L) over the chip (its largest segment's)."""
    s = tech.sparsity
    if s is None:
        zero = np.zeros(len(rows))
        return zero, zero
    mode = batch.sparse_mode
    detected = chip_total(arrays_per_layer * (mode >= GATE)) * rows
    indexed = chip_total(arrays_per_layer * (mode == COMPACT)) * rows
    static = detected * s.detector_static_power_w_per_row
    area = detected * s.detector_area_mm2_per_row + indexed * s.index_bits_per_row * s.index_area_mm2_per_bit
    return static, area
