"""Analytical pipeline timing of resolved designs (MODEL.md section 7), vectorised.

Per layer: the busy time of each resource per step, the fill time of one step (its chain
with the bit iterations pipelined), and start/finish from the rows its first step needs
from each producer; a layer faster than its producers runs at their pace. Resources a
macro set shares (scratchpad, ADCs, vector units) slow a layer by the work earlier
layers of the set put on them while it runs (their operations become ready first, so
the reference scheduler serves them first): a first pass finds every layer's time
window, a second adds the overlapping share of those layers' work and schedules again. Shapes:
``(N, La)`` unless noted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.opgraph import OP_CHAIN
from costmodel.resolve import Resolved
from costmodel.workload import Workload, needed_producer_step

K = {kind: i for i, kind in enumerate(OP_CHAIN)}
# Resources a macro set shares between its layers.
SET_RESOURCES = ("scratchpad", "adc", "shift_add", "addition", "pool", "eltwise", "activation", "sigmoid")


@dataclass
class Timing:
    step_ns: np.ndarray      # (N, La) effective time per step
    busy_ns: np.ndarray      # (N, La) the layer's steps back to back, contention included
    fill_ns: np.ndarray      # (N, La) one step through its chain
    start_ns: np.ndarray     # (N, La)
    finish_ns: np.ndarray    # (N, La)
    interval_ns: np.ndarray  # (N,)
    latency_ns: np.ndarray   # (N,)


def pipeline_timing(r: Resolved) -> Timing:
    """Step times, spans, start/finish of every layer and the design's interval/latency."""
    wl, d = r.workload, r.durations
    B = r.iterations[:, None].astype(float)
    steps = r.steps.astype(float)
    unit, act = d[..., K["unit"]], d[..., K["activation"]]
    shared = np.stack([                                                  # (N, La, R) per step
        d[..., K["load"]] + d[..., K["store"]],
        B * d[..., K["adc"]],
        B * d[..., K["shift_add"]],
        d[..., K["addition"]],
        np.where(wl.unit_kind == 1, unit, 0.0),
        np.where(wl.unit_kind == 2, unit, 0.0),
        np.where(wl.act_kind == 1, act, 0.0),
        np.where(wl.act_kind == 2, act, 0.0),
    ], -1)
    private = np.maximum(B * d[..., K["mvm"]], np.maximum(d[..., K["noc_in"]], d[..., K["merge"]]))
    own = np.maximum(private, shared.max(-1))

    iterated = d[..., [K["mvm"], K["adc"], K["shift_add"]]]
    chain = d.sum(-1) - iterated.sum(-1)
    fill = chain + iterated.sum(-1) + (B - 1) * iterated.max(-1)

    start, finish, _ = _schedule(wl, r, own, fill, np.zeros_like(own))
    work = steps[..., None] * shared                                     # (N, La, R)
    contention, delay = _partner_load(wl, r, start, finish, work, shared)
    with np.errstate(invalid="ignore", divide="ignore"):
        loaded = np.where(shared > 0, (work + contention) / steps[..., None], 0.0)
    step_own = np.maximum(private, loaded.max(-1))
    start, finish, step = _schedule(wl, r, step_own, fill, delay)

    set_busy = scatter_sum(work, r.host, r.set_macros.shape[1])
    interval = np.maximum((finish - start).max(1), set_busy.max((1, 2)))
    return Timing(step_ns=step, busy_ns=steps * step_own, fill_ns=fill, start_ns=start, finish_ns=finish,
                  interval_ns=interval, latency_ns=finish.max(1))


