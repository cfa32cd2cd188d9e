"""Resolve a batch of designs: counts, durations and energies of every operation.

``resolve(network, tech, batch, power_w)`` applies MODEL.md sections 1-6 to N designs at
once. Arrays are ``(N,)`` per design, ``(N, La)`` per layer (all layers), ``(N, L)`` per
weighted layer or macro set (a set is named by the weighted position of its first
layer), ``(K, N, La)`` per operation kind (``OP_CHAIN`` order; kind-major so that each
kind is one contiguous block) and ``(N, L, C)`` per set and component (``COMPONENTS``
order). Loops run over layers or kinds, never over designs.

Per-layer arrays are float32 (integers stay exact below 2^24; times and energies keep
7 significant digits): the evaluator is bound by memory traffic, and this halves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from costmodel.array_figures import array_figures
from costmodel.design import COMPONENTS, DesignBatch, DesignError
from costmodel.epitome.overheads import epitome_overheads
from costmodel.layer_map import LayerMap, LayerMapError, layer_map
from costmodel.offchip_traffic import Offchip, offchip_traffic
from costmodel.opgraph import ITERATED, OP_CHAIN
from costmodel.placement import farthest_hops, mesh_ranges
from costmodel.reduce import row_any
from costmodel.scatter import Sharing, scatter_sum, set_sums
from costmodel.sparsity.applied import sparse_work, sparsity_hardware, uses_sparsity
from costmodel.sparsity.densities import Densities
from costmodel.sparsity.factors import SparsityFactors
from costmodel.segments import Tiles, alone_in_segment, chip_total, frozen, largest_segment, segment_sum, weight_tiles
from costmodel.technology import Technology
from costmodel.workload import Workload, build_workload
from onnx_frontend.network import Network

F = np.float32
K = {kind: i for i, kind in enumerate(OP_CHAIN)}
C = {name: i for i, name in enumerate(COMPONENTS)}
VECTOR_KINDS = {"shift_add": ("shift_add",), "addition": ("addition",), "unit": ("pool", "eltwise"),
                "activation": ("activation", "sigmoid")}

# Reason codes of infeasible designs. When several fail, the first of this order is
# reported: 1, 2, 3, 8, 4, 5, 6, 7 (the capacity code came later than the others).
REASONS: dict[int, str] = {
    0: "ok",
    1: "invalid_partition",       # macro counts or sharing break the partition rules
    2: "adc_resolution",          # no ADC in the technology is precise enough
    3: "weights_do_not_fit",      # more crossbars than the crossbar budget pays for
    4: "scratchpad_capacity",     # a macro needs more scratchpad than the largest size
    5: "peripheral_power",        # nothing left of the budget for the peripherals
    6: "over_budget",             # explicit component counts exceed the power or area budget
    7: "missing_component",       # explicit counts give a component with work no units
    8: "macro_capacity",          # a macro holds more crossbars than the technology allows
}


@dataclass
class Resolved:
    """Everything the timing models need, for N designs (see the module docstring).

    ``work`` holds the per-step quantities (N, La) the operations act on: scratchpad
    words, conversions, vector operations per component, NoC flits and hops; energies of
    one occurrence of an operation kind follow from them (:meth:`energy`).
    """

    n: int
    workload: Workload
    tech: Technology
    reason: np.ndarray            # (N,) int, REASONS
    iterations: np.ndarray        # (N, La) iterated-chain occurrences per step: bit iterations x passes (1: weightless)
    bit_iterations: np.ndarray    # (N,) bit iterations B at the technology's activation bits
    slices: np.ndarray            # (N,) weight slices at the technology's weight bits
    layer_map: LayerMap           # each weighted layer's copy: geometry, slices, passes (N, L)
    cells_per_weight: np.ndarray  # (N, L) cells one weight of each layer occupies (written on a reload)
    adc_bits: np.ndarray          # (N,) resolution used (NaN: none)
    xbar_size: np.ndarray         # (N,) array rows
    array_cols: np.ndarray        # (N,) array columns (output channels; a crossbar's: its size)
    xbar_latency_ns: np.ndarray   # (N,)
    n_xbar_budget: np.ndarray     # (N,) crossbars the budget pays for
    crossbars: np.ndarray         # (N, La) crossbars per layer resident at once (a tile's; 0 for weightless)
    chip_crossbars: np.ndarray    # (N,) crossbars of the chip (its largest segment's)
    dup: np.ndarray               # (N, La) copies (1 for weightless)
    steps: np.ndarray             # (N, La)
    host: np.ndarray              # (N, La) macro set of each layer
    share: np.ndarray             # (N, L) sharing partner per weighted layer (-1: none)
    sharing: Sharing              # the same as flat indices of the sharing pairs
    set_macros: np.ndarray        # (N, L) macros per set (0: not a set)
    set_offset: np.ndarray        # (N, L) first mesh position of each set
    mesh_width: np.ndarray        # (N,)
    spad_index: np.ndarray        # (N, L) scratchpad size row per set
    counts: np.ndarray            # (N, L, C) components per set
    demand_ns: np.ndarray         # (N, L, C) unit-ns of work per set and component
    durations: np.ndarray         # (K, N, La) ns per occurrence
    work: dict[str, np.ndarray]   # per-step quantities, (N, La) each
    coefficients: dict[str, np.ndarray]  # per-design energy coefficients, (N,) or (N, La)
    static_w: dict[str, np.ndarray]
    peak_w: dict[str, np.ndarray]
    area_mm2: dict[str, np.ndarray]
    dynamic_nj: dict[str, np.ndarray]
    power_w: np.ndarray           # (N,) power budget, W (inf: none)
    area_budget_mm2: np.ndarray   # (N,) area budget, mm^2 (inf: none)
    segment: np.ndarray           # (N, L) segment of each weighted layer
    segment_a: np.ndarray         # (N, La) segment of every layer (its macro set's)
    n_segments: int               # S: the most segments of any design
    segment_macros: np.ndarray    # (N, S) macros each segment uses
    tiles: Tiles                  # weight tiles per weighted layer
    batch: np.ndarray             # (N,) inferences per segment run
    offchip: Offchip              # reloads, spills, their energy and time
    densities: Densities | None = None   # zeros of weights and inputs (None: dense)
    sparse: SparsityFactors | None = None  # each layer's kept work under its mode (None: dense)
    _energy_cache: dict = field(default_factory=dict, repr=False)

    @property
    def feasible(self) -> np.ndarray:
        return self.reason == 0

    def energy(self, kind: str) -> np.ndarray:
        """(N, La) dynamic energy (nJ) of one occurrence of operation ``kind``."""
        if kind not in self._energy_cache:
            self._energy_cache[kind] = _occurrence_energy(self, kind)
        return self._energy_cache[kind]

    def energy_per_inference(self, kind: str) -> np.ndarray:
        """(N, La) dynamic energy (nJ) of all occurrences of ``kind`` in one inference
        (the occurrence energies are not cached: the evaluator needs only these)."""
        reps = self.steps * (self.iterations if kind in ITERATED else 1)
        once = self._energy_cache[kind] if kind in self._energy_cache else _occurrence_energy(self, kind)
        return once * reps


def _occurrence_energy(r: Resolved, kind: str) -> np.ndarray:
    w, c = r.work, r.coefficients
    if kind == "load":
        return w["load_words"] * c["read_nj"]
    if kind == "store":
        return w["store_words"] * c["write_nj"]
    if kind == "mvm":
        e = w["crossbars"] * c["xbar_nj"][:, None] + w["dac_conv"] * c["dac_nj"][:, None]
        if "cells" in w:                # SRAM arrays: per weight and per column used
            e += w["cells"] * c["cell_nj"][:, None] + w["adc_conv"] * c["column_nj"][:, None]
        if "sparsity_pj" in w:          # zero detectors, skip logic, compaction indices
            e += w["sparsity_pj"] * F(1e-3)
        if "epitome_pj" in w:           # address tables and routing muxes
            e += w["epitome_pj"] * F(1e-3)
        return e
    if kind == "adc":
        return w["adc_conv"] * c["adc_nj"][:, None]
    if kind in VECTOR_KINDS:
        return sum(w[comp] * c[f"{comp}_nj"] for comp in VECTOR_KINDS[kind])
    if kind == "noc_in":
        return w["in_flits"] * np.maximum(w["hops_in"], 1) * c["flit_nj"]
    if kind == "feed":                  # register writes: in the registers' power
        return np.zeros_like(w["load_words"])
    if kind == "merge":
        return w["merge_flits"] * np.maximum(w["set_hops"], 1) * c["flit_nj"]
    raise KeyError(kind)


def resolve(network: Network, tech: Technology, batch: DesignBatch, power_w, area_mm2=None,
            densities: Densities | None = None) -> Resolved:
    """Counts, durations (ns) and energies (nJ) of every operation of N designs.

    Budgets (scalars or (N,)): ``power_w`` in W and ``area_mm2`` in mm^2; None or inf is
    no budget of that kind, and at least one must be finite. The crossbar share
    ``rram_ratio`` of each budget pays for arrays, the rest for the periphery; with both,
    the chip is the smaller of the two allocations, so it keeps within both.

    ``densities`` (:mod:`costmodel.sparsity`): the zeros of the weights and inputs; None
    counts every one as non-zero. Each layer's ``batch.sparse_mode`` decides what its
    arrays skip (MODEL.md section 10)."""
    wl = build_workload(network, tech, densities)
    tb = tech.tables
    n, L, La = len(batch), wl.n_weighted, wl.n_layers
    if batch.n_layers != L:
        raise DesignError(f"designs have {batch.n_layers} weighted layers, network '{network.name}' has {L}")
    P, Am = _budget(power_w, n), _budget(area_mm2, n)
    if not np.isfinite(np.minimum(P, Am)).all():
        raise DesignError("no budget: give a power budget (W), an area budget (mm^2) or both")
    A = tech.precision.activation_bits
    rows_n = np.arange(n)[:, None]
    is_w = wl.weighted.astype(F)                                         # (La,) 1 for conv/fc
    idx_w = np.where(wl.weighted, wl.widx, L)                            # weightless -> zero column

    def expand(per_weighted: np.ndarray) -> np.ndarray:
        """(N, L) per weighted layer -> (N, La), 0 for weightless layers."""
        padded = np.zeros((n, L + 1), dtype=F)
        padded[:, :L] = per_weighted
        return padded[:, idx_w]

    # --- globals: the arrays of either family ---------------------------------------
    a = array_figures(tech, batch)
    try:
        m = layer_map(wl, tech, a.size_index, batch.cell_bits, batch.dac_bits, batch.epitome, batch.weight_bits)
    except LayerMapError as exc:
        raise DesignError(str(exc)) from None
    if densities is not None and (m.any_epitome or (m.weight_bits != tech.precision.weight_bits).any()):
        raise DesignError("sparsity (--sparsity measured or a profile) with epitomes or per-layer weight bits "
                          "is not modelled; use --sparsity dense, or drop --epitomes (a network without them)")
    offered = np.asarray(tech.global_buffer.sizes_kib)
    if not np.isin(batch.buffer_kib, np.append(offered, 0)).all():
        wrong = sorted(set(batch.buffer_kib[~np.isin(batch.buffer_kib, offered)].tolist()) - {0})
        raise DesignError(f"buffer_kib {wrong} not offered by the technology; choose from {offered.tolist()} "
                          "(global_buffer.capacity_options_kib)")
    si = a.size_index
    Sx = a.rows.astype(float)
    B, slices = a.iterations, m.slices                                  # (N,) and (N, L)
    iterations = expand(m.iterations.astype(F)) + (1 - is_w)             # (N, La)
    no_adc = a.no_adc
    adc_static, adc_dyn, t_adc, adc_area, adc_peak = (
        a.adc_static_w, a.adc_dynamic_w, a.adc_ns, a.adc_area_mm2, a.adc_peak_w)
    t_xbar, t_dac = a.step_ns, a.dac_ns

    # --- geometry and partition rules ------------------------------------------------
    rg, cg = m.row_groups, m.col_groups                                 # (N, L)
    dup_w, mac_w, share = batch.dup, batch.macros, batch.share
    seg = frozen(batch.segment)                       # read-only: segment sums reuse their index
    S = int(seg[:, -1].max()) + 1 if n and L else 1
    seg_a = frozen(seg[:, wl.anchor_w])
    n_budget = np.minimum(np.floor(P * batch.rram_ratio / a.array_peak_w + 1e-9),
                          np.floor(Am * batch.rram_ratio / a.array_area_mm2 + 1e-9))
    # a layer alone in its segment whose copy exceeds the chip runs in weight tiles (MODEL.md 8)
    alone = (lambda: alone_in_segment(seg)) if S > 1 else np.full((n, L), L == 1)
    tiles = weight_tiles(dup_w * (rg * cg), rg, cg, alone, np.floor(n_budget[:, None] / slices).astype(np.int64))
    blocks = tiles.blocks                                               # row x column blocks resident at once, `slices` crossbars each
    xbars_w = blocks * slices
    limit = blocks
    broken = (dup_w < 1) | (mac_w < 1) | (mac_w > limit) | ((dup_w != 1) & wl.is_fc[wl.layer_of_w])
    broken |= tiles.tiled & (dup_w != 1)
    if S > 1:                                                           # partners run in one segment
        broken |= (share >= 0) & (seg.take(rows_n * L + np.clip(share, 0, L - 1)) != seg)
    bad = row_any(broken | _bad_sharing(share, mac_w, limit))
    share = np.where(bad[:, None], -1, share)
    sharing = Sharing.of(share)
    host_w = np.where(share >= 0, share, np.arange(L))
    set_macros = mac_w * (share < 0)                                     # own macros of unshared layers
    set_macros.ravel()[sharing.partner] = np.maximum(mac_w.ravel()[sharing.partner], mac_w.ravel()[sharing.layer])
    host = host_w[:, wl.anchor_w]                                       # (N, La)
    at_host = rows_n * L + host                                         # (N, La) flat index into (N, L) arrays
    m_layer = set_macros.astype(F).take(at_host)                        # (N, La)
    m_total = chip_total(set_macros, seg, S)
    segment_macros = segment_sum(set_macros, seg, S)
    # the busiest macro of a set holds ceil(blocks / macros) blocks of each of its layers
    per_macro_blocks = -(-blocks // np.maximum(set_macros.take(rows_n * L + host_w), 1))
    per_macro_xbars = sharing.merge((per_macro_blocks * slices)[None].copy())[0]
    over_capacity = row_any(per_macro_xbars > tech.macro.max_crossbars)

    dup_f = dup_w.astype(F)
    dup = expand(dup_f) + (1 - is_w)
    crossbars = expand(xbars_w)
    pixels_w = wl.out_pixels[wl.layer_of_w].astype(F)
    steps = expand(np.ceil(pixels_w / dup_f) * tiles.count) + (1 - is_w) * wl.rows_out.astype(F)
    x_total = chip_total(xbars_w, seg, S)
    # a tile's step does its share of the layer's work: 1/T of the arrays' work, the inputs
    # of its row groups, the (partial) outputs of its column groups
    per_tile = expand((1 / tiles.count).astype(F)) + (1 - is_w)
    per_row_tile = expand((1 / tiles.rows).astype(F)) + (1 - is_w)
    per_col_tile = expand((1 / tiles.cols).astype(F)) + (1 - is_w)

    # --- per-step work (N, La) ---------------------------------------------------------
    bus, flit = tech.scratchpad.bus_width_bits, tech.noc.flit_bits
    vu, counting = tech.vector_units, tech.counting
    inv_width = F(1.0 / vu.width)
    st = m.stored                                                       # epitomes: a pass's share (MODEL.md 11)
    # copies whose arrays work in a step: an epitome layer's last step runs only its last pixels'
    # copies, so its arrays' work per step is the mean over its steps (MODEL.md 11)
    running = np.where(st.epitome, pixels_w / np.ceil(pixels_w / dup_f), dup_f) if m.any_epitome else dup_f
    used_cols_w = running * (slices * m.cols_read * st.convert_share).astype(F) / tiles.count.astype(F)
    used_cols = expand(used_cols_w)
    rows_w = (slices * m.rows_total * st.drive_share).astype(F)
    dac_rows_w = dup_f * rows_w / tiles.count.astype(F)                 # every copy's DACs
    xbar_work = expand(running * (rg * cg * slices).astype(F)) * per_tile
    words = (wl.activation_bits / bus).astype(F)                        # (La,) bus words per value
    work = {
        "load_words": dup * words * wl.load_values.astype(F) * per_row_tile,
        "store_words": dup * words * wl.store_values.astype(F) * per_col_tile,
        "crossbars": xbar_work,
        "adc_conv": xbar_work * Sx[:, None].astype(F) if counting.adc_conversions == "physical_columns" else used_cols,
        "dac_conv": expand(running * rows_w / tiles.count.astype(F)),
    }
    work["shift_add"] = used_cols * F(inv_width * a.shift_add_outside)
    if tech.sram is not None:                                           # weights used per step
        work["cells"] = expand(running * (st.products * m.cell_share).astype(F)) * per_tile
    adds = m.add_values * st.passes + st.extra_adds                      # per output pixel
    work["addition"] = expand(dup_f * adds.astype(F)) * inv_width * per_tile
    act_values = dup * (wl.store_values * inv_width).astype(F) * per_tile
    work["activation"] = act_values * (wl.act_kind == 1)
    work["sigmoid"] = act_values * (wl.act_kind == 2)
    work["pool"] = np.broadcast_to((wl.unit_elems * (wl.unit_kind == 1) * inv_width).astype(F), (n, La))
    work["eltwise"] = np.broadcast_to((wl.unit_elems * (wl.unit_kind == 2) * inv_width).astype(F), (n, La))
    rows_driven = expand(dac_rows_w)                                    # DACs count the rows, not their activity
    epitome = epitome_overheads(tech, m, dup_f, running, xbars_w, Sx, running * rows_w / tiles.count.astype(F),
                                used_cols_w, tiles.count) if m.any_epitome else None
    if epitome is not None:
        work["epitome_pj"] = expand(epitome.occurrence_pj)
    # a step's arrays with different inputs: its row groups, every copy's (or its weight tile's)
    sparse = sparse_work(network, tech, densities, wl, batch, a, work, expand, tiles.blocks / -(-cg // tiles.cols)) \
        if uses_sparsity(batch, densities) else None
    new_flits = dup * (wl.new_values * wl.activation_bits / flit).astype(F) * per_row_tile
    out_flits = dup * (wl.cout * wl.activation_bits / flit * wl.weighted).astype(F) * per_col_tile

    # --- NoC: placement on the mesh, input transfers and merges (before the larger arrays
    # below are allocated, so that they reuse its temporaries' memory) ------------------------
    # each segment's sets are placed from macro 0, in order
    offset = np.cumsum(set_macros, 1) - set_macros
    if S > 1:
        starts = np.ones((n, L), dtype=bool)
        starts[:, 1:] = seg[:, 1:] != seg[:, :-1]
        offset = offset - np.maximum.accumulate(np.where(starts, offset, 0), axis=1)
    offset = offset.astype(F)
    mesh_w = np.ceil(np.sqrt(np.maximum(m_total, 1))).astype(F)
    hops_in, in_flits, set_hops = _noc_hops(wl, offset, set_macros, mesh_w, host, new_flits,
                                            seg_a if S > 1 else None)

    t_unit = {c: getattr(vu, c).latency_ns for c in COMPONENTS[1:]}
    used = wl.components_used | ({"addition"} if (adds > 0).any() else set())
    demand = _set_demand(used, wl, work, steps, iterations, t_adc, t_unit, sharing).transpose(1, 2, 0)   # (N, L, C)

    # --- scratchpads --------------------------------------------------------------------
    buffer_bits = wl.buffer_bits.astype(F) + expand(dup_f * (wl.cout * wl.activation_bits)[wl.layer_of_w])
    set_bits = set_sums(buffer_bits[None], wl.anchor_group, sharing)[0]
    per_macro_kib = set_bits / (8 * 1024) / np.maximum(set_macros, 1)
    # the smallest size that holds it (searchsorted, side left): the count of sizes that do not
    fits = sum(per_macro_kib <= cap for cap in tb.spad_capacity_kib)
    spad_index = (len(tb.spad_capacity_kib) - fits) * (set_macros > 0)
    if batch.macro_mode == "identical":
        spad_index = np.broadcast_to(spad_index.max(1, keepdims=True), spad_index.shape).copy()
    too_big = row_any(spad_index >= len(tb.spad_capacity_kib))
    spad_index = np.minimum(spad_index, len(tb.spad_capacity_kib) - 1)

    # --- fixed power (W) -----------------------------------------------------------------
    ntx = x_total * Sx
    if counting.dacs == "physical_rows":
        n_dac = ntx
    else:
        n_dac = rows_driven.astype(float) @ np.ones(La) if S == 1 else chip_total(dac_rows_w, seg, S)
    io = batch.offchip_links.astype(float)
    # a design that reloads weights keeps the activations between its segments in the global
    # buffer, of the size its live activations need (MODEL.md section 8)
    bit_share = slices / a.slices[:, None] if tech.sram is None else m.weight_bits / tech.precision.weight_bits
    cells_per_weight = a.cells_per_weight[:, None] * bit_share         # (N, L) at each layer's weight bits
    offchip = offchip_traffic(wl, tech, seg, seg_a, tiles, dup_w, slices, cells_per_weight, m.rows_total,
                              st.weights, m.weight_bits,
                              batch.batch, batch.buffer_kib, batch.dataflow, S, host_w, set_macros, rg, cg)
    gb = tech.global_buffer
    buffer_share = offchip.buffer_kib / gb.capacity_kib                 # 0 without a buffer
    fixed_peak = {
        "dac": n_dac * a.dac_peak_w,
        "sample_hold": ntx * tech.sample_hold.static_power_w,
        "scratchpad": chip_total(set_macros * tb.spad_peak[spad_index], seg, S),
        "global_buffer": buffer_share * gb.leak_power_w,
        "noc": m_total * tech.noc.router_static_power_w,
        "registers": x_total * tech.registers.per_crossbar_power_w + m_total * tech.registers.per_macro_power_w,
        "offchip_links": io * tech.offchip_links.static_power_w,
    }
    fixed_area = {
        "dac": n_dac * a.dac_area_mm2,
        "sample_hold": ntx * tech.sample_hold.area_mm2,
        "scratchpad": chip_total(set_macros * tb.spad_area[spad_index], seg, S),
        "global_buffer": buffer_share * gb.area_mm2,
        "noc": m_total * tech.noc.router_area_mm2,
        "registers": x_total * tech.registers.per_crossbar_area_mm2 + m_total * tech.registers.per_macro_area_mm2,
        "offchip_links": io * tech.offchip_links.area_mm2,
    }
    if sparse is not None:                                              # zero detectors, compaction indices
        fixed_peak["sparsity"], fixed_area["sparsity"] = sparsity_hardware(
            tech, batch, xbars_w, Sx, lambda per_layer: chip_total(per_layer, seg, S))
    if epitome is not None:                                             # address tables, routing muxes
        fixed_peak["epitome"] = chip_total(epitome.static_w, seg, S)
        fixed_area["epitome"] = chip_total(epitome.area_mm2, seg, S)

    # --- peripheral allocation (MODEL.md section 4) -------------------------------------
    unit_peak = np.stack([adc_peak] + [np.full(n, getattr(vu, c).peak_power_w) for c in COMPONENTS[1:]], 1).astype(F)
    unit_area = np.stack([adc_area] + [np.full(n, getattr(vu, c).area_mm2) for c in COMPONENTS[1:]], 1)
    active = demand > 0
    if batch.counts is not None:
        counts = scatter_sum(batch.counts.transpose(2, 0, 1), host_w, L).transpose(1, 2, 0)
        short = (active & (counts <= 0)).any((1, 2))
        starved = np.zeros(n, dtype=bool)
    else:
        weighted_demand = demand if batch.alloc_weights is None else demand * batch.alloc_weights.astype(F)
        counts, starved = None, np.zeros(n, dtype=bool)
        totals = allocation_totals(weighted_demand, active, seg if S > 1 else None) \
            if batch.macro_mode != "identical" else None
        # each budget's allocation in its own currency (W of peak power, mm^2); the smaller holds both
        for budget, fixed, unit_cost in ((P, fixed_peak, unit_peak), (Am, fixed_area, unit_area)):
            if n and not np.isfinite(budget).any():
                continue
            left = ((1 - batch.rram_ratio) * budget - sum(fixed.values())).astype(F)
            c, s = _allocate(weighted_demand, active, unit_cost.astype(F), left, set_macros, batch.macro_mode,
                             seg if S > 1 else None, totals)
            counts = c if counts is None else np.minimum(counts, c)
            starved |= s & np.isfinite(budget)
        short = np.zeros(n, dtype=bool)
    unit_totals = (counts.transpose(2, 0, 1) @ np.ones(L, dtype=counts.dtype)).T    # (N, C), exact: whole units
    if S > 1:                                                           # the largest segment's units
        multi = seg[:, -1] > 0
        unit_totals = np.where(multi[:, None], largest_segment(counts, seg, S), unit_totals)

    # --- durations (ns) per occurrence -----------------------------------------------------
    per_set_counts = counts.transpose(2, 0, 1).reshape(len(COMPONENTS), n * L)

    def units(comp: str) -> np.ndarray:
        """(N, La) units of ``comp`` in each layer's set."""
        return per_set_counts[C[comp]].take(at_host).astype(F, copy=False)

    sidx = spad_index.take(at_host)
    dur = np.empty((len(OP_CHAIN), n, La), dtype=F)
    # every scratchpad word crosses the macro's bus (to the crossbars' input registers, or
    # from the output registers): a word takes the longer of its access and its transfer
    word_ns = F(bus / tech.macro.input_bus_bits_per_ns)
    dur[K["load"]] = work["load_words"] * np.maximum(tb.spad_read_latency[sidx].astype(F), word_ns) / m_layer
    dur[K["store"]] = work["store_words"] * np.maximum(tb.spad_write_latency[sidx].astype(F), word_ns) / m_layer
    # input registers of one step: the crossbars wait while theirs are written
    single = F(tech.macro.input_register_steps == 1)
    dur[K["feed"]] = work["load_words"] * word_ns / m_layer * is_w * single
    if epitome is not None:                                             # the first pass's lookups
        dur[K["feed"]] += expand(epitome.feed_ns)
    dur[K["mvm"]] = (t_dac + t_xbar)[:, None].astype(F) * is_w
    if sparse is not None:                                              # skipped or compacted iterations
        dur[K["mvm"]] *= expand(sparse.iterations)
    _per_unit(dur[K["adc"]], work["adc_conv"] * t_adc[:, None].astype(F), units("adc"))
    for kind, comps in VECTOR_KINDS.items():
        present = [comp for comp in comps if comp in used]
        if not present:
            dur[K[kind]] = 0
        for i, comp in enumerate(present):
            per_occurrence = work[comp] * F(t_unit[comp])
            if i == 0:
                _per_unit(dur[K[kind]], per_occurrence, units(comp))
            else:
                dur[K[kind]] += _per_unit(None, per_occurrence, units(comp))

    # --- NoC durations -------------------------------------------------------------------------
    merge_flits = out_flits * (m_layer - 1) / m_layer
    hop_ns = F(tech.noc.hop_latency_ns)
    dur[K["noc_in"]] = (hops_in + in_flits / m_layer) * hop_ns * (in_flits > 0)
    dur[K["merge"]] = (set_hops + merge_flits) * hop_ns * (merge_flits > 0)
    work.update(hops_in=hops_in, in_flits=in_flits, set_hops=set_hops, merge_flits=merge_flits)

    # --- totals: static, peak, area --------------------------------------------------------
    unit_static = np.stack([adc_static] + [np.full(n, getattr(vu, c).static_power_w) for c in COMPONENTS[1:]], 1)
    static_w = {
        "crossbar": x_total * a.array_static_w,
        "dac": n_dac * a.dac_static_w,
        "sample_hold": fixed_peak["sample_hold"],
        "adc": unit_totals[:, 0] * unit_static[:, 0],
        "vector_units": (unit_totals[:, 1:] * unit_static[:, 1:]).sum(1),
        "scratchpad": chip_total(set_macros * tb.spad_leak[spad_index], seg, S),
        "global_buffer": fixed_peak["global_buffer"],
        "noc": fixed_peak["noc"],
        "registers": fixed_peak["registers"],
        "offchip_links": fixed_peak["offchip_links"],
        **({"sparsity": fixed_peak["sparsity"]} if sparse is not None else {}),
        **({"epitome": fixed_peak["epitome"]} if epitome is not None else {}),
    }
    peak_w = dict(static_w)
    peak_w.update(
        crossbar=x_total * a.array_peak_w,
        dac=fixed_peak["dac"],
        adc=unit_totals[:, 0] * unit_peak[:, 0],
        vector_units=(unit_totals[:, 1:] * unit_peak[:, 1:]).sum(1),
        scratchpad=fixed_peak["scratchpad"],
    )
    area = {
        "crossbar": x_total * a.array_area_mm2,
        "dac": fixed_area["dac"],
        "sample_hold": fixed_area["sample_hold"],
        "adc": unit_totals[:, 0] * unit_area[:, 0],
        "vector_units": (unit_totals[:, 1:] * unit_area[:, 1:]).sum(1),
        **{k: fixed_area[k] for k in ("scratchpad", "global_buffer", "noc", "registers", "offchip_links")},
        **({"sparsity": fixed_area["sparsity"]} if sparse is not None else {}),
        **({"epitome": fixed_area["epitome"]} if epitome is not None else {}),
    }
    coefficients = {
        "read_nj": tb.spad_read_energy[sidx].astype(F), "write_nj": tb.spad_write_energy[sidx].astype(F),
        "xbar_nj": a.array_nj, "dac_nj": a.dac_nj, "adc_nj": adc_dyn * t_adc,
        "cell_nj": a.cell_nj, "column_nj": a.column_nj,
        "flit_nj": F(tech.noc.flit_hop_energy_nj),
        **{f"{comp}_nj": F(getattr(vu, comp).energy_nj) for comp in COMPONENTS[1:]},
    }

    # --- feasibility ----------------------------------------------------------------------
    reason = np.zeros(n, dtype=np.int64)
    for code, failed in (                                               # the last that fails wins
        (7, short),
        (6, (batch.counts is not None) & ((sum(peak_w.values()) > P * (1 + 1e-9))
                                          | (sum(area.values()) > Am * (1 + 1e-9)))),
        (5, starved),
        (4, too_big),
        (8, over_capacity),
        (3, x_total > n_budget),
        (2, no_adc),
        (1, bad),
    ):
        reason[failed] = code
    r = Resolved(
        n=n, workload=wl, tech=tech, reason=reason, iterations=iterations, bit_iterations=B, slices=a.slices,
        layer_map=m, cells_per_weight=cells_per_weight,
        adc_bits=a.adc_bits, xbar_size=batch.xbar_size, array_cols=a.cols, xbar_latency_ns=t_xbar, n_xbar_budget=n_budget,
        crossbars=crossbars, chip_crossbars=x_total, dup=dup, steps=steps, host=host, share=share, set_macros=set_macros,
        sharing=sharing, set_offset=offset, mesh_width=mesh_w, spad_index=spad_index, counts=counts,
        demand_ns=demand, durations=dur, work=work, coefficients=coefficients,
        static_w=static_w, peak_w=peak_w, area_mm2=area, dynamic_nj={}, power_w=P, area_budget_mm2=Am,
        segment=seg, segment_a=seg_a, n_segments=S, segment_macros=segment_macros, tiles=tiles,
        batch=batch.batch, offchip=offchip, densities=densities, sparse=sparse,
    )
    r.dynamic_nj = _dynamic_energy(r, demand, unit_totals, adc_dyn, vu)
    r.dynamic_nj.update(r.offchip.energy_nj)
    return r


