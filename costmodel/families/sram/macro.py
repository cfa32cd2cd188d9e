"""The vectorised SRAM in-memory macro kernel (BACKGROUND.md section 9).

:func:`macro_costs` takes one technology (its unit gates, fits and node) and a
:class:`MacroBatch` of N designs (arrays of shape (N,)) and returns, per component, the
area (mm^2), the energy per cycle (pJ) and the critical-path delay (ns), the clock period
as the sum of the stage delays, MACs per cycle and the peak figures. No Python loop runs
per design.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from costmodel.families.sram import gates as g
from costmodel.families.sram.technology import MacroGeometry, SramTechnology

#: components, in the order the tables print them
COMPONENTS = ("cells", "dacs", "adcs", "multipliers", "bitlines", "adder_trees", "place_value_adders",
              "accumulators")


@dataclass(frozen=True)
class MacroBatch:
    """N macro designs, one entry per design in every array (shape (N,)).

    ``adc_bits`` is 0 for DIMC; ``cell_area_um2`` is one bitcell's area.
    """

    rows: np.ndarray
    cols: np.ndarray
    banks: np.ndarray
    weight_bits: np.ndarray
    activation_bits: np.ndarray
    input_bits_per_cycle: np.ndarray
    adc_bits: np.ndarray
    cells_per_weight_group: np.ndarray
    weight_bits_per_adc: np.ndarray
    booth_encoding: np.ndarray
    adc_area_bits: np.ndarray
    output_adder_bits: np.ndarray
    weight_bits_per_column: np.ndarray
    column_adder_bits: np.ndarray
    input_toggle_rate: np.ndarray
    weight_sparsity: np.ndarray
    cell_area_um2: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_geometries(cls, tech: SramTechnology, geoms: list[MacroGeometry],
                        cell_area_um2: float | None = None) -> "MacroBatch":
        """Designs ``geoms`` with the technology's activity and bitcell area (or ``cell_area_um2``)."""
        cols = {f.name: np.array([float(getattr(m, f.name) or 0) for m in geoms])
                for f in fields(cls) if f.name in MacroGeometry.model_fields}
        n = len(geoms)
        area = tech.cell.area_um2 if cell_area_um2 is None else cell_area_um2
        return cls(**cols, input_toggle_rate=np.full(n, tech.activity.input_toggle_rate),
                   weight_sparsity=np.full(n, tech.activity.weight_sparsity), cell_area_um2=np.full(n, float(area)))

    def row(self, i: int) -> "MacroBatch":
        """Design ``i`` alone, as a batch of one."""
        return MacroBatch(**{f.name: getattr(self, f.name)[i:i + 1] for f in fields(self)})


@dataclass(frozen=True)
class MacroCosts:
    """Per-component (N,) arrays keyed by :data:`COMPONENTS`, and the macro's figures."""

    area_mm2: dict[str, np.ndarray]
    energy_pj: dict[str, np.ndarray]
    delay_ns: dict[str, np.ndarray]
    macs_per_cycle: np.ndarray

    @property
    def total_area_mm2(self) -> np.ndarray:
        return sum(self.area_mm2.values())

    @property
    def energy_per_cycle_pj(self) -> np.ndarray:
        return sum(self.energy_pj.values())

    @property
    def tclk_ns(self) -> np.ndarray:
        """The clock period: the sum of the stage delays."""
        return sum(self.delay_ns.values())

    @property
    def peak_tops(self) -> np.ndarray:
        return 2 * self.macs_per_cycle / self.tclk_ns / 1e3

    @property
    def peak_tops_per_w(self) -> np.ndarray:
        return 2 * self.macs_per_cycle / self.energy_per_cycle_pj

    @property
    def peak_tops_per_mm2(self) -> np.ndarray:
        return self.peak_tops / self.total_area_mm2

    def summary(self, i: int) -> dict:
        """Design ``i``'s figures as plain floats (the ``pimtune macro --json`` shape)."""
        pick = lambda d: {k: float(v[i]) for k, v in d.items()}  # noqa: E731
        return {
            "tclk_ns": float(self.tclk_ns[i]), "tclk_breakdown_ns": pick(self.delay_ns),
            "area_mm2": float(self.total_area_mm2[i]), "area_breakdown_mm2": pick(self.area_mm2),
            "energy_per_cycle_pj": float(self.energy_per_cycle_pj[i]),
            "energy_breakdown_pj": pick(self.energy_pj),
            "macs_per_cycle": float(self.macs_per_cycle[i]), "peak_tops": float(self.peak_tops[i]),
            "peak_tops_per_w": float(self.peak_tops_per_w[i]),
            "peak_tops_per_mm2": float(self.peak_tops_per_mm2[i]),
        }


