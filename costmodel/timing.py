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

from costmodel.opgraph import OP_CHAIN
from costmodel.resolve import Resolved
from costmodel.scatter import set_sums
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
    interval_ns: np.ndarray  # (N,) the longest layer span or busiest resource per inference
    latency_ns: np.ndarray   # (N,)


def pipeline_timing(r: Resolved) -> Timing:
    """Step times, spans, start/finish of every layer and the design's interval/latency."""
    wl, d = r.workload, r.durations
    B = r.iterations[:, None].astype(F)
    steps = r.steps
    unit, act = d[K["unit"]], d[K["activation"]]
    shared = np.stack([                                                  # (R, N, La) per step
        d[K["load"]] + d[K["store"]],
        B * d[K["adc"]],
        B * d[K["shift_add"]],
        d[K["addition"]],
        unit * (wl.unit_kind == 1),
        unit * (wl.unit_kind == 2),
        act * (wl.act_kind == 1),
        act * (wl.act_kind == 2),
    ])
    private = np.maximum(B * d[K["mvm"]], np.maximum(d[K["noc_in"]], d[K["merge"]]))
    own = np.maximum(private, shared.max(0))
    fill = d.sum(0) + (B - 1) * np.maximum(d[K["mvm"]], np.maximum(d[K["adc"]], d[K["shift_add"]]))

    edges = _edges(wl, r)
    start, finish, _, fed = _schedule(wl, r, edges, own, own, fill, np.zeros_like(own))
    work = steps * shared                                               # (R, N, La)
    step_own, delay = own.copy(), np.zeros_like(own)
    n_idx, b_idx = np.nonzero(r.share >= 0)
    if len(n_idx):
        lb = wl.layer_of_w[b_idx]
        la = wl.layer_of_w[r.share[n_idx, b_idx]]
        loaded_b, wait, loaded_a = _partner_load(wl, r, start, finish, work, shared, n_idx, b_idx,
                                                 _backlogged(start, finish, fed, n_idx, la))
        step_own[n_idx, lb] = np.maximum(private[n_idx, lb], loaded_b)
        step_own[n_idx, la] = np.maximum(step_own[n_idx, la], loaded_a)
        delay[n_idx, lb] = wait
    start, finish, step, _ = _schedule(wl, r, edges, step_own, step_own, fill, delay)

    interval = np.maximum((finish - start).max(1), _busiest_resource(wl, r, work, d, B))
    return Timing(step_ns=step, busy_ns=steps * step_own, fill_ns=fill, start_ns=start, finish_ns=finish,
                  interval_ns=interval.astype(float), latency_ns=finish.max(1).astype(float))


def _busiest_resource(wl: Workload, r: Resolved, work, d, B) -> np.ndarray:
    """(N,) the largest total busy time of one resource per inference: in a stream of
    inferences the pipeline cannot go faster than its busiest resource (a macro set's
    shared units, a layer's crossbars, a gather macro's NoC port)."""
    steps = r.steps
    # a set's units: its work per component over its unit count; its scratchpad: loads and stores
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.where(r.counts > 0, r.demand_ns / r.counts, 0).max((1, 2))
    scratchpad = set_sums(work[:1], wl.anchor_group, r.share)[0].max(1)
    set_busy = np.maximum(units, scratchpad)
    crossbars = (steps * B * d[K["mvm"]]).max(1)
    # ports: merges of a set, and the transfers its gather macro sends to other sets
    port_work = np.stack([steps * d[K["merge"]], steps * d[K["noc_in"]]])     # (2, N, La)
    first_p = np.array([p[0] for p in wl.producers])
    sender = np.where(first_p < 0, -1, wl.anchor_w[np.maximum(first_p, 0)])   # natural group of the sender
    to_port = np.zeros((len(wl.producers), wl.n_weighted + 1), dtype=F)
    to_port[np.arange(len(first_p)), np.where(sender < 0, wl.n_weighted, sender)] = 1
    merges = set_sums(port_work[:1], wl.anchor_group, r.share)[0]
    sends = port_work[1] @ to_port                                           # (N, L + 1)
    sends_sets = set_sums(sends[None, :, :-1], np.eye(wl.n_weighted, dtype=F), r.share)[0]
    ports = np.maximum((merges + sends_sets).max(1), sends[:, -1])
    return np.maximum(np.maximum(set_busy, crossbars), ports).astype(float)