def _budget(value, n: int) -> np.ndarray:
    """A budget as (N,) floats; None is no budget (inf)."""
    return np.broadcast_to(np.asarray(np.inf if value is None else value, dtype=float), (n,)).copy()


def _set_demand(used, wl: Workload, work, steps, iterations, t_adc, t_unit, sharing: Sharing) -> np.ndarray:
    """(C, N, L) unit-ns of work per inference of each component in each macro set
    (kind-major; ``iterations``-fold (N, La) for adc and shift_add); ``used``: the
    components with work."""
    n, La = steps.shape
    per_inference = np.empty((len(COMPONENTS), n, La), dtype=F)
    sB = steps * iterations
    per_inference[C["adc"]] = sB * work["adc_conv"] * t_adc[:, None].astype(F)
    per_inference[C["shift_add"]] = sB * work["shift_add"] * F(t_unit["shift_add"])
    for comp in COMPONENTS[2:]:
        per_inference[C[comp]] = steps * work[comp] * F(t_unit[comp]) if comp in used else 0
    return set_sums(per_inference, wl.anchor_group, sharing)


def _noc_hops(wl: Workload, offset, set_macros, mesh_w, host, new_flits, seg_a=None):
    """``(hops_in, in_flits, set_hops)``, each (N, La): the hops and flits of a layer's
    input transfers from other sets (MODEL.md section 5) and, for weighted layers, the
    hops from its set's gather macro to the set's farthest macro. Per-edge arrays are
    edge-major (X, N). With segments ``seg_a`` (N, La), an input made in an earlier
    segment comes from the global buffer and enters at macro 0, as the network input."""
    n, L = set_macros.shape
    La = host.shape[1]
    # mesh ranges of the sets, and set L: position 0, where the network input enters
    ends = np.zeros((2, n, L + 1), dtype=F)
    ends[0, :, :L] = offset
    ends[1, :, :L] = np.maximum(offset + set_macros.astype(F) - 1, offset)
    ranges = mesh_ranges(ends, mesh_w[:, None])                        # (4, N, L + 1)
    last_col = (mesh_w - 1).astype(np.int32)
    # each layer's slot in (N, L + 1) arrays, layer-major; row La (edge producer -1): the network input
    slot = np.empty((La + 1, n), dtype=np.intp)
    slot[:La] = host.T + np.arange(0, n * (L + 1), L + 1)
    slot[La] = np.arange(L, n * (L + 1), L + 1)
    x = wl.cross_edges
    to_set, from_set = slot[wl.edge_layer[x]], slot[wl.edge_producer[x]]     # (X, N)
    if seg_a is not None:
        earlier = seg_a.T[wl.edge_layer[x]] != seg_a.T[np.maximum(wl.edge_producer[x], 0)]
        from_set = np.where(earlier, slot[La], from_set)
    remote = from_set != to_set
    flat = ranges.reshape(4, -1)
    h = farthest_hops([flat[k].take(from_set) for k in range(2)], [flat[k].take(to_set) for k in range(4)],
                      last_col) * remote
    flits = new_flits.T[wl.edge_layer[x]] / wl.edge_fanin[x, None].astype(F) * remote
    # per layer: the farthest and the sum over its cross edges (most layers have one)
    layer_hops, layer_flits = h[wl.cross_starts], flits[wl.cross_starts]
    for e, j in wl.cross_more:
        np.maximum(layer_hops[j], h[e], out=layer_hops[j])
        layer_flits[j] += flits[e]
    hops_in = np.zeros((n, La), dtype=F)
    in_flits = np.zeros((n, La), dtype=F)
    hops_in[:, wl.cross_layers] = layer_hops.T
    in_flits[:, wl.cross_layers] = layer_flits.T
    # merges happen in weighted layers only
    set_hops = np.zeros((n, La), dtype=F)
    set_hops[:, wl.layer_of_w] = farthest_hops(ranges[:2], ranges, last_col[:, None]).take(slot[wl.layer_of_w].T)
    return hops_in, in_flits, set_hops


