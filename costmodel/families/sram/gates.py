"""Unit-gate building blocks of the SRAM macro model (BACKGROUND.md section 9), on arrays.

Areas in um^2, delays in ns, energies in fJ (C [fF] x V^2). Counts and precisions are
numpy arrays of shape (N,), one entry per macro design; the gate figures are scalars
from the technology file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.families.sram.technology import AdcFit, DacFit, UnitGates


@dataclass(frozen=True)
class Gates:
    """The 1-bit cells: full adder (3 NAND2 + 2 XOR2), multiplier (one NAND2), DFF."""

    vdd2: float             # V^2
    fa_area_um2: float
    fa_energy_fj: float
    mult_area_um2: float
    mult_energy_fj: float   # at the multiplier's switching fraction (static weight)
    dff_area_um2: float
    dff_energy_fj: float
    bitline_energy_fj: float  # per cell on a bitline
    enable_energy_fj: float   # per weight's enable line (0 without one)
    mult_delay_ns: float
    fa_in_to_sum_ns: float
    fa_in_to_cout_ns: float
    fa_cin_to_cout_ns: float

    @classmethod
    def from_unit(cls, g: UnitGates) -> "Gates":
        v2 = g.vdd_v ** 2
        xor_area, xor_cap = g.nand2_area_um2 * g.xor2_area_vs_nand2, g.nand2_cap_ff * g.xor2_cap_vs_nand2
        xor_delay = g.nand2_delay_ns * g.xor2_delay_vs_nand2
        return cls(
            vdd2=v2,
            fa_area_um2=3 * g.nand2_area_um2 + 2 * xor_area,
            fa_energy_fj=(3 * g.nand2_cap_ff + 2 * xor_cap) * v2,
            mult_area_um2=g.nand2_area_um2,
            mult_energy_fj=g.multiplier_switching_fraction * g.nand2_cap_ff * v2,
            dff_area_um2=g.nand2_area_um2 * g.dff_area_vs_nand2,
            dff_energy_fj=g.nand2_cap_ff * g.dff_cap_vs_nand2 * v2,
            bitline_energy_fj=g.cell_bitline_cap_ff * v2,
            enable_energy_fj=g.weight_enable_cap_ff * v2,
            mult_delay_ns=g.nand2_delay_ns,
            fa_in_to_sum_ns=2 * xor_delay,
            fa_in_to_cout_ns=xor_delay + 2 * g.nand2_delay_ns,
            fa_cin_to_cout_ns=2 * g.nand2_delay_ns,
        )

    def rca_delay_ns(self, depth, ripple_bits):
        """Critical path of a ripple-carry adder tree of ``depth`` levels: (d-1) in->sum,
        one in->cout, then ``ripple_bits`` carry-in->carry-out; 0 where depth is 0."""
        d = np.asarray(depth, dtype=float)
        t = (d - 1) * self.fa_in_to_sum_ns + self.fa_in_to_cout_ns + ripple_bits * self.fa_cin_to_cout_ns
        return np.where(d > 0, t, 0.0)


def adder_tree_full_adders(inputs, in_bits):
    """Full adders of a binary RCA tree of ``inputs`` operands of ``in_bits`` bits:
    inputs*(in_bits + 1) - (in_bits + log2(inputs) + 1)."""
    return inputs * (in_bits + 1) - (in_bits + np.log2(inputs) + 1)


def place_value_full_adders(inputs, in_bits):
    """Full adders of a place-value (shift-and-add) tree: in_bits*(n - 1) + n*(log2 n - 0.5);
    0 for a single input."""
    n = np.asarray(inputs, dtype=float)
    return np.where(n > 1, in_bits * (n - 1) + n * (np.log2(n) - 0.5), 0.0)


def adc_area_um2(fit: AdcFit, bits):
    b = np.asarray(bits, dtype=float)
    return np.where(b > 1, 10 ** (fit.area_log10_um2_per_bit * b + fit.area_log10_um2_offset) * 2 ** b, 0.0)


def adc_energy_fj(fit: AdcFit, bits, vdd2: float):
    b = np.asarray(bits, dtype=float)
    return (fit.energy_ff_per_bit * b + fit.energy_ff_per_4_pow_bits * 4 ** b) * vdd2


def adc_delay_ns(fit: AdcFit, bits, rows):
    return np.asarray(bits, dtype=float) * (fit.delay_ns_per_bit_per_row * rows + fit.delay_ns_per_bit)


def dac_energy_fj(fit: DacFit, input_bits, vdd2: float):
    b = np.asarray(input_bits, dtype=float)
    return np.where(b > 1, fit.energy_ff_per_input_bit * b * vdd2, 0.0)
