"""Traffic beyond the arrays: weight reloads, activations between segments, partial sums.

``offchip_traffic(...) -> Offchip`` applies MODEL.md section 8 to N designs at once: how
many bits each design moves per inference between DRAM, the global buffer and the
arrays, what that costs (nJ) and how long the DRAM port and the array writes take per
batch and segment (ns). Shapes: ``(N,)`` per design, ``(N, L)`` per weighted layer,
``(N, S)`` per segment (:mod:`costmodel.segments`). Float64 throughout (these arrays are
small).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.reduce import row_max, row_sum
from costmodel.segments import Tiles, segment_max, segment_sum
from costmodel.technology import Technology
from costmodel.workload import Workload

WEIGHT_STATIONARY, INPUT_STATIONARY, OUTPUT_STATIONARY = 0, 1, 2


@dataclass(frozen=True)
class Offchip:
    """Off-array traffic of N designs.

    Attributes:
        reloads: (N, L) times each layer's weights are written into the arrays per batch
            (0: resident for good; 1: once per batch; ``batch``: once per inference).
        reload_energy_nj: (N, L) DRAM reads plus array writes of each layer's weights,
            per inference.
        energy_nj: ``{"dram", "array_write", "global_buffer"}`` -> (N,) per inference.
        dram_bits: (N,) bits read from and written to DRAM per inference.
        reload_ns: (N, S) time per batch to load each segment's weights (the DRAM
            transfer and the array writes overlap: the longer of the two).
        dram_ns: (N, S) time per batch of each segment's activation and partial-sum
            traffic on the DRAM port (it overlaps the segment's computation).
        spilled: (N, La) 1 where a layer's output crosses a segment boundary through DRAM
            (it does not fit the global buffer), 0 through the buffer or not at all.
        writes_per_cell: (N,) array writes of the most rewritten cell per inference.
        has_buffer: (N,) whether the design needs the global buffer (it reloads).
        buffer_kib: (N,) its global buffer's capacity (KiB): the design's choice, or the
            technology's ``global_buffer.capacity_kib`` where it chose none; 0 without a
            buffer.
    """

    reloads: np.ndarray
    reload_energy_nj: np.ndarray
    energy_nj: dict[str, np.ndarray]
    dram_bits: np.ndarray
    reload_ns: np.ndarray
    dram_ns: np.ndarray
    spilled: np.ndarray
    writes_per_cell: np.ndarray
    has_buffer: np.ndarray
    buffer_kib: np.ndarray


def offchip_traffic(wl: Workload, tech: Technology, seg: np.ndarray, seg_a: np.ndarray, tiles: Tiles,
                    dup: np.ndarray, slices: np.ndarray, cells_per_weight: np.ndarray, rows_per_copy: np.ndarray,
                    weights: np.ndarray, weight_bits: np.ndarray,
                    batch: np.ndarray, buffer_kib: np.ndarray,
                    dataflow: np.ndarray, S: int, host_w: np.ndarray,
                    set_macros: np.ndarray, row_groups: np.ndarray, col_groups: np.ndarray) -> Offchip:
    """Traffic of N designs (MODEL.md section 8).

    ``seg`` (N, L) and ``seg_a`` (N, La) are the segments of the weighted and of all
    layers; ``dup`` (N, L) the copies; ``slices`` (N, L) the arrays holding one weight's
    bits and ``cells_per_weight`` (N, L) the cells it occupies (a ReRAM weight: one per
    slice; an SRAM weight: one per bit); ``rows_per_copy`` (N, L) the array rows one
    copy's weights occupy (per slice); ``weights`` and ``weight_bits`` (L,) or (N, L)
    the values one copy stores and their bits;
    ``batch`` (N,); ``buffer_kib`` (N,) the global buffer's capacity (KiB; 0: the
    technology's); ``dataflow`` (N, L) codes; ``host_w`` (N, L) the macro set of each
    weighted layer, ``set_macros`` (N, L) the macros of each set; ``row_groups``,
    ``col_groups`` (N, L) of one copy."""
    n, L = seg.shape
    if S == 1 and not tiles.tiled.any():                        # nothing reloads, nothing crosses
        zero = np.zeros(n)
        return Offchip(reloads=np.zeros((n, L)), reload_energy_nj=np.zeros((n, L)),
                       energy_nj={k: zero for k in ("dram", "array_write", "global_buffer")}, dram_bits=zero,
                       reload_ns=np.zeros((n, 1)), dram_ns=np.zeros((n, 1)), spilled=np.zeros(seg_a.shape),
                       writes_per_cell=zero, has_buffer=np.zeros(n, dtype=bool), buffer_kib=zero)
    A, Wb = wl.activation_bits, weight_bits
    mem, buf, wr = tech.offchip_memory, tech.global_buffer, tech.array_write
    B = batch.astype(float)[:, None]
    rows_n = np.arange(n)[:, None]
    tiled = tiles.tiled
    reloading = (seg[:, -1] > 0)[:, None] | tiled
    per_inference = tiled & (dataflow != WEIGHT_STATIONARY)
    reloads = np.where(per_inference, B, reloading.astype(float))
    weights = np.asarray(weights, dtype=float)
    weight_bits = reloads * weights * Wb                                      # DRAM reads per batch
    cells = reloads * dup * weights * cells_per_weight                # array cells written per batch

    # --- activations crossing segment boundaries (edges whose ends are in different segments)
    # (only edges between macro groups can cross: a layer's group is in one segment)
    e_l, e_p = wl.edge_layer[wl.cross_edges], wl.edge_producer[wl.cross_edges]
    real = e_p >= 0
    e_l, e_p = e_l[real], e_p[real]
    cut = seg_a[:, e_l] != seg_a[:, e_p]                                        # (N, E)
    out_bits = (wl.out_values * A).astype(float)
    last = np.full(seg_a.shape, -1, dtype=np.int64)
    consumer_seg = np.where(cut, seg_a[:, e_l], -1)
    for e, p in enumerate(e_p.tolist()):                                        # a column per edge: no scatter
        np.maximum(last[:, p], consumer_seg[:, e], out=last[:, p])
    crosses = last >= 0                                                         # (N, La)
    first = seg_a
    live = np.where(crosses, out_bits, 0.0)
    # buffer occupancy while each segment runs: tensors produced at or before it, consumed at or after
    occupancy = segment_sum(live, first, S + 1) - segment_sum(live, np.where(crosses, last + 1, S), S + 1)
    occupancy = np.cumsum(occupancy, 1)[:, :S] * B                              # (N, S) bits, B inferences
    buffer_kib = np.where(buffer_kib > 0, buffer_kib, buf.capacity_kib).astype(float)
    capacity = (buffer_kib * 8 * 1024)[:, None]
    full = np.cumsum(occupancy > capacity, 1)                                   # overflowing segments so far
    full_before = np.concatenate([np.zeros((n, 1), dtype=full.dtype), full], 1)
    spilled = crosses & (full.take(rows_n * S + np.clip(last, 0, S - 1)) > full_before.take(rows_n * (S + 1) + first))
    free = np.maximum(capacity - occupancy, 0.0)                                # (N, S) bits left in each segment

    # --- reads of crossing inputs, by the consumer's dataflow ------------------------------------
    in_bits = out_bits[e_p]                                                     # (E,)
    from_dram = spilled[:, e_p] & cut
    from_buffer = ~spilled[:, e_p] & cut
    seg_l = seg_a[:, e_l]
    out_w = out_bits[wl.layer_of_w]                                             # (L,)
    if tiled.any():
        widx_l = wl.widx[e_l]
        weighted_l = widx_l >= 0
        wl_col = np.where(weighted_l, widx_l, 0)
        t_c = np.where(weighted_l, tiles.cols[:, wl_col], 1).astype(float)        # (N, E)
        flow = np.where(weighted_l, dataflow[:, wl_col], WEIGHT_STATIONARY)
        tiled_l = np.where(weighted_l, tiled[:, wl_col], False)
        fits_input = in_bits <= free.take(rows_n * S + seg_l)                   # IS keeps one inference's input
        keeps_input = tiled_l & (flow == INPUT_STATIONARY) & fits_input
        passes = np.where(tiled_l, t_c, 1.0)                                    # times the input is read
        dram_reads_e = from_dram * np.where(keeps_input, 1.0, passes) * in_bits
        # an input kept on chip by IS comes from DRAM once, then from the buffer per column tile
        buffer_writes_e = from_dram * keeps_input * in_bits
        buffer_reads_e = (from_buffer * passes + from_dram * keeps_input * t_c) * in_bits   # kept: T_c reads there
        # partial sums of layers tiled along their rows (each way)
        psum_bits = np.where(tiled & (dataflow != OUTPUT_STATIONARY), (tiles.rows - 1) * out_w, 0.0)
        held = np.where(dataflow == WEIGHT_STATIONARY, B, 1.0) * out_w / tiles.cols  # psums live at once
        psum_on_chip = held <= free.take(rows_n * S + seg)
    else:
        dram_reads_e = from_dram * in_bits
        buffer_writes_e = np.zeros((n, 1))
        buffer_reads_e = from_buffer * in_bits
        psum_bits = np.zeros((n, L))
        psum_on_chip = np.ones((n, L), dtype=bool)
    writes_p = np.where(crosses, out_bits, 0.0)                                 # each crossing output written once

    # --- totals per inference ------------------------------------------------------------------------
    psum_here, psum_dram = row_sum(psum_bits * psum_on_chip), row_sum(psum_bits * ~psum_on_chip)
    buffer_bits_w = row_sum(writes_p * ~spilled) + row_sum(buffer_writes_e) + psum_here
    buffer_bits_r = row_sum(buffer_reads_e) + psum_here
    dram_read = row_sum(weight_bits) / B[:, 0] + row_sum(dram_reads_e) + psum_dram
    dram_write = row_sum(writes_p * spilled) + psum_dram
    reload_energy = (weight_bits * mem.read_energy_pj_per_bit + cells * wr.cell_energy_pj) * 1e-3 / B
    energy = {
        "dram": (dram_read * mem.read_energy_pj_per_bit + dram_write * mem.write_energy_pj_per_bit) * 1e-3,
        "array_write": (row_sum(cells) * wr.cell_energy_pj) * 1e-3 / B[:, 0],
        "global_buffer": (buffer_bits_r * buf.read_energy_pj_per_bit + buffer_bits_w * buf.write_energy_pj_per_bit) * 1e-3,
    }

    # --- time per batch and segment ------------------------------------------------------------------
    bits_per_ns = mem.bandwidth_gbyte_per_s * 8
    transfer = segment_sum(weight_bits, seg, S) / bits_per_ns
    # a macro writes its own arrays: the busiest macro of a segment sets the writes' time
    busiest_rows = reloads * _busiest_blocks(tiles, dup, row_groups, col_groups, set_macros.take(rows_n * L + host_w))
    busiest_rows *= slices * rows_per_copy / (row_groups * col_groups)   # rows of one block
    per_set = segment_sum(busiest_rows, host_w, L)                              # (N, L) by set
    writes = segment_max(per_set, seg, S) / wr.rows_in_parallel_per_macro * wr.row_latency_ns
    # each load of a segment (or of one tile) is a two-stage pipeline of crossbar-sized chunks:
    # DRAM reads them in turn while each macro writes its own; it ends no sooner than its
    # transfer plus a chunk's write (the last), nor than a chunk's read (the first) plus its
    # busiest macro's writes: the shortest chunk of the segment keeps it a lower bound
    # (MODEL.md section 8)
    blocks = row_groups * col_groups
    loads = reloads * np.where(tiled, tiles.count, 1)                          # pipeline starts per batch
    chunk_write = rows_per_copy / blocks / wr.rows_in_parallel_per_macro * wr.row_latency_ns
    chunk_read = weights * Wb / (np.maximum(dup, 1) * blocks * slices) / bits_per_ns
    starts = segment_max(loads, seg, S)
    reload_ns = np.maximum(transfer + starts * _segment_least(chunk_write, reloads > 0, seg, S),
                           writes + starts * _segment_least(chunk_read, reloads > 0, seg, S))
    act_bits = (segment_sum(dram_reads_e, seg_l, S) + segment_sum(writes_p * spilled, first, S)
                + segment_sum(psum_bits * ~psum_on_chip * 2, seg, S))
    return Offchip(
        reloads=reloads,
        reload_energy_nj=reload_energy,
        energy_nj=energy,
        dram_bits=dram_read + dram_write,
        reload_ns=reload_ns,
        dram_ns=act_bits * B / bits_per_ns,
        spilled=spilled.astype(float),
        writes_per_cell=row_max(reloads / B) if L else np.zeros(n),
        has_buffer=reloading.any(1),
        buffer_kib=np.where(reloading.any(1), buffer_kib, 0.0),
    )


def _segment_least(values: np.ndarray, where: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N, S) least of the positive ``values`` (N, L) over the entries ``where`` of each
    segment; 0 for a segment with none."""
    inv = segment_max(np.where(where, 1 / values, 0.0), seg, S)
    return np.divide(1.0, inv, out=np.zeros_like(inv), where=inv > 0)


def _busiest_blocks(tiles: Tiles, dup, row_groups, col_groups, macros) -> np.ndarray:
    """(N, L) blocks the busiest macro of each layer's set writes for one load of all of
    the layer's weights: ``ceil(blocks / m)`` (blocks dealt to the ``m`` macros in turn),
    summed over the tiles of a tiled layer (``T_r x T_c`` tiles of ``ceil(rg / T_r)`` row
    groups, the last row tile the rest; likewise columns)."""
    # whole numbers far below 2^53 in float64: a ceiling of a quotient is exact, and faster
    # than integer division
    m = np.maximum(macros, 1).astype(float)
    out = np.ceil((dup * row_groups * col_groups) / m)
    at = np.nonzero(tiles.tiled)                                        # tiles only where a layer has them
    if len(at[0]):
        m, t_r, t_c, rg, cg = m[at], tiles.rows[at], tiles.cols[at], row_groups[at], col_groups[at]
        a = np.ceil(rg / t_r)
        c = np.ceil(cg / t_c)
        a_last, c_last = rg - (t_r - 1) * a, cg - (t_c - 1) * c
        out[at] = ((t_r - 1) * (t_c - 1) * np.ceil(a * c / m) + (t_r - 1) * np.ceil(a * c_last / m)
                   + (t_c - 1) * np.ceil(a_last * c / m) + np.ceil(a_last * c_last / m))
    return out
