"""Per-design sparsity factors: what each layer's mode keeps of the dense work (MODEL.md 10).

``sparsity_factors(tables, tech, dac_index, size_index, mode)`` looks the expectations of
:mod:`costmodel.sparsity.tables` up for N designs and turns their ``(N, L)`` modes
(:data:`costmodel.sparsity.SPARSE_MODES`: 0 none, 1 gate, 2 skip, 3 compact) into
multipliers of one bit iteration's dense work and duration, every one ``(N, L)``:

==============  ======  ======================  ====================  ==========================
factor          none    gate                    skip                  compact (analog only)
==============  ======  ======================  ====================  ==========================
``rows``        1       driven                  driven                driven
``iterations``  1       1                       kept_iterations       slowest of the step
``array``       1       driven                  driven                driven
``columns``     1       1                       kept_it. x kept_cols  ou_cycles x kept_cols
``products``    1       driven x w              driven x w            driven x w
==============  ======  ======================  ====================  ==========================

``conversions`` is ``columns`` with compact's ADC bits share (``ou_bits``: the energy and
time of a conversion of an operation unit's partial sums). ``rows``: DAC conversions and row drives; ``iterations``: the array's cycle time;
``array``: a crossbar's read energy (its current flows through the driven rows only); ``columns``: ADC conversions (SRAM
analog: the in-array converters); ``products``: an SRAM array's multipliers (per weight)
and, in digital arrays, its adder trees (per column), ``w`` the weight density.
``overhead_pj_per_row`` is the detectors' and skip logic's energy per driven row and
iteration, ``overhead_pj_per_ou_row`` compaction's index and mux energy per row of each
operation-unit cycle. ``skipped`` gives the shares of work a layer's mode saves against
the same mode without zeros (reports): ``input_cycles`` (bit iterations, or compact's
operation-unit cycles), ``adc_conversions``, ``row_drives`` and ``crossbars`` (the arrays
of one copy that structured zeros remove), each ``(N, L)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.design import DesignError
from costmodel.sparsity import SPARSE_MODES
from costmodel.sparsity.support import SparsitySupport
from costmodel.sparsity.tables import SparsityTables
from costmodel.technology import Technology

F = np.float32
NONE, GATE, SKIP, COMPACT = range(len(SPARSE_MODES))


@dataclass(frozen=True)
class SparsityFactors:
    """Multipliers of the dense per-iteration work, ``(N, L)`` float32 (module docstring)."""

    rows: np.ndarray
    iterations: np.ndarray
    array: np.ndarray
    columns: np.ndarray
    conversions: np.ndarray
    products: np.ndarray
    overhead_pj_per_row: np.ndarray
    overhead_pj_per_ou_row: np.ndarray
    ou_cycles: np.ndarray
    ou_rows: int
    skipped: dict[str, np.ndarray]


def sparsity_factors(tables: SparsityTables, tech: Technology, dac_index: np.ndarray, size_index: np.ndarray,
                     cell_index: np.ndarray, mode: np.ndarray, ou_bits_share: np.ndarray,
                     step_arrays: np.ndarray) -> SparsityFactors:
    """The factors of N designs: ``dac_index``, ``size_index`` and ``cell_index`` ``(N,)``
    index the technology's input-bit options, array sizes and cell-bits options, ``mode``
    ``(N, L)`` the layers' modes; ``ou_bits_share`` ``(N,)`` the share of its ADC's bits an
    operation unit's partial sums need (a successive-approximation ADC resolving fewer bits
    takes proportionally less energy and time); ``step_arrays`` ``(N, L)`` the arrays of one
    step whose inputs differ (every copy's row groups, or its weight tile's): compact's
    iteration lasts as long as the slowest of them, looked up in ``tables.ou_slowest`` at
    their log2 count (interpolated)."""
    support = tech.sparsity
    if support is None and (mode > NONE).any():
        raise DesignError(f"technology '{tech.name}' has no 'sparsity:' section, so its layers can use no sparsity "
                          "mode; copy the section from the bundled costmodel/tech/reram.yaml (or sram-*.yaml) or "
                          "set every layer's mode to none")
    if (mode < NONE).any() or (mode > COMPACT).any():
        raise DesignError(f"sparsity modes are codes 0..{COMPACT} ({', '.join(SPARSE_MODES)}); got "
                          f"{sorted(set(mode[(mode < NONE) | (mode > COMPACT)].tolist()))}")
    if tech.family == "sram_dimc" and (mode == COMPACT).any():
        raise DesignError("sparsity mode 'compact' (operation-unit row compaction) needs analog arrays; a digital "
                          "SRAM array gates or skips zeros: use none, gate or skip")
    at = (dac_index[:, None], size_index[:, None], np.arange(mode.shape[1])[None])
    driven, kept = tables.driven[at], tables.kept_iterations[at]
    ou = tables.ou_cycles[at]
    top = tables.ou_slowest.shape[-1] - 1
    x = np.clip(np.log2(np.maximum(step_arrays * tables.full_share[size_index], 1.0)), 0, top)
    lo = np.minimum(x.astype(np.int64), top - 1)
    below, above = tables.ou_slowest[(*at, lo)], tables.ou_slowest[(*at, lo + 1)]
    slowest = below + (x - lo) * (above - below)
    cols = tables.kept_columns[cell_index, size_index]
    ou_dense = tables.ou_cycles_dense[size_index]
    gating = mode >= GATE
    skip, compact = mode == SKIP, mode == COMPACT
    if support is None:                                                 # every mode none: nothing to pay
        support = SparsitySupport(zero_detect_energy_pj_per_row=0, skip_energy_pj_per_row=0,
                                  detector_area_mm2_per_row=0, detector_static_power_w_per_row=0, ou_rows=1,
                                  index_bits_per_row=1, index_read_energy_pj_per_bit=0, index_area_mm2_per_bit=0,
                                  mux_energy_pj_per_row=0)
    u = support.ou_rows
    iterations = np.where(skip, kept, np.where(compact, slowest, 1.0))
    detect = gating * support.zero_detect_energy_pj_per_row + (mode >= SKIP) * support.skip_energy_pj_per_row
    per_ou_row = compact * (support.index_bits_per_row * support.index_read_energy_pj_per_bit
                            + support.mux_energy_pj_per_row)
    cycles_kept = np.where(compact, ou / ou_dense, iterations)           # conversions: every array's cycles
    analog_columns = tech.family != "sram_dimc"
    skipped = {"input_cycles": 1 - cycles_kept,
               "adc_conversions": (1 - np.where(skip | compact, cycles_kept * cols, 1.0)) * analog_columns,
               "row_drives": np.where(gating, 1 - driven, 0.0),
               "crossbars": tables.removed_arrays[size_index]}
    return SparsityFactors(
        rows=np.where(gating, driven, 1.0).astype(F),
        iterations=iterations.astype(F),
        array=np.where(gating, driven, 1.0).astype(F),
        columns=np.where(skip, kept * cols, np.where(compact, ou * cols, 1.0)).astype(F),
        conversions=np.where(skip, kept * cols, np.where(compact, ou * cols * ou_bits_share[:, None], 1.0)).astype(F),
        products=np.where(gating, driven * tables.weight_density, 1.0).astype(F),
        overhead_pj_per_row=detect.astype(F),
        overhead_pj_per_ou_row=per_ou_row.astype(F),
        ou_cycles=np.where(compact, ou, 0.0).astype(F),
        ou_rows=u, skipped=skipped)