def macro_costs(tech: SramTechnology, b: MacroBatch) -> MacroCosts:
    """Area, energy per cycle and delay of every component of the N macros in ``b``.

    Logic (gates, bitlines) scales linearly in area and energy by node_nm / unit_gate_node_nm;
    the converters only where the file says so; bitcell area is the file's own.
    """
    gt = g.Gates.from_unit(tech.unit_gates)
    node = tech.node
    f = node.factor
    zero = np.zeros(len(b))
    per_col = b.cols * b.banks                                   # output channels, all banks
    cells = b.rows * per_col * b.weight_bits
    density = 1 - b.weight_sparsity
    switching = b.input_toggle_rate * density
    um2, fj = 1e-6, 1e-3                                         # -> mm^2, -> pJ
    area = {"cells": cells * b.cells_per_weight_group * b.cell_area_um2 * um2}
    energy = {"cells": zero}
    delay = {"cells": zero}

    if tech.is_analog:
        adcs_per_col = b.weight_bits / b.weight_bits_per_adc
        n_adc = adcs_per_col * per_col
        adc_area_f = f if node.scale_adc_area else 1.0
        adc_energy_f = f if node.scale_adc_energy else 1.0
        dac_energy_f = f if node.scale_dac_energy else 1.0
        area_bits = np.where(b.adc_area_bits > 0, b.adc_area_bits, b.adc_bits)
        area |= {"dacs": zero, "adcs": n_adc * g.adc_area_um2(tech.adc, area_bits) * adc_area_f * um2}
        energy |= {
            "dacs": b.rows * b.banks * g.dac_energy_fj(tech.dac, b.input_bits_per_cycle, gt.vdd2) * dac_energy_f * fj,
            "adcs": n_adc * g.adc_energy_fj(tech.adc, b.adc_bits, gt.vdd2) * density * adc_energy_f * fj,
        }
        delay |= {"dacs": zero, "adcs": g.adc_delay_ns(tech.adc, b.adc_bits, b.rows)}
        n_mult = cells
        weights = b.rows * per_col
        energy["bitlines"] = (cells * gt.bitline_energy_fj + weights * gt.enable_energy_fj) * density * f * fj
        # output_adder_bits: one register-less ripple-carry adder per output channel
        out_fas = b.output_adder_bits * per_col
        area["adder_trees"] = out_fas * gt.fa_area_um2 * f * um2
        energy["adder_trees"] = out_fas * gt.fa_energy_fj * density * f * fj
        delay["adder_trees"] = gt.rca_delay_ns(np.minimum(b.output_adder_bits, 1), b.output_adder_bits - 1)
        pv_inputs, pv_in_bits = adcs_per_col, b.adc_bits
        acc_bits = b.activation_bits + b.adc_bits + b.weight_bits
    else:
        area |= {"dacs": zero, "adcs": zero}
        energy |= {"dacs": zero, "adcs": zero, "bitlines": zero}
        delay |= {"dacs": zero, "adcs": zero}
        # radix-4 Booth: one (weight_bits + 1)-bit partial product per pair of input bits
        partial_products = b.input_bits_per_cycle / (1 + b.booth_encoding)
        operand_bits = b.weight_bits + b.booth_encoding
        n_mult = cells * partial_products
        depth = np.log2(b.rows)
        # weight_bits_per_column < weight_bits: a weight spread over weight_cols columns, one
        # tree per column over the products of the input slice and the column's weight bits
        wpc = np.where(b.weight_bits_per_column > 0, b.weight_bits_per_column, b.weight_bits)
        split = wpc < b.weight_bits
        weight_cols = b.weight_bits / wpc
        product_bits = np.ceil(np.log2((2 ** b.input_bits_per_cycle - 1) * (2 ** wpc - 1) + 1))
        trees = np.where(split, weight_cols, partial_products)
        tree_in_bits = np.where(split, product_bits, operand_bits)
        fas = g.adder_tree_full_adders(b.rows, tree_in_bits) * trees * per_col
        area["adder_trees"] = fas * gt.fa_area_um2 * f * um2
        energy["adder_trees"] = fas * gt.fa_energy_fj * switching * f * fj
        tree_bits = tree_in_bits + depth
        delay["adder_trees"] = gt.rca_delay_ns(depth, tree_bits - 2)
        # then the place-value adder across the input bits, or across the weight's columns
        pv_inputs, pv_in_bits = np.where(split, weight_cols, partial_products), tree_bits
        acc_bits = b.activation_bits + depth + b.weight_bits
    area["multipliers"] = n_mult * gt.mult_area_um2 * f * um2
    energy["multipliers"] = n_mult * gt.mult_energy_fj * switching * f * fj
    area["bitlines"] = zero
    delay["multipliers"], delay["bitlines"] = np.full(len(b), gt.mult_delay_ns), zero

    pv_fas = g.place_value_full_adders(pv_inputs, pv_in_bits) * per_col
    pv_delay = gt.rca_delay_ns(np.log2(pv_inputs), pv_inputs - 1)
    pv_out_bits = np.where(pv_inputs > 1, pv_in_bits + pv_inputs, pv_in_bits)
    if not tech.is_analog:
        # column_adder_bits: a binary adder tree of N-bit operands across the weight's columns
        # in place of the place-value adder (DIMC3's script: 8 inputs, 16 bits as given)
        col = b.column_adder_bits > 0
        col_depth = np.log2(pv_inputs)
        pv_fas = np.where(col, g.adder_tree_full_adders(pv_inputs, b.column_adder_bits) * per_col, pv_fas)
        pv_delay = np.where(col, gt.rca_delay_ns(col_depth, b.column_adder_bits + col_depth - 2), pv_delay)
        pv_out_bits = np.where(col, b.column_adder_bits + col_depth, pv_out_bits)
    area["place_value_adders"] = pv_fas * gt.fa_area_um2 * f * um2
    energy["place_value_adders"] = pv_fas * gt.fa_energy_fj * f * fj
    delay["place_value_adders"] = pv_delay

    accumulating = (b.input_bits_per_cycle < b.activation_bits) & (b.output_adder_bits == 0)
    acc_fas = np.where(accumulating, acc_bits * per_col, 0.0)
    area["accumulators"] = acc_fas * (gt.fa_area_um2 + gt.dff_area_um2) * f * um2
    energy["accumulators"] = acc_fas * (gt.fa_energy_fj + gt.dff_energy_fj) * f * fj
    delay["accumulators"] = np.where(
        accumulating, gt.fa_in_to_cout_ns + (acc_bits - pv_out_bits - 1) * gt.fa_cin_to_cout_ns, 0.0)

    macs = b.rows * per_col * b.input_bits_per_cycle / b.activation_bits
    order = lambda d: {k: d[k] for k in COMPONENTS}  # noqa: E731
    return MacroCosts(order(area), order(energy), order(delay), macs)