def _dynamic_energy(r: Resolved, demand, unit_totals, adc_dyn, vu) -> dict[str, np.ndarray]:
    """(N,) dynamic energy per inference by component, nJ (layer sums in float64, as
    BLAS products: numpy sums a short last axis slowly)."""
    ones = np.ones(r.steps.shape[1])
    total = {kind: r.energy_per_inference(kind).astype(float) @ ones
             for kind in ("mvm", "load", "store", "noc_in", "merge")}
    # the DACs' share of the arrays' energy; the arrays (crossbars, or SRAM arrays with their
    # ADCs or adder trees) take the rest
    occurrences = r.steps * r.iterations
    dac = ((occurrences * r.work["dac_conv"]).astype(float) @ ones) * r.coefficients["dac_nj"]
    sparsity = {}
    for name in ("sparsity", "epitome"):                                # in the arrays' energy, reported apart
        if f"{name}_pj" in r.work:
            sparsity[name] = ((occurrences * r.work[f"{name}_pj"]).astype(float) @ ones) * 1e-3
    d = (demand.transpose(2, 0, 1) @ np.ones(demand.shape[1], dtype=F)).T   # (N, C) unit-ns
    return {
        "crossbar": total["mvm"] - dac - sum(sparsity.values()),
        "dac": dac,
        "adc": d[:, 0] * adc_dyn,
        "vector_units": sum(d[:, C[c]] * getattr(vu, c).dynamic_power_w for c in COMPONENTS[1:]),
        "scratchpad": total["load"] + total["store"],
        "noc": total["noc_in"] + total["merge"],
        **sparsity,
    }


