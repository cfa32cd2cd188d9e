"""The in-memory arrays of N designs, whatever their family: one record the resolve step
reads (MODEL.md sections 2 and 9).

:func:`array_figures` looks up the crossbar family's tables (ReRAM: crossbar, DAC and the
ADC the resolution rule asks for) or computes the SRAM macro model
(:mod:`costmodel.families.sram.network`). Every array is ``(N,)``.

An array step's dynamic energy is, in nJ,
``crossbars * array_nj + rows * dac_nj + cells * cell_nj + columns * column_nj`` over the
arrays, rows, weights and columns it uses; the ReRAM family puts it all in the first two
terms (a crossbar's read and its DACs), the SRAM family in the last three (converters or
adder trees per column, multipliers and bitlines per weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.budgets import crossbars_affordable
from costmodel.design import DesignBatch, DesignError
from costmodel.technology import Technology


@dataclass(frozen=True)
class ArrayFigures:
    """Per-design figures of one array and its converters (``(N,)`` each).

    Attributes:
        size_index: index of the array shape (``tech.xbar_sizes`` order) for the
            workload's geometry tables.
        rows, cols: array rows and output-channel columns.
        slices: arrays holding the bits of one weight (ReRAM: weight bits / cell bits).
        cells_per_weight: cells one weight occupies (written on a reload).
        iterations: input bit iterations per step (activation bits / bits fed per cycle).
        step_ns: one iteration of the array (ReRAM: crossbar read; SRAM: the clock period);
            dac_ns before it (0 in SRAM: in the clock period).
        array_static_w, array_peak_w, array_area_mm2: one array's leakage, peak power, area.
        array_nj, dac_nj, cell_nj, column_nj: dynamic energy per iteration of one array,
            one driven row, one used weight and one used column (see the module docstring).
        dac_static_w, dac_peak_w, dac_area_mm2: one DAC (0 where DACs are inside the array).
        adc_*: one ADC unit of the allocated periphery (0 where the array converts itself);
            ``no_adc`` designs whose required resolution no ADC offers; ``adc_bits`` the
            resolution used (NaN: none).
        shift_add_outside: 1.0 where bit iterations are merged by shift-add vector units
            (ReRAM), 0.0 where the array accumulates them (SRAM).
    """

    size_index: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    slices: np.ndarray
    cells_per_weight: np.ndarray
    iterations: np.ndarray
    step_ns: np.ndarray
    dac_ns: np.ndarray
    array_static_w: np.ndarray
    array_peak_w: np.ndarray
    array_area_mm2: np.ndarray
    array_nj: np.ndarray
    dac_nj: np.ndarray
    cell_nj: np.ndarray
    column_nj: np.ndarray
    dac_static_w: np.ndarray
    dac_peak_w: np.ndarray
    dac_area_mm2: np.ndarray
    adc_static_w: np.ndarray
    adc_dynamic_w: np.ndarray
    adc_ns: np.ndarray
    adc_area_mm2: np.ndarray
    adc_peak_w: np.ndarray
    adc_bits: np.ndarray
    no_adc: np.ndarray
    shift_add_outside: float


def array_figures(tech: Technology, g: DesignBatch | dict) -> ArrayFigures:
    """The arrays of designs on ``tech`` (either family); ``g`` holds (N,) globals
    ``xbar_size``, ``cell_bits``, ``dac_bits`` and ``adc_bits`` (a DesignBatch or a dict;
    a missing ``adc_bits`` is 0)."""
    g = _globals(g)
    if tech.sram is not None:
        from costmodel.families.sram.network import sram_array_figures
        return sram_array_figures(tech, g)
    from costmodel.families.crossbar import crossbar_figures
    return crossbar_figures(tech, g)


def affordable_arrays(tech: Technology, g: DesignBatch | dict, power_w, area_mm2=None,
                      eps: float = 1e-9) -> np.ndarray:
    """(N,) arrays the crossbar share ``g["rram_ratio"]`` of the budgets pays for: the
    fewer of what the power (W) and the area (mm^2) buy
    (:func:`costmodel.budgets.crossbars_affordable` with each design's array figures)."""
    a = array_figures(tech, g)
    return crossbars_affordable(power_w, area_mm2, _globals(g)["rram_ratio"], a.array_peak_w, a.array_area_mm2, eps)


def _globals(g: DesignBatch | dict) -> dict[str, np.ndarray]:
    if isinstance(g, DesignBatch):
        g = {k: getattr(g, k) for k in ("rram_ratio", "xbar_size", "cell_bits", "dac_bits", "adc_bits")}
    n = len(np.atleast_1d(g["xbar_size"]))
    out = {k: np.broadcast_to(np.asarray(v), (n,)) for k, v in g.items()}
    out.setdefault("adc_bits", np.zeros(n, dtype=np.int64))
    return out


def index_of(options: np.ndarray, values: np.ndarray, name: str) -> np.ndarray:
    """Indices of ``values`` in the sorted ``options``; DesignError naming the choices if any is not offered."""
    idx = np.minimum(np.searchsorted(options, values), len(options) - 1)
    if (options[idx] != values).any():
        wrong = sorted(set(values[options[idx] != values].tolist()))
        raise DesignError(f"{name} {wrong} not offered by the technology; choose from {options.tolist()}")
    return idx
