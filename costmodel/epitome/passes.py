"""The epitome reference: every crossbar pass of an epitome layer counted on its own
(MODEL.md section 11).

The fast model gives each occurrence of an epitome layer's iterated chain (one bit
iteration of one pass of a step, ``mvm -> adc -> shift_add``) the mean over the layer's
passes (:class:`~costmodel.epitome.mapping.Stored`: ``drive_share``, ``convert_share``,
``products``). :func:`epitome_occurrences` counts each pass of design ``n`` instead, for
the exact reference scheduler (:class:`~costmodel.opgraph.Occurrences`):

- a step's occurrences are pass-major: iteration ``pass * B + bit`` (``B`` the layer's bit
  iterations), passes ordered input block ``a`` outer, output block ``b`` inner
  (``pass = a * out_blocks + b``);
- input block ``a`` holds ``in_a = min(in, C_in/g - a * in)`` channels (the last may hold
  fewer); its passes drive the ``in_a * kh * kw`` rows of its window in every array of the
  copy (each stored group, each column piece), per weight slice;
- output block ``b`` holds ``c_b = min(out, C_out - b * out)`` channels; its passes
  convert the physical columns that hold them in every row piece
  (:func:`~costmodel.epitome.mapping.block_columns`: stored groups of ``min(out, C_out/g)``
  channels filled in order, SRAM packing ``pack`` channels per column), per weight slice,
  and multiply ``in_a * kh * kw * c_b`` weights (SRAM: the cells of those weights);
- every array of a running copy is read on every pass;
- step ``s`` runs ``min(dup, pixels - s * dup)`` copies: the last step of a layer runs
  fewer when ``dup`` does not divide its output pixels. A tiled layer (one copy, ``T``
  weight tiles) does ``1/T`` of each pass's work on each tile's step, MODEL.md section 8's
  rule (the dense reference's too);
- the address tables (one lookup in each of the three per pass and copy) are charged at
  the first bit iteration of each pass, a row mux per driven row and a column mux per
  converted column at every iteration; the lookups before a step's first pass are the
  ``feed`` operation's, whose duration the resolve step sets.

Each occurrence's work is priced with the evaluator's formulas
(:mod:`costmodel.occurrence_figures`): ``mvm`` energy (crossbar reads, DAC rows, SRAM cells
and columns, tables and muxes), ``adc`` energy and duration (conversions x ``t_adc`` over
the macro set's ADCs) and ``shift_add`` likewise; ``mvm`` keeps its duration. The fast
model's step is the mean over the passes and over the layer's steps (its copies that run,
:func:`costmodel.resolve.resolve`): summed over the layer, every count is the model's
exactly, for any epitome, full blocks or not; the schedule sees how the passes and the
steps differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.array_figures import ArrayFigures, array_figures
from costmodel.design import DesignBatch
from costmodel.epitome.mapping import LayerDims, block_columns, ceil_div
from costmodel.layer_map import LayerMap
from costmodel.occurrence_figures import iterated_energies, unit_durations
from costmodel.opgraph import Occurrences

F = np.float32


@dataclass(frozen=True)
class PassCounts:
    """One copy's work in each crossbar pass of an epitome layer, per weight slice;
    ``(passes,)`` float64 each, pass ``a * out_blocks + b``.

    Attributes:
        rows: rows driven (every array of the copy).
        columns: physical columns converted (every row piece).
        products: weights multiplied (``in_a * kh * kw * c_b``).
    """

    rows: np.ndarray
    columns: np.ndarray
    products: np.ndarray


def _at(x, m: LayerMap, n: int, j: int, tail: tuple[int, ...] = ()):
    """Design ``n``'s value of weighted layer ``j`` in a field of ``m`` shaped
    ``(L,) + tail`` (every design's) or ``(N, L) + tail`` (per design)."""
    return np.broadcast_to(x, m.row_groups.shape + tail)[n, j]


def pass_counts(m: LayerMap, dims: LayerDims, n: int, j: int) -> PassCounts:
    """The :class:`PassCounts` of weighted layer ``j`` of design ``n`` (``m`` its
    :class:`~costmodel.layer_map.LayerMap`, ``dims`` the network's
    :class:`~costmodel.epitome.mapping.LayerDims`), an epitome layer (module docstring).

    Raises:
        ValueError: the layer stores no epitome.
        AssertionError: the copy's geometry in ``m`` does not hold the stored groups whole.
    """
    st = m.stored
    if not _at(st.epitome, m, n, j):
        raise ValueError(f"design {n}: weighted layer {j} stores no epitome")
    out, in_, _, _ = (int(v) for v in _at(st.shape, m, n, j, (4,)))
    cout, cin_g, kh, kw, g = (int(getattr(dims, k)[j]) for k in ("cout", "cin_g", "kh", "kw", "groups"))
    in_blocks, out_blocks, rows_g, cols_g, groups, pack = (
        int(_at(v, m, n, j)) for v in (st.in_blocks, st.out_blocks, st.rows_g, st.cols_g, st.groups, st.pack))
    rows_total, cols_read = int(m.rows_total[n, j]), int(m.cols_read[n, j])
    if rows_total % rows_g or cols_read % (cols_g * groups):
        raise AssertionError(f"design {n}: weighted layer {j}: {rows_total} rows and {cols_read} columns per copy "
                             f"do not hold whole stored groups of {rows_g} x {cols_g}")
    in_a = np.minimum(in_, cin_g - in_ * np.arange(in_blocks))                # channels of each input block
    c_b = np.minimum(out, cout - out * np.arange(out_blocks))                 # channels of each output block
    window = (in_a * kh * kw).astype(float)
    cols = block_columns(c_b, min(out, cout // g), pack) * (cols_read // (cols_g * groups))
    return PassCounts(rows=np.repeat(window * (rows_total // rows_g), out_blocks),
                      columns=np.tile(cols.astype(float), in_blocks),
                      products=np.outer(window, c_b).ravel().astype(float))


def step_copies(r, n: int, j: int) -> np.ndarray:
    """``(steps,)`` copies each step of weighted layer ``j`` of design ``n`` runs, over its
    weight tiles (a tile's step: ``1/T`` of its one copy): ``min(dup, pixels - s * dup)``
    for pixel step ``s``, tile by tile."""
    l = int(r.workload.layer_of_w[j])
    dup, pixels, T = int(r.dup[n, l]), int(r.workload.out_pixels[l]), int(r.tiles.count[n, j])
    copies = np.tile(np.minimum(dup, pixels - dup * np.arange(int(ceil_div(pixels, dup)))), T) / T
    if len(copies) != int(r.steps[n, l]):
        raise AssertionError(f"layer {l}: {len(copies)} steps counted, the design has {int(r.steps[n, l])}")
    return copies


def epitome_occurrences(resolved, n: int, batch: DesignBatch) -> dict[int, Occurrences]:
    """Layer index -> :class:`~costmodel.opgraph.Occurrences` of every epitome layer of
    design ``n`` of ``resolved`` (resolved from ``batch``), pass by pass (module
    docstring). Empty for a design without epitome layers."""
    m = resolved.layer_map
    has = np.broadcast_to(m.stored.epitome, (resolved.n, resolved.workload.n_weighted))[n]
    if not has.any():
        return {}
    a = array_figures(resolved.tech, batch.subset(n))
    return {int(resolved.workload.layer_of_w[j]): _layer(resolved, n, int(j), a) for j in np.flatnonzero(has)}


def copy_work(r, n: int, j: int, a: ArrayFigures) -> dict[str, np.ndarray]:
    """Work key (:func:`costmodel.resolve._occurrence_energy`'s) -> ``(passes * B,)`` count
    of one copy in each occurrence of a step of weighted layer ``j`` of design ``n``
    (iteration ``pass * B + bit``), with the epitome datapath's energy (``epitome_pj``, pJ)."""
    tech, m = r.tech, r.layer_map
    c = pass_counts(m, r.workload.dims, n, j)
    B, slices = int(m.bit_iterations[n, j]), int(_at(m.slices, m, n, j))
    iterations = len(c.rows) * B
    rows, used = slices * np.repeat(c.rows, B), slices * np.repeat(c.columns, B)
    arrays = np.full(iterations, float(m.row_groups[n, j] * m.col_groups[n, j] * slices))
    e = tech.epitome
    lookups = sum(t.read_energy_pj_per_access for t in (e.input_address_table, e.reuse_table, e.output_address_table))
    work = {
        "crossbars": arrays,
        "dac_conv": rows,
        "adc_conv": used if tech.counting.adc_conversions == "used_columns" else arrays * float(r.xbar_size[n]),
        "shift_add": used * F(a.shift_add_outside / tech.vector_units.width),
        "epitome_pj": rows * e.row_mux_energy_pj_per_row + used * e.column_mux_energy_pj_per_column
        + (np.arange(iterations) % B == 0) * lookups,                       # the tables: a pass's first iteration
    }
    if tech.sram is not None:
        work["cells"] = np.repeat(c.products, B) * float(_at(m.cell_share, m, n, j))
    return work


def _layer(r, n: int, j: int, a: ArrayFigures) -> Occurrences:
    """The :class:`~costmodel.opgraph.Occurrences` of epitome layer ``j`` of design ``n``."""
    l = int(r.workload.layer_of_w[j])
    work = copy_work(r, n, j, a)
    if len(work["crossbars"]) != int(r.iterations[n, l]):
        raise AssertionError(f"layer {l}: {len(work['crossbars'])} occurrences per step counted, "
                             f"the design has {int(r.iterations[n, l])}")
    copies = step_copies(r, n, j)
    energies = {k: np.outer(copies, v) for k, v in iterated_energies(r, n, work).items()}
    durations = {k: np.outer(copies, v) for k, v in unit_durations(r, n, l, a, work).items()}
    return Occurrences(durations_ns=durations, energies_nj=energies)
