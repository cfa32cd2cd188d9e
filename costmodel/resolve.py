"""Resolve a batch of designs: counts, durations and energies of every operation.

``resolve(network, tech, batch, power_w)`` applies MODEL.md sections 1-6 to N designs at
once. Arrays are ``(N,)`` per design, ``(N, La)`` per layer (all layers), ``(N, L)`` per
weighted layer or macro set (a set is named by the weighted position of its first
layer), ``(N, La, K)`` per layer and operation kind (``OP_CHAIN`` order) and
``(N, L, C)`` per set and component (``COMPONENTS`` order). Loops run over layers, never
over designs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.design import COMPONENTS, DesignBatch, DesignError
from costmodel.opgraph import OP_CHAIN
from costmodel.placement import hops_to_range
from costmodel.technology import Technology, adc_bits_required
from costmodel.workload import Workload, build_workload
from onnx_frontend.network import Network

K = {kind: i for i, kind in enumerate(OP_CHAIN)}
C = {name: i for i, name in enumerate(COMPONENTS)}

# Reason codes of infeasible designs, checked in this order (first failing wins).
REASONS: dict[int, str] = {
    0: "ok",
    1: "invalid_partition",       # macro counts or sharing break the partition rules
    2: "adc_resolution",          # no ADC in the technology is precise enough
    3: "weights_do_not_fit",      # more crossbars than the crossbar budget pays for
    4: "scratchpad_capacity",     # a macro needs more scratchpad than the largest size
    5: "peripheral_power",        # nothing left of the budget for the peripherals
    6: "over_budget",             # explicit component counts exceed the power budget
    7: "missing_component",       # explicit counts give a component with work no units
}


@dataclass
class Resolved:
    """Everything the timing models need, for N designs (see the module docstring)."""

    n: int
    workload: Workload
    reason: np.ndarray            # (N,) int, REASONS
    iterations: np.ndarray        # (N,) bit iterations B
    slices: np.ndarray            # (N,) weight slices
    adc_bits: np.ndarray          # (N,) resolution used (NaN: none)
    xbar_size: np.ndarray         # (N,)
    xbar_latency_ns: np.ndarray   # (N,)
    n_xbar_budget: np.ndarray     # (N,) crossbars the budget pays for
    crossbars: np.ndarray         # (N, La) crossbars per layer (0 for weightless)
    dup: np.ndarray               # (N, La) copies (1 for weightless)
    steps: np.ndarray             # (N, La)
    host: np.ndarray              # (N, La) macro set of each layer
    set_macros: np.ndarray        # (N, L) macros per set (0: not a set)
    set_offset: np.ndarray        # (N, L) first mesh position of each set
    mesh_width: np.ndarray        # (N,)
    spad_index: np.ndarray        # (N, L) scratchpad size row per set
    counts: np.ndarray            # (N, L, C) components per set
    demand_ns: np.ndarray         # (N, L, C) unit-ns of work per set and component
    durations: np.ndarray         # (N, La, K) ns per occurrence
    energies: np.ndarray          # (N, La, K) nJ per occurrence
    hops_in: np.ndarray           # (N, La) NoC hops of each layer's input transfer
    static_w: dict[str, np.ndarray]
    peak_w: dict[str, np.ndarray]
    area_mm2: dict[str, np.ndarray]
    dynamic_nj: dict[str, np.ndarray]
    power_w: np.ndarray           # (N,) budget
    share: np.ndarray             # (N, L) sharing partner per weighted layer (-1: none)

    @property
    def feasible(self) -> np.ndarray:
        return self.reason == 0


def _gather(per_set: np.ndarray, host: np.ndarray) -> np.ndarray:
    """``per_set[n, host[n, l]]`` for (N, L[, ...]) by (N, La) -> (N, La[, ...])."""
    rows = np.arange(per_set.shape[0])[:, None]
    return per_set[rows, host]


def resolve(network: Network, tech: Technology, batch: DesignBatch, power_w) -> Resolved:
    """Counts, durations (ns) and energies (nJ) of every operation of N designs."""
    wl = build_workload(network, tech)
    tb = tech.tables
    n, L, La = len(batch), wl.n_weighted, wl.n_layers
    if batch.n_layers != L:
        raise DesignError(f"designs have {batch.n_layers} weighted layers, network '{network.name}' has {L}")
    P = np.broadcast_to(np.asarray(power_w, dtype=float), (n,)).copy()
    reason = np.zeros(n, dtype=np.int64)
    A, Wb = tech.precision.activation_bits, tech.precision.weight_bits
    rows_n = np.arange(n)[:, None]

    # --- globals ------------------------------------------------------------------
    si = _index_of(tb.xbar_sizes, batch.xbar_size, "xbar_size")
    ci = _index_of(tb.cell_bits, batch.cell_bits, "cell_bits")
    di = _index_of(tb.dac_bits, batch.dac_bits, "dac_bits")
    S = batch.xbar_size.astype(float)
    B = -(-A // batch.dac_bits)
    slices = -(-Wb // batch.cell_bits)
    need = np.clip(adc_bits_required(batch.xbar_size, batch.dac_bits, batch.cell_bits), 0, 64)
    adc_static, adc_dyn, t_adc = tb.adc_static[need], tb.adc_dynamic[need], tb.adc_latency[need]
    adc_area, adc_peak = tb.adc_area[need], tb.adc_peak[need]
    no_adc = np.isnan(t_adc)
    t_xbar, xbar_dyn = tb.xbar_latency[si, ci], tb.xbar_dynamic[si, ci]
    t_dac, dac_dyn = tb.dac_latency[di], tb.dac_dynamic[di]

    # --- geometry and partition rules ------------------------------------------------
    rg, cg = wl.row_groups[si], wl.col_groups[si]                      # (N, L)
    xsets = rg * cg * slices[:, None]
    dup_w, mac_w, share = batch.dup, batch.macros, batch.share
    xbars_w = dup_w * xsets
    limit = dup_w * rg
    n_budget = np.floor(P * batch.rram_ratio / tb.xbar_peak[si, ci] + 1e-9)
    bad = (dup_w < 1).any(1) | (dup_w[:, wl.is_fc[wl.layer_of_w]] != 1).any(1)
    bad |= (mac_w < 1).any(1) | (mac_w > limit).any(1)
    bad |= _bad_sharing(share, mac_w, limit)
    host_w = np.where(share >= 0, share, np.arange(L))
    host_w = np.where(bad[:, None], np.arange(L), host_w)
    set_macros = np.zeros((n, L), dtype=np.int64)
    np.maximum.at(set_macros, (np.repeat(np.arange(n), L), host_w.ravel()), mac_w.ravel())
    host = host_w[:, wl.anchor_w]                                       # (N, La)
    member = (host[:, :, None] == np.arange(L)).astype(float)           # (N, La, L)
    m_layer = _gather(set_macros, host).astype(float)                   # (N, La)
    m_total = set_macros.sum(1)

    w_of = np.maximum(wl.widx, 0)
    weighted = wl.weighted[None, :]
    dup = np.where(weighted, dup_w[:, w_of], 1)
    crossbars = np.where(weighted, xbars_w[:, w_of], 0)
    steps = np.where(wl.is_fc, 1, np.where(weighted, -(-wl.out_pixels // dup), wl.rows_out))
    x_total = xbars_w.sum(1)

    # --- per-step work -----------------------------------------------------------------
    bus, flit = tech.scratchpad.bus_width_bits, tech.noc.flit_bits
    width = tech.vector_units.width
    load_words = dup * wl.load_values * A / bus
    store_words = dup * wl.store_values * A / bus
    new_flits = dup * wl.new_values * A / flit
    out_flits = np.where(weighted, dup * wl.cout * A / flit, 0.0)
    conv_w = slices[:, None] * wl.cols_read[si]                          # per copy, (N, L)
    adc_conv = np.where(weighted, dup * conv_w[:, w_of], 0.0)
    dac_conv = np.where(weighted, dup * (slices[:, None] * wl.rows_total[si])[:, w_of], 0.0)
    add_elems = np.where(weighted, dup * wl.add_values[si][:, w_of], 0.0)
    act_elems = np.where(wl.act_kind > 0, dup * wl.store_values, 0.0)

    vu = tech.vector_units
    t_c = {c: getattr(vu, c).latency_ns for c in COMPONENTS if c != "adc"}
    vector_ops = {                                                      # per step, per occurrence
        "shift_add": adc_conv / width,
        "addition": add_elems / width,
        "activation": np.where(wl.act_kind == 1, act_elems, 0.0) / width,
        "sigmoid": np.where(wl.act_kind == 2, act_elems, 0.0) / width,
        "pool": np.where(wl.unit_kind == 1, wl.unit_elems, 0.0)[None, :] / width * np.ones((n, 1)),
        "eltwise": np.where(wl.unit_kind == 2, wl.unit_elems, 0.0)[None, :] / width * np.ones((n, 1)),
    }
    per_inference = np.zeros((n, La, len(COMPONENTS)))
    per_inference[..., C["adc"]] = steps * B[:, None] * adc_conv * t_adc[:, None]
    for c, ops in vector_ops.items():
        reps = B[:, None] if c == "shift_add" else 1
        per_inference[..., C[c]] = steps * reps * ops * t_c[c]
    per_inference = np.nan_to_num(per_inference)
    demand = np.einsum("nlc,nlk->nkc", per_inference, member)           # (N, L, C)

    # --- scratchpads --------------------------------------------------------------------
    buffer_bits = wl.buffer_bits + np.where(weighted, dup * wl.cout * A, 0)
    set_bits = np.einsum("nl,nlk->nk", buffer_bits.astype(float), member)
    per_macro_kib = set_bits / 8 / 1024 / np.maximum(set_macros, 1)
    spad_index = np.searchsorted(tb.spad_capacity_kib, per_macro_kib, side="left")
    spad_index = np.where(set_macros > 0, spad_index, 0)
    if batch.macro_mode == "identical":
        spad_index = np.broadcast_to(spad_index.max(1, keepdims=True), spad_index.shape).copy()
    too_big = (spad_index >= len(tb.spad_capacity_kib)).any(1)
    spad_index = np.minimum(spad_index, len(tb.spad_capacity_kib) - 1)
    spad_count = set_macros.astype(float)

    # --- fixed power (W) -----------------------------------------------------------------
    ntx = x_total * S
    io = batch.offchip_links.astype(float)
    fixed_peak = {
        "dac": ntx * tb.dac_peak[di],
        "sample_hold": ntx * tech.sample_hold.static_power_w,
        "scratchpad": (spad_count * tb.spad_peak[spad_index]).sum(1),
        "noc": m_total * tech.noc.router_static_power_w,
        "registers": x_total * tech.registers.per_crossbar_power_w + m_total * tech.registers.per_macro_power_w,
        "offchip_links": io * tech.offchip_links.static_power_w,
    }
    left = (1 - batch.rram_ratio) * P - sum(fixed_peak.values())

    # --- peripheral allocation (MODEL.md section 4) -------------------------------------
    unit_peak = np.stack([adc_peak] + [np.full(n, getattr(vu, c).peak_power_w) for c in COMPONENTS[1:]], 1)
    unit_peak = np.nan_to_num(unit_peak)                                # (N, C)
    active = demand > 0
    if batch.counts is not None:
        host_onehot = (host_w[:, :, None] == np.arange(L)).astype(float)
        counts = np.einsum("njc,njk->nkc", batch.counts, host_onehot)
        short = (active & (counts <= 0)).any((1, 2))
    else:
        counts = _allocate(demand, active, unit_peak, left, set_macros, batch.macro_mode)
        short = np.zeros(n, dtype=bool)
    counts = np.nan_to_num(counts)
    unit_totals = counts.sum(1)                                         # (N, C)
    peripheral_peak = (unit_totals * unit_peak).sum(1)

    # --- durations (ns) and energies (nJ) per occurrence ---------------------------------
    cnt = _gather(counts, host)                                         # (N, La, C)
    sidx = _gather(spad_index, host)
    with np.errstate(divide="ignore", invalid="ignore"):
        dur = np.zeros((n, La, len(OP_CHAIN)))
        en = np.zeros_like(dur)
        dur[..., K["load"]] = load_words * tb.spad_read_latency[sidx] / m_layer
        en[..., K["load"]] = load_words * tb.spad_read_energy[sidx]
        dur[..., K["store"]] = store_words * tb.spad_write_latency[sidx] / m_layer
        en[..., K["store"]] = store_words * tb.spad_write_energy[sidx]
        dur[..., K["mvm"]] = np.where(weighted, (t_dac + t_xbar)[:, None], 0.0)
        en[..., K["mvm"]] = crossbars * (xbar_dyn * t_xbar)[:, None] + dac_conv * (dac_dyn * t_dac)[:, None]
        dur[..., K["adc"]] = adc_conv * t_adc[:, None] / cnt[..., C["adc"]]
        en[..., K["adc"]] = adc_conv * (adc_dyn * t_adc)[:, None]
        for kind, comp in (("shift_add", "shift_add"), ("addition", "addition")):
            dur[..., K[kind]] = vector_ops[comp] * t_c[comp] / cnt[..., C[comp]]
            en[..., K[kind]] = vector_ops[comp] * getattr(vu, comp).energy_nj
        for comp in ("pool", "eltwise"):
            use = vector_ops[comp] > 0
            dur[..., K["unit"]] += np.where(use, vector_ops[comp] * t_c[comp] / cnt[..., C[comp]], 0.0)
            en[..., K["unit"]] += vector_ops[comp] * getattr(vu, comp).energy_nj
        for comp in ("activation", "sigmoid"):
            use = vector_ops[comp] > 0
            dur[..., K["activation"]] += np.where(use, vector_ops[comp] * t_c[comp] / cnt[..., C[comp]], 0.0)
            en[..., K["activation"]] += vector_ops[comp] * getattr(vu, comp).energy_nj

        # NoC: placement on the mesh, input transfers and merges
        offset = np.cumsum(set_macros, 1) - set_macros
        mesh_w = np.ceil(np.sqrt(np.maximum(m_total, 1))).astype(np.int64)
        hop_ns, flit_e = tech.noc.hop_latency_ns, tech.noc.flit_hop_energy_nj
        lo = _gather(offset, host)
        hi = lo + m_layer.astype(np.int64) - 1
        hops_in = np.zeros((n, La))
        remote_flits = np.zeros((n, La))
        for l, prods in enumerate(wl.producers):
            share_in = new_flits[:, l] / max(len(prods), 1)
            for p in prods:
                src = np.zeros(n, dtype=np.int64) if p < 0 else offset[np.arange(n), host[:, p]]
                remote = np.ones(n, dtype=bool) if p < 0 else host[:, p] != host[:, l]
                h = hops_to_range(src, lo[:, l], hi[:, l], mesh_w)
                hops_in[:, l] = np.maximum(hops_in[:, l], np.where(remote, h, 0))
                remote_flits[:, l] += np.where(remote, share_in, 0.0)
        set_hops = hops_to_range(lo, lo, hi, mesh_w[:, None])
        dur[..., K["noc_in"]] = np.where(remote_flits > 0, (hops_in + remote_flits / m_layer) * hop_ns, 0.0)
        en[..., K["noc_in"]] = remote_flits * np.maximum(hops_in, 1) * flit_e
        merge_flits = np.where(m_layer > 1, out_flits * (m_layer - 1) / m_layer, 0.0)
        dur[..., K["merge"]] = np.where(merge_flits > 0, (set_hops + merge_flits) * hop_ns, 0.0)
        en[..., K["merge"]] = merge_flits * np.maximum(set_hops, 1) * flit_e

    # --- totals: static, peak, area, dynamic energy ----------------------------------------
    xbar_static = tb.xbar_static[si, ci]
    unit_static = np.stack([np.nan_to_num(adc_static)] +
                           [np.full(n, getattr(vu, c).static_power_w) for c in COMPONENTS[1:]], 1)
    unit_area = np.stack([np.nan_to_num(adc_area)] + [np.full(n, getattr(vu, c).area_mm2) for c in COMPONENTS[1:]], 1)
    static_w = {
        "crossbar": x_total * xbar_static,
        "dac": ntx * tb.dac_static[di],
        "sample_hold": fixed_peak["sample_hold"],
        "adc": unit_totals[:, 0] * unit_static[:, 0],
        "vector_units": (unit_totals[:, 1:] * unit_static[:, 1:]).sum(1),
        "scratchpad": (spad_count * tb.spad_leak[spad_index]).sum(1),
        "noc": fixed_peak["noc"],
        "registers": fixed_peak["registers"],
        "offchip_links": fixed_peak["offchip_links"],
    }
    peak_w = dict(static_w)
    peak_w.update(
        crossbar=x_total * tb.xbar_peak[si, ci],
        dac=fixed_peak["dac"],
        adc=unit_totals[:, 0] * unit_peak[:, 0],
        vector_units=(unit_totals[:, 1:] * unit_peak[:, 1:]).sum(1),
        scratchpad=fixed_peak["scratchpad"],
    )
    area = {
        "crossbar": x_total * tb.xbar_area[si, ci],
        "dac": ntx * tb.dac_area[di],
        "sample_hold": ntx * tech.sample_hold.area_mm2,
        "adc": unit_totals[:, 0] * unit_area[:, 0],
        "vector_units": (unit_totals[:, 1:] * unit_area[:, 1:]).sum(1),
        "scratchpad": (spad_count * tb.spad_area[spad_index]).sum(1),
        "noc": m_total * tech.noc.router_area_mm2,
        "registers": x_total * tech.registers.per_crossbar_area_mm2 + m_total * tech.registers.per_macro_area_mm2,
        "offchip_links": io * tech.offchip_links.area_mm2,
    }
    reps = np.ones((n, La, len(OP_CHAIN)))
    for kind in ("mvm", "adc", "shift_add"):
        reps[..., K[kind]] = B[:, None]
    per_kind = np.nan_to_num(en) * reps * steps[..., None]               # (N, La, K) nJ per inference
    xbar_part = steps * B[:, None] * crossbars * (xbar_dyn * t_xbar)[:, None]
    dynamic = {
        "crossbar": xbar_part.sum(1),
        "dac": per_kind[..., K["mvm"]].sum(1) - xbar_part.sum(1),
        "adc": per_kind[..., K["adc"]].sum(1),
        "vector_units": per_kind[..., [K["shift_add"], K["addition"], K["unit"], K["activation"]]].sum((1, 2)),
        "scratchpad": per_kind[..., [K["load"], K["store"]]].sum((1, 2)),
        "noc": per_kind[..., [K["noc_in"], K["merge"]]].sum((1, 2)),
    }

    # --- feasibility ----------------------------------------------------------------------
    total_peak = sum(peak_w.values())
    for code, failed in (
        (7, short),
        (6, (batch.counts is not None) & (total_peak > P * (1 + 1e-9))),
        (5, (batch.counts is None) & _reserve_exceeded(active, unit_peak, left, set_macros, batch.macro_mode)),
        (4, too_big),
        (3, x_total > n_budget),
        (2, no_adc),
        (1, bad),
    ):
        reason = np.where(failed, code, reason)
    dur = np.where(np.isfinite(dur), dur, 0.0)
    return Resolved(
        n=n, workload=wl, reason=reason, iterations=B, slices=slices,
        adc_bits=tb.adc_bits[need], xbar_size=batch.xbar_size, xbar_latency_ns=t_xbar, n_xbar_budget=n_budget,
        crossbars=crossbars, dup=dup, steps=steps, host=host, set_macros=set_macros,
        set_offset=offset, mesh_width=mesh_w, spad_index=spad_index, counts=counts,
        demand_ns=demand, durations=dur, energies=np.nan_to_num(en), hops_in=hops_in,
        static_w=static_w, peak_w=peak_w, area_mm2=area, dynamic_nj=dynamic, power_w=P,
        share=np.where(bad[:, None], -1, share),
    )


def _allocate(demand, active, unit_peak, left, set_macros, mode) -> np.ndarray:
    """Closed-form unit counts per set and component (MODEL.md section 4)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "identical":
            m_total = set_macros.sum(1).astype(float)
            per_macro = np.where(set_macros[..., None] > 0, demand / np.maximum(set_macros, 1)[..., None], 0).max(1)
            reserve = m_total * (unit_peak * (per_macro > 0)).sum(1)
            T = m_total * (unit_peak * per_macro).sum(1) / (left - reserve)
            T = np.where(left - reserve > 0, T, np.nan)
            units = np.ceil(per_macro / T[:, None] - 1e-9)
            return units[:, None, :] * set_macros[..., None]
        reserve = (unit_peak[:, None, :] * active).sum((1, 2))
        T = (unit_peak[:, None, :] * demand).sum((1, 2)) / (left - reserve)
        T = np.where(left - reserve > 0, T, np.nan)
        return np.where(active, np.ceil(demand / T[:, None, None] - 1e-9), 0.0)