def _per_unit(out, work_ns: np.ndarray, units: np.ndarray) -> np.ndarray:
    """``work_ns / units`` where units > 0, else 0 (into ``out`` if given); ``work_ns`` is
    finite, so dividing by infinity gives the zeros (faster than a masked division)."""
    return np.divide(work_ns, np.where(units > 0, units, F(np.inf)), out=out)


def allocation_totals(demand, active, seg=None) -> tuple[np.ndarray, np.ndarray]:
    """``(work, active)`` (N, C) per component that the closed-form allocation balances:
    the unit-ns of work and the sets with work, summed over the sets, or with segments
    ``seg`` the largest segment's."""
    ones = np.ones(demand.shape[1], dtype=F)                              # BLAS sums: numpy's axis sums are slow here
    work = (demand.transpose(0, 2, 1) @ ones).astype(float)
    sets = (active.transpose(0, 2, 1).astype(F) @ ones).astype(float)
    if seg is not None:
        S, multi = int(seg[:, -1].max()) + 1, (seg[:, -1] > 0)[:, None]
        work = np.where(multi, largest_segment(demand, seg, S), work)
        sets = np.where(multi, largest_segment(active, seg, S), sets)
    return work, sets


def _allocate(demand, active, unit_peak, left, set_macros, mode, seg=None, totals=None):
    """Closed-form unit counts per set and component (MODEL.md section 4).

    With segments ``seg`` (N, L) (specialised macros), the chip holds of each component
    the units of its largest segment: one balance time T for every segment, so that the
    rounded counts of every segment stay within the budget (MODEL.md section 8).

    ``totals``: :func:`allocation_totals` of the arguments, when already computed.

    Returns ``(counts (N, L, C), starved (N,))``; starved designs have nothing left for
    the reserve of one unit per component.
    """
    if mode == "identical":
        m_total = set_macros.sum(1).astype(F)
        per_macro = (demand / np.maximum(set_macros, 1)[..., None]).max(1)   # unshared sets have no demand
        reserve = m_total * (unit_peak * (per_macro > 0)).sum(1)
        spare = left - reserve
        with np.errstate(over="ignore"):
            T = m_total * (unit_peak * per_macro).sum(1) / np.maximum(spare, F(1e-30))
        units = np.ceil(per_macro / T[:, None] - F(1e-6))
        return units[:, None, :] * set_macros[..., None], spare <= 0
    if totals is None:
        totals = allocation_totals(demand, active, seg)
    work_c, active_c = totals
    reserve = (unit_peak * active_c).sum(1).astype(F)
    work = (unit_peak * work_c).sum(1).astype(F)
    spare = left - reserve
    with np.errstate(over="ignore"):
        T = work / np.maximum(spare, F(1e-30))
    counts = demand / T[:, None, None]
    counts -= F(1e-6)
    return np.ceil(counts, out=counts), spare <= 0


def _bad_sharing(share: np.ndarray, macros: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """(N, L) bool: where sharing breaks the rules (MODEL.md section 1); a design with any
    is invalid."""
    n, L = share.shape
    sharing = share >= 0
    if not sharing.any():
        return share < -1
    bad = (share >= np.arange(L)) | (share < -1)
    target = np.clip(share, 0, L - 1)
    rows = np.arange(n)[:, None]
    at_target = rows * L + target                                       # flat index into (N, L)
    flat = (rows * (L + 1) + np.where(sharing, target, L)).ravel()
    used = np.bincount(flat, minlength=n * (L + 1)).reshape(n, L + 1)
    bad |= used[:, :L] > 1
    pair = np.maximum(macros, macros.take(at_target))
    bad |= sharing & ((share.take(at_target) >= 0) | (pair > limit) | (pair > limit.take(at_target)))
    return bad
