"""Analytical pipeline timing of resolved designs (MODEL.md section 7), vectorised.

Per layer: the busy time of each resource per step, the step time (slowest resource),
the layer's busy span (steps x step time, or the total work of a resource its macro
set shares with other layers, whichever is longer), the fill time of one step (its
chain with the bit iterations pipelined), and start/finish from the rows its first step
needs from each producer. Shapes: ``(N, La)`` unless noted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.opgraph import OP_CHAIN
from costmodel.resolve import Resolved

K = {kind: i for i, kind in enumerate(OP_CHAIN)}
# Resources a macro set shares between its layers.
SET_RESOURCES = ("scratchpad", "adc", "shift_add", "addition", "pool", "eltwise", "activation", "sigmoid")


@dataclass
class Timing:
    step_ns: np.ndarray      # (N, La) effective time per step
    busy_ns: np.ndarray      # (N, La) span of the layer's steps
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
    iterated = np.stack([d[..., K["mvm"]], d[..., K["adc"]], d[..., K["shift_add"]]], -1)
    per_step = {
        "mvm": B * d[..., K["mvm"]],
        "noc_in": d[..., K["noc_in"]],
        "merge": d[..., K["merge"]],
    }
    unit, act = d[..., K["unit"]], d[..., K["activation"]]
    per_step.update(
        scratchpad=d[..., K["load"]] + d[..., K["store"]],
        adc=B * d[..., K["adc"]],
        shift_add=B * d[..., K["shift_add"]],
        addition=d[..., K["addition"]],
        pool=np.where(wl.unit_kind == 1, unit, 0.0),
        eltwise=np.where(wl.unit_kind == 2, unit, 0.0),
        activation=np.where(wl.act_kind == 1, act, 0.0),
        sigmoid=np.where(wl.act_kind == 2, act, 0.0),
    )
    own = np.max(np.stack(list(per_step.values()), -1), -1)
    busy = steps * own
    member = (r.host[:, :, None] == np.arange(r.set_macros.shape[1])).astype(float)
    rows = np.arange(r.n)[:, None]
    for name in SET_RESOURCES:
        use = per_step[name]
        total = np.einsum("nl,nlk->nk", steps * use, member)[rows, r.host]
        busy = np.maximum(busy, np.where(use > 0, total, 0.0))
    step = busy / steps

    chain = sum(d[..., K[k]] for k in OP_CHAIN if k not in ("mvm", "adc", "shift_add"))
    fill = chain + iterated.sum(-1) + (B - 1) * iterated.max(-1)

    n, La = r.steps.shape
    start = np.zeros((n, La))
    finish = np.zeros((n, La))
    for l, (prods, needs) in enumerate(zip(wl.producers, wl.first_need_pixels)):
        ready = np.zeros(n)
        done = np.zeros(n)
        for p, pixels in zip(prods, needs):
            if p < 0:
                continue
            per_step_pixels = r.dup[:, p] if wl.weighted[p] else wl.out_width[p]
            need_steps = r.steps[:, p] if pixels < 0 else np.minimum(-(-pixels // per_step_pixels), r.steps[:, p])
            at = np.where(need_steps >= r.steps[:, p], finish[:, p],
                          start[:, p] + (need_steps - 1) * step[:, p] + fill[:, p])
            ready = np.maximum(ready, at)
            done = np.maximum(done, finish[:, p])
        start[:, l] = ready
        finish[:, l] = np.maximum(ready + (steps[:, l] - 1) * step[:, l] + fill[:, l], done + fill[:, l])
    return Timing(step_ns=step, busy_ns=busy, fill_ns=fill, start_ns=start, finish_ns=finish,
                  interval_ns=busy.max(1), latency_ns=finish.max(1))
