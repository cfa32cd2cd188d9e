"""The sparsity reference: what one design's zeros actually skip, occurrence by occurrence
(MODEL.md section 10).

The fast model scales one bit iteration's dense work and time by expected shares
(:mod:`costmodel.sparsity.factors`). :func:`sampled_occurrences` counts instead, for each
layer of design ``n`` whose mode is gate, skip or compact, on one inference's actual
zeros (:class:`~costmodel.sparsity.patterns.ZeroPatterns`):

- the copy's arrays: the layer's kept weight matrix laid out on the design's arrays
  (:mod:`costmodel.sparsity.layout`); a tiled layer's tile holds its share of the row
  blocks and column groups (MODEL.md 8), its steps run tile by tile (column tile outer,
  row tile inner);
- step ``s``'s copy ``c`` computes output pixel ``s * dup + c`` (raster order; none past
  the last pixel) and drives its unrolled input (zero padding included);
- bit iteration ``i`` drives bits ``i k .. i k + k - 1`` of the codes (``k`` the design's
  input bits per cycle, least significant first). In each array a row is *driven* when
  its input slice is non-zero and its weights in the array are not all zero.

Per step and iteration, against the step's dense work on the same arrays (all rows
driven once, every column converted once):

==============  ==========================  =============================  ==================================
share           gate                        skip                           compact
==============  ==========================  =============================  ==================================
rows            rows driven / rows held     same                           same
array           mean over arrays of their driven share (a crossbar's read current)
products        non-zero weights in driven rows / weights held
columns         1                           copies that run x their        operation-unit cycles x kept
                                            kept columns / all columns     columns, summed over arrays
conversions     1                           columns                        columns x ou_bits
time            1                           1 if any copy runs, else 0     the slowest array's cycles
==============  ==========================  =============================  ==================================

A copy's iteration runs (skip) when it drives some row; an array's operation-unit cycles
(compact) are ``ceil(driven rows / ou_rows)``, and the step's iteration lasts as long as
its slowest array (over all copies), whose expectation the fast model takes. Kept
columns are the column pieces of the array's weight slices (``slices = weight bits /
cell bits`` arrays, one per ``c``-bit slice; SRAM: one, whole weights) whose slice is
non-zero in some weight of the piece, over ``slices`` x its columns; the codes are the
loader's (:meth:`~costmodel.sparsity.patterns.ZeroPatterns.weight_slices`, at the
technology's weight bits and the design's cell bits). ``ou_bits`` is the share of its
ADC's resolution an operation unit's partial sum needs
(:func:`costmodel.sparsity.applied.ou_bits_share`).

The occurrence's work is the resolve step's dense per-step work times these shares
(rows: DAC conversions, array: crossbar reads, conversions: ADC conversions (SRAM
analog: the in-array converters), columns: shift-and-add, products: an SRAM array's
multipliers and, in digital arrays, its adder trees), its energies the evaluator's
formulas of them (:func:`costmodel.resolve._occurrence_energy`), its durations the dense
ones times the time share (mvm) or its work over the units (adc, shift_add); gate keeps
every duration.
The zero detectors' energy (every driven row position, every iteration) and compaction's
index and mux energy (per operation-unit cycle and row) are each step's overhead.
"""

from __future__ import annotations

from math import ceil
import numpy as np

from costmodel.array_figures import ArrayFigures, array_figures
from costmodel.design import DesignBatch
from costmodel.occurrence_figures import iterated_energies, unit_durations
from costmodel.opgraph import Occurrences
from costmodel.sparsity.applied import ou_bits_share
from costmodel.sparsity.factors import COMPACT, GATE, SKIP
from costmodel.sparsity.layout import Layout, layout
from costmodel.sparsity.patterns import ZeroPatterns, unrolled_inputs
from costmodel.workload import kept_matrix

F = np.float32


def sampled_occurrences(resolved, n: int, batch: DesignBatch, patterns: ZeroPatterns,
                        sample: int = 0) -> dict[int, Occurrences]:
    """Layer index -> :class:`~costmodel.opgraph.Occurrences` of every layer of design
    ``n`` of ``resolved`` (resolved from ``batch``) whose mode is gate, skip or compact, on
    inference ``sample`` of ``patterns`` (module docstring). Empty for a design without
    sparse layers."""
    if resolved.sparse is None:
        return {}
    out = {}
    modes = batch.sparse_mode[n]
    one = batch.subset(n)
    figures = array_figures(resolved.tech, one)
    bits_share = float(ou_bits_share(resolved.tech, one, figures)[0])
    for j in np.flatnonzero(modes >= GATE):
        out[int(resolved.workload.layer_of_w[j])] = _layer(resolved, n, batch, figures, bits_share, patterns, sample,
                                                           int(j), int(modes[j]))
    return out


