"""ReRAM crossbars (family ``analog_crossbar``): the array record from the technology
file's tables (MODEL.md section 2)."""

from __future__ import annotations

import numpy as np

from costmodel.array_figures import ArrayFigures, index_of
from costmodel.technology import Technology, adc_bits_required


def crossbar_figures(tech: Technology, g: dict) -> ArrayFigures:
    """ReRAM crossbars: table lookups by size, cell bits and DAC bits, and the ADC the
    precision rule needs (MODEL.md section 2)."""
    tb = tech.tables
    si = index_of(tb.xbar_sizes, g["xbar_size"], "xbar_size")
    ci = index_of(tb.cell_bits, g["cell_bits"], "cell_bits")
    di = index_of(tb.dac_bits, g["dac_bits"], "dac_bits")
    A, Wb = tech.precision.activation_bits, tech.precision.weight_bits
    slices = -(-Wb // g["cell_bits"])
    need = np.clip(adc_bits_required(g["xbar_size"], g["dac_bits"], g["cell_bits"]), 0, 64)
    adc = [np.nan_to_num(a[need]) for a in (tb.adc_static, tb.adc_dynamic, tb.adc_latency, tb.adc_area, tb.adc_peak)]
    t_xbar, t_dac = tb.xbar_latency[si, ci], tb.dac_latency[di]
    zero = np.zeros(len(si))
    return ArrayFigures(
        size_index=si, rows=g["xbar_size"], cols=g["xbar_size"], slices=slices, cells_per_weight=slices,
        iterations=-(-A // g["dac_bits"]), step_ns=t_xbar, dac_ns=t_dac,
        array_static_w=tb.xbar_static[si, ci], array_peak_w=tb.xbar_peak[si, ci], array_area_mm2=tb.xbar_area[si, ci],
        array_nj=tb.xbar_dynamic[si, ci] * t_xbar, dac_nj=tb.dac_dynamic[di] * t_dac, cell_nj=zero, column_nj=zero,
        dac_static_w=tb.dac_static[di], dac_peak_w=tb.dac_peak[di], dac_area_mm2=tb.dac_area[di],
        adc_static_w=adc[0], adc_dynamic_w=adc[1], adc_ns=adc[2], adc_area_mm2=adc[3], adc_peak_w=adc[4],
        adc_bits=tb.adc_bits[need], no_adc=np.isnan(tb.adc_latency[need]), shift_add_outside=1.0,
    )