def _reserve_exceeded(active, unit_peak, left, set_macros, mode) -> np.ndarray:
    if mode == "identical":
        per_macro_active = active.any(1)
        return left - set_macros.sum(1) * (unit_peak * per_macro_active).sum(1) <= 0
    return left - (unit_peak[:, None, :] * active).sum((1, 2)) <= 0


def _bad_sharing(share: np.ndarray, macros: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Designs whose sharing breaks the rules (MODEL.md section 1)."""
    n, L = share.shape
    j = np.arange(L)
    sharing = share >= 0
    bad = (share >= j).any(1) | (share < -1).any(1)
    target = np.clip(share, 0, L - 1)
    rows = np.arange(n)[:, None]
    bad |= (sharing & (share[rows, target] >= 0)).any(1)
    used = np.zeros((n, L), dtype=np.int64)
    np.add.at(used, (np.repeat(np.arange(n), L), target.ravel()), sharing.ravel().astype(np.int64))
    bad |= (used > 1).any(1)
    pair = np.maximum(macros, macros[rows, target])
    bad |= (sharing & ((pair > limit) | (pair > limit[rows, target]))).any(1)
    return bad


def _index_of(options: np.ndarray, values: np.ndarray, name: str) -> np.ndarray:
    idx = np.searchsorted(options, values)
    idx = np.minimum(idx, len(options) - 1)
    if (options[idx] != values).any():
        wrong = sorted(set(values[options[idx] != values].tolist()))
        raise DesignError(f"{name} {wrong} not offered by the technology; choose from {options.tolist()}")
    return idx