def _partner_load(wl: Workload, r: Resolved, start, finish, work, shared):
    """Work an earlier sharing partner puts on a layer's shared resources while it runs.

    Returns ``(contention, delay)``: (N, La, R) partner work inside the layer's window
    (the partner's work spread evenly over its own window), and (N, La) the wait of the
    layer's first step when it starts while the partner keeps the resource busy: its
    per-step work at the capacity the partner leaves, at most until the partner ends.
    Only weighted layers share macros; the contention of weightless layers run by the
    same set is small and left out.
    """
    n = r.n
    contention = np.zeros_like(work)
    delay = np.zeros(start.shape)
    share = r.share
    if share is None or not (share >= 0).any():
        return contention, delay
    rows = np.arange(n)[:, None]
    la = wl.layer_of_w[np.maximum(share, 0)]                            # (N, L)
    sharing = share >= 0
    s_a, f_a = start[rows, la], finish[rows, la]
    s_b, f_b = start[:, wl.layer_of_w], finish[:, wl.layer_of_w]
    span_a = np.maximum(f_a - s_a, 1e-9)
    work_a = work[rows, la]                                             # (N, L, R)
    util = np.clip(work_a / span_a[..., None], 0.0, 1.0 - 1e-9)
    w_b = shared[:, wl.layer_of_w]
    wait = np.where(w_b > 0, np.minimum(w_b / (1 - util) - w_b, (f_a - s_b)[..., None]), 0.0).max(-1)
    wait = np.where(sharing & (s_a <= s_b) & (s_b < f_a), wait, 0.0)
    delay[:, wl.layer_of_w] = wait
    overlap = np.clip(np.minimum(f_b + wait, f_a) - np.maximum(s_b + wait, s_a), 0.0, None)
    contention[:, wl.layer_of_w] = np.where(sharing[..., None], work_a * (overlap / span_a)[..., None], 0.0)
    return contention, delay


def scatter_sum(values: np.ndarray, host: np.ndarray, n_sets: int) -> np.ndarray:
    """Sum (N, La, X) values into (N, n_sets, X) by each layer's set ``host`` (N, La)."""
    n, La, X = values.shape
    flat = ((np.arange(n)[:, None] * n_sets + host)[..., None] * X + np.arange(X)).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=n * n_sets * X).reshape(n, n_sets, X)


def _schedule(wl: Workload, r: Resolved, step_own: np.ndarray, fill: np.ndarray, delay: np.ndarray):
    """Start and finish of every layer given its own step time and start delay.

    Returns start, finish and the paced step time (all (N, La), ns)."""
    n, La = step_own.shape
    steps = r.steps.astype(float)
    step = step_own.copy()
    start = np.zeros((n, La))
    finish = np.zeros((n, La))
    for l, prods in enumerate(wl.producers):
        ready = np.zeros(n)
        done = np.zeros(n)
        first_row = (np.minimum(r.dup[:, l], wl.out_pixels[l]) - 1) // wl.out_width[l] if wl.weighted[l] else 0
        for p in prods:
            if p < 0:
                continue
            last = np.minimum(needed_producer_step(wl, l, p, first_row, r.dup[:, p]), r.steps[:, p] - 1)
            at = np.where(last >= r.steps[:, p] - 1, finish[:, p], start[:, p] + last * step[:, p] + fill[:, p])
            ready = np.maximum(ready, at)
            # the steps that need the producer's last step can only follow its end
            tail = r.steps[:, l] - _first_step_needing_last(wl, r, l, p)
            done = np.maximum(done, finish[:, p] + (tail - 1) * step_own[:, l])
        ready = ready + delay[:, l]
        start[:, l] = ready
        finish[:, l] = np.maximum(ready + (steps[:, l] - 1) * step[:, l], done) + fill[:, l]
        # a consumer faster than its producers runs at their pace
        step[:, l] = np.maximum(step[:, l], (done - ready) / steps[:, l])
    return start, finish, step


def _first_step_needing_last(wl: Workload, r: Resolved, l: int, p: int) -> np.ndarray:
    """(N,) first step of layer ``l`` that needs the last step of producer ``p``."""
    if wl.is_fc[l] or wl.is_fc[p]:
        return np.zeros(r.n, dtype=np.int64)
    if wl.weighted[p]:
        row = ((r.steps[:, p] - 1) * r.dup[:, p]) // wl.out_width[p]
    else:
        row = np.full(r.n, wl.rows_out[p] - 1)
    y = np.clip(-(-(row - wl.row_offset[l]) // wl.row_stride[l]), 0, wl.rows_out[l] - 1)
    if wl.weighted[l]:
        return np.minimum((y * wl.out_width[l]) // r.dup[:, l], r.steps[:, l] - 1)
    return y
