"""Analytical pipeline timing of resolved designs (MODEL.md section 7), vectorised.

Per layer: the busy time of each resource per step, the fill time of one step (its chain
with the bit iterations pipelined), and start/finish from the rows its first step needs
from each producer; a layer faster than its producers runs at their pace, and the steps
that need a producer's last step follow its end. Resources a macro set shares
(scratchpad, ADCs, vector units) slow a weighted layer by the work of the earlier layer
whose macros it shares while both run (the earlier layer's operations become ready
first, so the reference scheduler serves them first): a first pass finds every layer's
time window, a second adds the overlapping share of the partner's work, and the wait of
a layer that starts while its partner keeps a shared resource busy, and schedules again.
Shapes: ``(N, La)`` unless noted; float32 like the resolved arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.design import COMPONENTS
from costmodel.opgraph import OP_CHAIN
from costmodel.resolve import Resolved
from costmodel.reduce import row_max
from costmodel.runs import Runs
from costmodel.scatter import set_sums
from costmodel.segments import segment_max, segment_sum
from costmodel.workload import Workload, needed_producer_step

K = {kind: i for i, kind in enumerate(OP_CHAIN)}
F = np.float32


@dataclass
class Timing:
    step_ns: np.ndarray      # (N, La) effective time per step
    busy_ns: np.ndarray      # (N, La) the layer's steps back to back, contention included
    fill_ns: np.ndarray      # (N, La) one step through its chain
    start_ns: np.ndarray     # (N, La)
    finish_ns: np.ndarray    # (N, La)
    interval_ns: np.ndarray  # (N,) the busiest resource's time per inference (a batch's time / batch when reloading)
    latency_ns: np.ndarray   # (N,) one inference's (reloading: its batch's) first to last operation
    segment_interval_ns: np.ndarray | None = None  # (N, S) each segment's busiest resource per inference
    segment_latency_ns: np.ndarray | None = None   # (N, S) each segment's one-inference latency
    batch_ns: np.ndarray | None = None             # (N,) reloading designs: one batch through every segment


def pipeline_timing(r: Resolved, latency: bool = True) -> Timing:
    """Step times, spans, start/finish of every layer and the design's interval/latency.

    The interval needs no schedule; ``latency=False`` skips it (a search for efficiency
    or throughput): then every per-layer time and the latency are NaN. Designs that
    reload weights (MODEL.md section 8) need each segment's latency for their interval:
    a batch containing one is always scheduled."""
    wl, d = r.workload, r.durations
    B = r.iterations.astype(F, copy=False)                                # (N, La) bit iterations x passes
    steps = r.steps
    unit, act = d[K["unit"]], d[K["activation"]]
    shared = np.empty((8, *steps.shape), dtype=F)                        # (R, N, La) per step
    np.add(d[K["load"]], d[K["store"]], out=shared[0])
    np.multiply(B, d[K["adc"]], out=shared[1])
    np.multiply(B, d[K["shift_add"]], out=shared[2])
    shared[3] = d[K["addition"]]
    np.multiply(unit, wl.unit_kind == 1, out=shared[4])
    np.multiply(unit, wl.unit_kind == 2, out=shared[5])
    np.multiply(act, wl.act_kind == 1, out=shared[6])
    np.multiply(act, wl.act_kind == 2, out=shared[7])
    xbar_step = B * d[K["mvm"]] + d[K["feed"]]                            # the crossbars' time per step
    private = np.maximum(xbar_step, np.maximum(d[K["noc_in"]], d[K["merge"]]))
    own = np.maximum(private, shared.max(0))
    reloading = r.offchip.reloads.any(1) if r.offchip.reloads.size else np.zeros(r.n, dtype=bool)
    # designs that reload take their interval from their segments' (:func:`_segmented`)
    interval = np.zeros(r.n) if reloading.all() else _busiest_resource(wl, r, shared, d, xbar_step)
    latency = latency or bool(reloading.any())
    if not latency:
        nan = np.full(steps.shape, np.nan, dtype=F)
        return Timing(step_ns=nan, busy_ns=nan, fill_ns=nan, start_ns=nan, finish_ns=nan, interval_ns=interval,
                      latency_ns=np.full(len(interval), np.nan))
    fill = d.sum(0) + (B - 1) * np.maximum(d[K["mvm"]], np.maximum(d[K["adc"]], d[K["shift_add"]]))

    edges = _edges(wl, r)
    cut = _cut_edges(wl, r)
    start, finish, _, fed = _schedule(wl, r, edges, own, fill, np.zeros_like(own), cut=cut)
    step_own, delay = own.copy(), np.zeros_like(own)
    b_idx, n_idx = np.nonzero(r.share.T >= 0)                          # ordered by layer
    lb = wl.layer_of_w[b_idx]
    la = wl.layer_of_w[r.share[n_idx, b_idx]]
    if len(n_idx):
        loaded_b, wait, loaded_a = _partner_load(wl, r, start, finish, fed, shared, n_idx, b_idx,
                                                 _backlogged(start, finish, fed, n_idx, la))
        step_own[n_idx, lb] = np.maximum(private[n_idx, lb], loaded_b)
        step_own[n_idx, la] = np.maximum(step_own[n_idx, la], loaded_a)
        delay[n_idx, lb] = wait
    start, finish, step, _ = _schedule(wl, r, edges, step_own, fill, delay, knees=_by_layer(n_idx, lb, la, own),
                                       cut=cut)
    timing = Timing(step_ns=step, busy_ns=steps * step_own, fill_ns=fill, start_ns=start, finish_ns=finish,
                    interval_ns=interval, latency_ns=row_max(finish).astype(float))
    if reloading.any():
        _segmented(timing, wl, r, shared, d, xbar_step, reloading)
    return timing


def _segmented(t: Timing, wl: Workload, r: Resolved, shared, d, xbar_step, reloading) -> None:
    """Interval and latency of designs that reload weights (MODEL.md section 8), in place:
    per batch, each segment loads its weights, then runs the batch as a stream (its
    latency, then one of its intervals per further inference), while its activations
    move over the DRAM port; the segments run one after another."""
    S = r.n_segments
    if S > 1:
        seg_interval = _segment_busiest(wl, r, shared, d, xbar_step)
        seg_latency = segment_max(t.finish_ns, r.segment_a, S).astype(float)
    else:
        seg_interval = _busiest_resource(wl, r, shared, d, xbar_step)[:, None]
        seg_latency = t.latency_ns[:, None]
    B = r.batch.astype(float)[:, None]
    compute = seg_latency + (B - 1) * seg_interval
    batch_ns = (r.offchip.reload_ns + np.maximum(compute, r.offchip.dram_ns)).sum(1)
    t.segment_interval_ns, t.segment_latency_ns, t.batch_ns = seg_interval, seg_latency, batch_ns
    t.interval_ns = np.where(reloading, batch_ns / B[:, 0], t.interval_ns)
    t.latency_ns = np.where(reloading, batch_ns, t.latency_ns)


def _segment_busiest(wl: Workload, r: Resolved, shared, d, xbar_step) -> np.ndarray:
    """(N, S) :func:`_busiest_resource` of each segment: its sets' units, scratchpads and
    ports, its layers' crossbars, and the port its inputs from earlier segments (or the
    network input) enter by."""
    steps, S, L = r.steps, r.n_segments, r.share.shape[1]
    counts, demand = r.counts.transpose(2, 0, 1), r.demand_ns.transpose(2, 0, 1)
    per_set = set_sums((steps * shared[0])[None], wl.anchor_group, r.sharing)[0].astype(float)
    for dem, cnt, comp in zip(demand, counts, COMPONENTS):
        if comp in wl.components_used:
            np.maximum(per_set, dem / np.where(cnt > 0, cnt, np.inf), out=per_set)
    sends = steps * d[K["noc_in"]]
    first_producer = wl.edge_producer[wl.first_edge]
    from_outside = (first_producer < 0) | (r.segment_a != r.segment_a[:, np.maximum(first_producer, 0)])
    local = (sends * ~from_outside) @ wl.port_group
    merges = set_sums((steps * d[K["merge"]])[None], wl.anchor_group, r.sharing)[0]
    ports = merges + r.sharing.merge(local[None, :, :L].copy())[0]
    per_set = np.maximum(per_set, ports)
    np.maximum(per_set, (steps * xbar_step)[:, wl.layer_of_w], out=per_set)
    busiest = segment_max(per_set, r.segment, S)
    return np.maximum(busiest, segment_sum(sends * from_outside, r.segment_a, S))


def _cut_edges(wl: Workload, r: Resolved) -> list | None:
    """Per edge, (N,) whether its producer runs in an earlier segment (its output waits in
    the global buffer or DRAM: available when the consumer's segment starts), or None
    where no design cuts it (an edge inside one macro group never is); None for all
    when every design has one segment."""
    if r.n_segments == 1:
        return None
    seg = r.segment_a.T
    cut = seg[wl.edge_layer] != seg[np.maximum(wl.edge_producer, 0)]
    return [c if c.any() else None for c in cut]


def _busiest_resource(wl: Workload, r: Resolved, shared, d, xbar_step) -> np.ndarray:
    """(N,) the largest total busy time of one resource per inference: in a stream of
    inferences the pipeline cannot go faster than its busiest resource (a macro set's
    shared units, a layer's crossbars, a gather macro's NoC port)."""
    steps = r.steps
    # a set's units: its work per component over its unit count; its scratchpad: loads and stores
    counts, demand = r.counts.transpose(2, 0, 1), r.demand_ns.transpose(2, 0, 1)     # (C, N, L)
    busy = np.zeros(counts.shape[1:], dtype=np.result_type(demand, counts))          # (N, L)
    for dem, cnt, comp in zip(demand, counts, COMPONENTS):               # one component at a time
        if comp not in wl.components_used:                              # no work anywhere
            continue
        np.maximum(busy, dem / np.where(cnt > 0, cnt, np.inf), out=busy)    # no units: 0
    units = row_max(busy)
    scratchpad = row_max(set_sums((steps * shared[0])[None], wl.anchor_group, r.sharing)[0])
    set_busy = np.maximum(units, scratchpad)
    crossbars = row_max(steps * xbar_step)
    # ports: merges of a set, and the transfers its gather macro sends to other sets
    merges = set_sums((steps * d[K["merge"]])[None], wl.anchor_group, r.sharing)[0]
    sends = (steps * d[K["noc_in"]]) @ wl.port_group                         # (N, L + 1) by sending group
    sends_sets = r.sharing.merge(sends[None, :, :-1].copy())[0]
    ports = np.maximum(row_max(merges + sends_sets), sends[:, -1])
    return np.maximum(np.maximum(set_busy, crossbars), ports).astype(float)


def _edges(wl: Workload, r: Resolved):
    """Per producer edge, edge-major (E, N): the producer step the consumer's first step
    needs, the consumer's steps after the first that needs the producer's last step, and
    the consumer's steps per producer step before it. All depend on the duplication and
    the steps alone (steps follow from the duplication, except a tiled layer's): computed
    once per run of designs with equal duplication and steps."""
    runs = Runs(np.concatenate([r.dup, r.steps], 1) if r.tiles.tiled.any() else r.dup)
    need_first, after, gain = (runs.spread(a, 1) for a in _edges_of(wl, runs.first(r.dup), runs.first(r.steps)))
    tiled = r.tiles.tiled
    if tiled.any():
        # a tiled layer's outputs are complete only after its last tile: consumers wait for it
        p = np.maximum(wl.edge_producer, 0)
        w = np.where(wl.widx[p] >= 0, wl.widx[p], 0)
        from_tiled = tiled.T[w] & (wl.widx[p] >= 0)[:, None] & (wl.edge_producer >= 0)[:, None]      # (E, N)
        steps_t = r.steps.T
        need_first = np.where(from_tiled, steps_t[p] - 1, need_first).astype(F)
        after = np.where(from_tiled, steps_t[wl.edge_layer] - 1, after).astype(F)
        gain = np.where(from_tiled, 0, gain).astype(F)
    return need_first, after, gain


def _edges_of(wl: Workload, dup: np.ndarray, steps: np.ndarray):
    """:func:`_edges` of designs with copies ``dup`` and steps ``steps`` (N, La)."""
    l, p = wl.edge_layer, np.maximum(wl.edge_producer, 0)
    dup_l, dup_p = dup[:, l], dup[:, p]
    steps_l, steps_p = steps[:, l], steps[:, p]
    width_l = wl.out_width[l]
    weighted_l = wl.weighted[l]
    first_row = np.where(weighted_l, np.floor((np.minimum(dup_l, wl.out_pixels[l]) - 1) / width_l), 0)
    need_first = np.minimum(needed_producer_step(wl, l, p, first_row, dup_p), steps_p - 1)
    # the first output row needing the producer's last step, and the step it starts in
    last_row_p = np.where(wl.weighted[p], np.floor((steps_p - 1) * dup_p / wl.out_width[p]), wl.rows_out[p] - 1)
    y = np.clip(np.ceil((last_row_p - wl.row_offset[l]) / np.maximum(wl.row_stride[l], 1)), 0, wl.rows_out[l] - 1)
    first_tail = np.where(weighted_l, np.minimum(np.floor(y * width_l / dup_l), steps_l - 1), y)
    first_tail = np.where(wl.is_fc[l] | wl.is_fc[p], 0, first_tail)
    after = steps_l - 1 - first_tail
    gain = first_tail / np.maximum(steps_p - 1 - need_first, 1)
    return tuple(np.ascontiguousarray(a.T, dtype=F) for a in (need_first, after, gain))


def _schedule(wl: Workload, r: Resolved, edges, step_own, fill, delay, knees=None, cut=None):
    """Start and finish of every layer given its own step time and start delay.

    With ``knees`` (:func:`_by_layer`: per layer, the designs in which it shares an earlier
    layer's macros, that layer, and its step time without the partner's work), every
    layer's progress also has one knee: a time ``T`` (the end of its knee step) and
    the steps ``rem`` it has left after it. A consumer cannot end before ``T`` of a
    producer plus the consumer's steps that need the producer's steps after its knee, at
    the consumer's own pace. A layer's knee is the one of its producers' (moved through
    the edge's step ratio) whose end at the layer's pace is latest, if later than the
    layer's own end (otherwise its end: no knee); a layer sharing macros has its knee at
    its partner's end when its own steps set its finish (it runs faster from there).

    ``cut`` (:func:`_cut_edges`) marks edges from an earlier segment: their data is there when the
    layer's segment starts, so they constrain nothing (times are from the segment's start).

    Returns start, finish, the paced step time and the time the layer's producers end
    (all (N, La), ns)."""
    need_first, after, gain = edges
    n, La = step_own.shape
    start = np.zeros((La, n), dtype=F)
    finish = np.zeros((La, n), dtype=F)
    fed = np.zeros((La, n), dtype=F)
    # layer-major: the loop reads one layer of all designs at a time
    step_t = step_own.T.copy()
    fill_t, own_t, delay_t = (np.ascontiguousarray(a.T) for a in (fill, step_own, delay))
    steps_t = np.ascontiguousarray(r.steps.T)
    last_step = steps_t - 1
    # per edge (E, N), independent of the schedule: whether the consumer's first step needs the
    # producer's last, and the consumer's time after the producer ends
    producer = np.maximum(wl.edge_producer, 0)
    needs_last = need_first >= last_step[producer]
    after_end = after * own_t[wl.edge_layer]
    if knees is not None:
        knee_rem = np.zeros((La, n), dtype=F)
        knee_end = np.zeros((La, n), dtype=F)
        flat_finish = finish.reshape(-1)
    for e0, prods in zip(wl.first_edge, wl.producers):
        l = wl.edge_layer[e0]
        ready = np.zeros(n, dtype=F)
        done = np.zeros(n, dtype=F)
        cands = []
        for e, p in enumerate(prods, start=e0):
            if p < 0:
                continue
            at = start[p] + need_first[e] * step_t[p] + fill_t[p]
            at = np.where(needs_last[e], finish[p], at)
            end = finish[p] + after_end[e]
            if cut is not None and cut[e] is not None:
                at, end = np.where(cut[e], 0, at), np.where(cut[e], 0, end)
            ready = np.maximum(ready, at)
            done = np.maximum(done, end)
            if knees is not None:
                # the producer's knee: the layer's steps that need its steps after it
                rem = np.minimum(knee_rem[p] * gain[e] + after[e], last_step[l])
                k_end = knee_end[p]
                if cut is not None and cut[e] is not None:
                    rem, k_end = np.where(cut[e], 0, rem), np.where(cut[e], 0, k_end)
                done = np.maximum(done, k_end + rem * own_t[l])
                cands.append((rem, k_end))
        ready += delay_t[l]
        start[l] = ready
        fed[l] = done
        own_end = ready + last_step[l] * step_t[l]
        finish[l] = np.maximum(own_end, done) + fill_t[l]
        # a consumer faster than its producers runs at their pace
        step_t[l] = np.maximum(step_t[l], (done - ready) / steps_t[l])
        if knees is None:
            continue
        best = own_end + fill_t[l]                                       # no knee: even progress
        knee_end[l] = finish[l]
        for i, (rem, end) in enumerate(cands):
            end = end + fill_t[l]
            late = rem * step_t[l]
            late += end
            take = late > best
            if i + 1 < len(cands):
                np.maximum(best, late, out=best)
            if i == 0:
                np.multiply(rem, take, out=knee_rem[l])
            else:
                np.copyto(knee_rem[l], rem, where=take)
            np.copyto(knee_end[l], end, where=take)
        if l in knees:
            d, at_partner, alone = knees[l]
            # where its own steps set its finish: a knee where its partner ends
            own_set = own_end.take(d) > done.take(d)
            d, at_partner, alone = d[own_set], at_partner[own_set], alone[own_set]
            fill_d = fill_t[l].take(d)
            f = finish[l].take(d) - fill_d
            end = np.minimum(np.maximum(flat_finish.take(at_partner * n + d), start[l].take(d)), f)
            f -= end
            end += fill_d
            knee_end[l, d] = end
            f /= alone
            knee_rem[l, d] = np.minimum(f, last_step[l].take(d))
    return start.T, finish.T, step_t.T, fed.T


def _by_layer(n_idx, lb, la, alone) -> dict:
    """The sharing pairs (ordered by the later layer ``lb``) grouped by that layer:
    ``{layer: (designs, partner, the layer's step time alone)}``."""
    La = alone.shape[1]
    alone = alone.reshape(-1).take(n_idx * La + lb)
    bounds = np.searchsorted(lb, np.arange(La + 1))
    return {l: (n_idx[a:b], la[a:b], alone[a:b]) for l, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) if b > a}


def _backlogged(start, finish, fed, n_idx, layers) -> np.ndarray:
    """Whether each layer's inputs arrive well before it consumes them, so its operations
    queue up ready early (its producers end before 90 % of its span)."""
    s, f = start[n_idx, layers], finish[n_idx, layers]
    return fed[n_idx, layers] - s < F(0.9) * (f - s)


def _partner_load(wl: Workload, r: Resolved, start, finish, fed, shared, n_idx, b_idx, backlog):
    """Step time and start wait of weighted layers that share an earlier layer's macros.

    ``(n_idx, b_idx)`` list the (design, weighted position) pairs that share. Returns
    ``(loaded, wait)``, one value per pair: the slowest shared resource per step once the
    partner's work inside the layer's window is added (the partner's work spread evenly
    over its own window), and the wait of the layer's first step when it starts while the
    partner keeps a resource busy: the lesser of its per-step work at the capacity the
    partner leaves and the partner's queue when it starts (the partner's work its
    producers have handed over by then, evenly until they end, less the work it has done,
    evenly over its span), at most until the partner ends. Weightless layers run by the
    same set add little and are left out.
    """
    La = start.shape[1]
    lb = wl.layer_of_w[b_idx]
    la = wl.layer_of_w[r.share[n_idx, b_idx]]
    at_a, at_b = n_idx * La + la, n_idx * La + lb                       # flat indices into (N, La)
    s_a, f_a = start[n_idx, la], finish[n_idx, la]
    s_b, f_b = start[n_idx, lb], finish[n_idx, lb]
    steps_a, steps_b = r.steps.take(at_a), r.steps.take(at_b)
    per_step = shared.reshape(len(shared), -1)
    w_a, w_b = per_step.take(at_a, axis=1), per_step.take(at_b, axis=1)  # (R, M)
    work_a = steps_a * w_a
    span_a = np.maximum(f_a - s_a, F(1e-9))
    # the partner's queue when the layer starts: its work released by then (its producers
    # hand it over evenly until they end) less its work done (evenly over its span)
    fed_a = fed[n_idx, la]
    released = np.clip((s_b - s_a) / np.maximum(fed_a - s_a, F(1e-9)), 0, 1)
    done = np.clip((s_b - s_a) / span_a, 0, 1)
    util = np.minimum(work_a / span_a, F(1 - 1e-6))
    queue = (work_a * np.maximum(released - done, 0)).max(0)
    wait = np.minimum(np.minimum(queue, (w_b / (1 - util) - w_b).max(0)), np.maximum(f_a - s_b, 0))
    wait *= (s_a <= s_b) & (s_b < f_a)
    overlap = np.clip(np.minimum(f_b + wait, f_a) - np.maximum(s_b + wait, s_a), 0, None)
    loaded = (w_b + work_a * (overlap / span_a / steps_b)) * (w_b > 0)
    # a partner paced by its own producers leaves gaps the later layer fills: both slow down
    fair = ~backlog
    overlap_f = np.clip(np.minimum(f_b, f_a) - np.maximum(s_b, s_a), 0, None)
    span_b = np.maximum(f_b - s_b, F(1e-9))
    loaded_fair = (w_b + work_a * (overlap_f / span_a / steps_b)) * (w_b > 0)
    loaded_a = (w_a + steps_b * w_b * (overlap_f / span_b / steps_a)) * (w_a > 0)
    loaded = np.where(fair, loaded_fair, loaded)
    wait = np.where(fair, 0, wait)
    return loaded.max(0), wait, np.where(fair, loaded_a.max(0), 0)