def _edges(wl: Workload, r: Resolved):
    """Per producer edge (N, E): the producer step the consumer's first step needs, and the
    consumer's steps that need the producer's last step (both independent of time)."""
    l, p = wl.edge_layer, np.maximum(wl.edge_producer, 0)
    dup_l, dup_p = r.dup[:, l], r.dup[:, p]
    steps_l, steps_p = r.steps[:, l], r.steps[:, p]
    width_l = wl.out_width[l]
    weighted_l = wl.weighted[l]
    first_row = np.where(weighted_l, np.floor((np.minimum(dup_l, wl.out_pixels[l]) - 1) / width_l), 0)
    need_first = np.minimum(needed_producer_step(wl, l, p, first_row, dup_p), steps_p - 1)
    # the first output row needing the producer's last step, and the step it starts in
    last_row_p = np.where(wl.weighted[p], np.floor((steps_p - 1) * dup_p / wl.out_width[p]), wl.rows_out[p] - 1)
    y = np.clip(np.ceil((last_row_p - wl.row_offset[l]) / np.maximum(wl.row_stride[l], 1)), 0, wl.rows_out[l] - 1)
    first_tail = np.where(weighted_l, np.minimum(np.floor(y * width_l / dup_l), steps_l - 1), y)
    first_tail = np.where(wl.is_fc[l] | wl.is_fc[p], 0, first_tail)
    tail = (steps_l - first_tail).astype(F)
    return need_first.astype(F), tail


def _schedule(wl: Workload, r: Resolved, edges, step_own, pace, fill, delay):
    """Start and finish of every layer given its own step time and start delay.

    Returns start, finish, the paced step time and the time the layer's producers end
    (all (N, La), ns)."""
    need_first, tail = edges
    n, La = step_own.shape
    steps = r.steps
    step = pace.copy()
    start = np.zeros((La, n), dtype=F)
    finish = np.zeros((La, n), dtype=F)
    fed = np.zeros((La, n), dtype=F)
    step_t, fill_t, steps_t = step.T.copy(), fill.T, steps.T
    own_t, delay_t = step_own.T, delay.T
    for e0, prods in zip(wl.first_edge, wl.producers):
        l = wl.edge_layer[e0]
        ready = np.zeros(n, dtype=F)
        done = np.zeros(n, dtype=F)
        for e, p in enumerate(prods, start=e0):
            if p < 0:
                continue
            last = need_first[:, e]
            at = start[p] + last * step_t[p] + fill_t[p]
            ready = np.maximum(ready, np.where(last >= steps_t[p] - 1, finish[p], at))
            done = np.maximum(done, finish[p] + (tail[:, e] - 1) * own_t[l])
        ready += delay_t[l]
        start[l] = ready
        fed[l] = done
        finish[l] = np.maximum(ready + (steps_t[l] - 1) * step_t[l], done) + fill_t[l]
        # a consumer faster than its producers runs at their pace
        step_t[l] = np.maximum(step_t[l], (done - ready) / steps_t[l])
    return start.T, finish.T, step_t.T, fed.T


def _backlogged(start, finish, fed, n_idx, layers) -> np.ndarray:
    """Whether each layer's inputs arrive well before it consumes them, so its operations
    queue up ready early (its producers end before 90 % of its span)."""
    s, f = start[n_idx, layers], finish[n_idx, layers]
    return fed[n_idx, layers] - s < F(0.9) * (f - s)


def _partner_load(wl: Workload, r: Resolved, start, finish, work, shared, n_idx, b_idx, backlog):
    """Step time and start wait of weighted layers that share an earlier layer's macros.

    ``(n_idx, b_idx)`` list the (design, weighted position) pairs that share. Returns
    ``(loaded, wait)``, one value per pair: the slowest shared resource per step once the
    partner's work inside the layer's window is added (the partner's work spread evenly
    over its own window), and the wait of the layer's first step when it starts while the
    partner keeps a resource busy: its per-step work at the capacity the partner leaves,
    at most until the partner ends. Weightless layers run by the same set add little and
    are left out.
    """
    lb = wl.layer_of_w[b_idx]
    la = wl.layer_of_w[r.share[n_idx, b_idx]]
    s_a, f_a = start[n_idx, la], finish[n_idx, la]
    s_b, f_b = start[n_idx, lb], finish[n_idx, lb]
    span_a = np.maximum(f_a - s_a, F(1e-9))
    work_a = work[:, n_idx, la]                                         # (R, M)
    w_b = shared[:, n_idx, lb]
    util = np.minimum(work_a / span_a, F(1 - 1e-6))
    wait = (np.minimum(w_b / (1 - util) - w_b, np.maximum(f_a - s_b, 0))).max(0)
    wait *= (s_a <= s_b) & (s_b < f_a)
    overlap = np.clip(np.minimum(f_b + wait, f_a) - np.maximum(s_b + wait, s_a), 0, None)
    loaded = (w_b + work_a * (overlap / span_a / r.steps[n_idx, lb])) * (w_b > 0)
    # a partner paced by its own producers leaves gaps the later layer fills: both slow down
    fair = ~backlog
    overlap_f = np.clip(np.minimum(f_b, f_a) - np.maximum(s_b, s_a), 0, None)
    span_b = np.maximum(f_b - s_b, F(1e-9))
    loaded_fair = (w_b + work_a * (overlap_f / span_a / r.steps[n_idx, lb])) * (w_b > 0)
    w_a = shared[:, n_idx, la]
    loaded_a = (w_a + work[:, n_idx, lb] * (overlap_f / span_b / r.steps[n_idx, la])) * (w_a > 0)
    loaded = np.where(fair, loaded_fair, loaded)
    wait = np.where(fair, 0, wait)
    return loaded.max(0), wait, np.where(fair, loaded_a.max(0), 0)