def _layer(r, n: int, batch: DesignBatch, a: ArrayFigures, bits_share: float, patterns: ZeroPatterns, sample: int,
           j: int, mode: int) -> Occurrences:
    """The occurrences of weighted layer ``j`` of design ``n`` (array figures ``a``, its
    operation units' ADC bits share ``bits_share``) in ``mode``."""
    tech, wl = r.tech, r.workload
    l = int(wl.layer_of_w[j])
    layer = patterns.network.layers[l]
    si = tech.xbar_sizes.index(int(r.xbar_size[n]))
    dens = r.densities
    kept = (kept_matrix(layer, dens.zero_rows[j], dens.zero_cols[j]) if dens is not None
            else (layer.matrix_rows, layer.matrix_cols))
    weight_bits, cell_bits = tech.precision.weight_bits, int(batch.cell_bits[n])
    lay = layout(layer, patterns.weight_mask(layer, j), patterns.weight_slices(layer, j, weight_bits, cell_bits),
                 kept, tech.xbar_sizes[si], tech.array_cols[si])
    _check_geometry(lay, wl, si, j, l)
    k = int(batch.dac_bits[n])
    driven, products = _counts(lay, unrolled_inputs(layer, patterns.input_codes(layer, j, sample)),
                               int(r.iterations[n, l]), k, tech.sram is not None)
    dup = int(r.dup[n, l])
    T_r, T_c = int(r.tiles.rows[n, j]), int(r.tiles.cols[n, j])
    shares = _shares(lay, -(-weight_bits // cell_bits), driven, products, dup, T_r, T_c, mode, tech,
                     float(r.xbar_size[n]))
    if mode >= SKIP:                                                   # compact's conversions resolve fewer bits
        shares["conversions"] = shares["columns"] * (bits_share if mode == COMPACT else 1.0)
    return _occurrences(r, n, a, j, l, lay, dup, T_r * T_c, mode, shares)


def _check_geometry(lay: Layout, wl, si: int, j: int, l: int) -> None:
    """The layout's arrays are the workload's (its row groups, column groups, rows and columns)."""
    got = (lay.row_blocks, lay.col_groups, int(lay.rows.sum()) * lay.col_groups, int(lay.cols.sum()),
           int(lay.weights.sum()))
    want = (int(wl.row_groups[si, j]), int(wl.col_groups[si, j]), int(wl.rows_total[si, j]),
            int(wl.cols_read[si, j]), int(wl.weights[l]))
    if got != want:
        raise AssertionError(f"layer {l}: sampled layout {got} differs from the workload's geometry {want}")


def _counts(lay: Layout, inputs: np.ndarray, iterations: int, k: int,
            with_products: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``(driven, products)``, each ``(B, n_rb, P, cg)`` float32: per bit iteration, array
    and output pixel, the rows driven and (``with_products``, else None) their non-zero
    weights."""
    mask = (1 << k) - 1
    gathered = inputs[:, lay.row_index]                                # (P, n_rb, Wr)
    P = inputs.shape[0]
    driven = np.empty((iterations, lay.row_blocks, P, lay.col_groups), dtype=F)
    products = np.empty_like(driven) if with_products else None
    for b in range(iterations):
        active = (((gathered >> (b * k)) & mask) != 0).astype(F).transpose(1, 0, 2)    # (n_rb, P, Wr)
        np.matmul(active, lay.nonzero, out=driven[b])
        if with_products:
            np.matmul(active, lay.products, out=products[b])
    return driven, products


def _tile_starts(total: int, parts: int) -> np.ndarray:
    """First index of each of ``parts`` tiles of ``ceil(total / parts)`` (MODEL.md 8)."""
    starts = np.arange(parts) * ceil(total / parts)
    if starts[-1] >= total:
        raise AssertionError(f"{parts} tiles of {total} leave one empty")
    return starts


def _shares(lay: Layout, slices: int, driven, products, dup: int, T_r: int, T_c: int, mode: int, tech,
            xbar_size: float) -> dict:
    """Per occurrence ``(T * steps, B)`` shares of the dense work (module docstring; the
    products' only with ``products``; ``slices`` the arrays of one weight's bit slices
    ``lay``'s kept slice columns count) and the time multiplier, plus each array's mean
    operation-unit cycles (compact)."""
    B, n_rb, P, cg = driven.shape
    steps = ceil(P / dup)
    grid = np.zeros((B, n_rb, steps * dup, cg), dtype=F)

    def per_copy(x):                                                   # (B, n_rb, steps, dup, cg)
        grid[:, :, :P] = x
        return grid.reshape(B, n_rb, steps, dup, cg).copy()

    rs, cs = _tile_starts(n_rb, T_r), _tile_starts(cg, T_c)

    def tiles(x, reduce=np.add):                                       # each tile's arrays: (B, T_r, steps, dup, T_c)
        return reduce.reduceat(reduce.reduceat(x, rs, axis=1), cs, axis=4)

    def per_tile(a):                                                   # (n_rb, cg) per array -> (T_r, T_c) per tile
        return np.add.reduceat(np.add.reduceat(a.astype(float), rs, axis=0), cs, axis=1)

    def occurrence(x):                                                 # (B, T_r, steps, T_c) -> (T_c * T_r * steps, B)
        return x.transpose(3, 1, 2, 0).reshape(-1, B)

    d = per_copy(driven)
    ones = np.ones_like(lay.cols, dtype=float)
    held_rows = per_tile(lay.rows[:, None] * ones)[None, :, None, :]
    arrays = per_tile(ones)[None, :, None, :]
    out = {
        "rows": occurrence(tiles(d).sum(3) / (dup * held_rows)),
        "array": occurrence(tiles(d / lay.rows[None, :, None, None, None].astype(F)).sum(3) / (dup * arrays)),
    }
    if products is not None:
        out["products"] = occurrence(tiles(per_copy(products)).sum(3) / (dup * per_tile(lay.weights)[None, :, None, :]))
    if mode == GATE:
        return out
    # conversions of an array per cycle: its kept slice columns' share of the columns (or
    # physical columns) every slice's array converts
    converts = lay.cols if tech.counting.adc_conversions == "used_columns" else np.full(lay.cols.shape, xbar_size)
    kept = (lay.kept_slice_cols / (slices * lay.cols) * converts)[None, :, None, None, :]
    every = dup * per_tile(converts)[None, :, None, :]
    if mode == SKIP:
        runs = tiles(d) > 0                                            # (B, T_r, steps, dup, T_c): a copy drives a row
        kept_t = tiles(np.broadcast_to(kept, (1, n_rb, 1, 1, cg)))     # (1, T_r, 1, 1, T_c)
        out["columns"] = occurrence((runs * kept_t).sum(3) / every)
        out["time"] = occurrence(runs.any(3).astype(float))
        return out
    cycles = np.ceil(d / F(tech.sparsity.ou_rows))
    out["columns"] = occurrence(tiles(cycles * kept).sum(3) / every)
    out["time"] = occurrence(tiles(cycles, np.maximum).max(3))
    out["ou_per_array"] = occurrence(tiles(cycles).sum(3) / (dup * arrays))
    return out


def _occurrences(r, n: int, a: ArrayFigures, j: int, l: int, lay: Layout, dup: int, T: int, mode: int,
                 shares: dict) -> Occurrences:
    """The :class:`Occurrences` of weighted layer ``j`` (layer ``l``) of design ``n``
    (array figures ``a``) from its ``shares``."""
    tech = r.tech
    slices = int(r.slices[n])
    per_step = dup / T                                                 # a tile's step: 1/T of the copies' work
    rows = per_step * slices * float(lay.rows.sum() * lay.col_groups)
    arrays = per_step * slices * float(lay.row_blocks * lay.col_groups)
    used = per_step * slices * float(lay.cols.sum())
    digital = tech.family == "sram_dimc"
    work = {
        "dac_conv": rows * shares["rows"], "crossbars": arrays * shares["array"],
        "adc_conv": (used if tech.counting.adc_conversions == "used_columns" else arrays * float(r.xbar_size[n]))
        * (shares["products"] if digital else shares.get("conversions", 1.0)),
        "shift_add": used * F(1.0 / tech.vector_units.width) * a.shift_add_outside * shares.get("columns", 1.0),
    }
    if tech.sram is not None:
        work["cells"] = per_step * float(lay.weights.sum()) * shares["products"]
    energies = iterated_energies(r, n, work)                           # every work array has the occurrences' shape
    f = r.sparse
    overhead = rows * float(f.overhead_pj_per_row[n, j]) * shares["rows"].shape[1] * np.ones(shares["rows"].shape[0])
    if mode == COMPACT:
        overhead = overhead + (arrays * shares["ou_per_array"] * f.ou_rows
                               * float(f.overhead_pj_per_ou_row[n, j])).sum(1)
    durations = {}
    if mode >= SKIP:
        durations["mvm"] = F(a.dac_ns[0] + a.step_ns[0]) * shares["time"]
        durations.update(unit_durations(r, n, l, a, work))
    return Occurrences(durations_ns=durations, energies_nj=energies, overhead_nj=overhead * 1e-3)
