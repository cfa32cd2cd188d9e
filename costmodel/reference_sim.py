"""The exact reference scheduler: a discrete-event schedule of one design (MODEL.md 3, 7).

``simulate(graph)`` schedules every operation occurrence of one inference of an
:class:`~costmodel.opgraph.OpGraph` and reports latency, interval and energy. It is the
slow, exact counterpart of the analytical evaluator's closed-form pipeline formulas.

Units: ns for time, nJ for energy, W for power (W x ns = nJ).

Scheduling rules
----------------
* Operations. Every layer runs ``steps`` steps; step ``s`` runs the kinds of
  :data:`~costmodel.opgraph.OP_CHAIN` in chain order, skipping kinds whose duration is
  absent or 0. The iterated kinds (``mvm``, ``adc``, ``shift_add``) occur once per bit
  iteration ``b`` in ``0 .. iterations-1``. A layer with sampled
  :class:`~costmodel.opgraph.Occurrences` (the sparsity reference) takes those
  occurrences' durations and energies from them (its zero detectors, skip logic and
  compaction indices count as kind ``sparsity``); an occurrence its zeros skip (0 ns)
  is no operation of its resource: it completes as soon as it is ready (on the pseudo
  resource :data:`SKIPPED`, at the same instant, after the events of that instant
  already applied).
* Dependencies inside a step. Every non-iterated op waits for the previous present op
  of the chain. Iteration ``b``'s first present iterated op (normally its mvm) waits only
  for the op before the iterated group (``noc_in`` or ``load``), so the mvm of ``b+1``
  may run while the adc of ``b`` converts; inside iteration ``b`` each iterated op waits
  for the previous one of the same iteration (adc_b for mvm_b, shift_add_b for adc_b).
  The op after the group waits for the last iterated op of every iteration (the last
  shift_add; earlier ones always finish before it).
* Dependencies between layers. The first op of step ``s`` (its ``load``) also waits,
  for every producer ``p`` that is a layer (not ``-1``, the network input, available
  at t = 0), until step ``need[p][s]`` of ``p`` has finished its last op (``store``);
  ``need = -1`` means no wait. Steps of one layer are not otherwise chained: they are
  ordered only by the resources they share.
* Resources. An op occupies ``resources[kind]`` for its whole duration; a resource runs
  one op at a time, without preemption. A kind without a resource entry gets a private
  resource ``"<layer index>:<kind>"``. When a resource is free, it starts the waiting op
  that became ready first (ready = all its dependencies finished); ties go to the lower
  layer (graph order), then the lower step, then the earlier op of the step (iteration
  order first: mvm_0, adc_0, shift_add_0, mvm_1, ...). All events of one instant are
  applied before any resource picks its next op, so the tie rule is exact.
* Results. ``latency_ns`` is the end of the last op; a layer's span is its last op end
  minus its first op start; ``interval_ns`` (time between inferences of a stream) is the
  largest total busy time of one resource per inference (or measured on streams,
  ``simulate(stream=)``; without macro sharing the two agree exactly: MODEL.md 7); a
  layer's span is no bound on it, its waits for producers overlap the previous
  inference's work in a stream; dynamic energy sums
  ``energies_nj[kind]`` over op occurrences; static energy is
  ``static_power_w * interval_ns`` (in a stream every inference pays one interval).

In-order streams (``costmodel.reference_segments``: a batch of inferences through one
segment) serve, on every resource, the waiting op of the oldest inference first, then
the rule above (``_schedule(..., in_order=...)``); one inference is scheduled the same
either way.

Implementation: ops get integer ids ordered (layer, step, chain position), so the tie
rule is the id order; every resource keeps a FIFO of ready ops (ready times never
decrease, and ops made ready at one instant are appended in id order); completions live
in one heap of ``(end, id)``.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field, replace
from operator import add

import numpy as np

from costmodel.opgraph import ITERATED, OP_CHAIN, OpGraph

#: Resource of the occurrences a layer's zeros skip (0 ns): they wait for nothing.
SKIPPED = "skipped"

__all__ = ["SimResult", "simulate", "simulate_opgraph"]


@dataclass(frozen=True)
class SimResult:
    """Outcome of scheduling one inference (times ns, energies nJ).

    Attributes:
        latency_ns: end of the last operation (the inference starts at t = 0).
        interval_ns: the busiest resource's total time per inference, or the measured
            stream interval (see ``simulate``).
        layer_start_ns, layer_finish_ns: first op start and last op end of every layer,
            in graph order.
        dynamic_energy_nj: sum over op occurrences of their energy.
        static_energy_nj: ``static_power_w * interval_ns``.
        energy_nj: dynamic + static.
        energy_by_kind_nj: op kind -> dynamic energy of all its occurrences.
        ops: number of scheduled op occurrences.
        resource_busy_ns: resource -> total busy time.
        schedule: with ``record=True``, one ``(layer index, step, kind, iteration,
            start, end, resource)`` tuple per op occurrence (iteration 0 for
            non-iterated kinds), in id order; otherwise ``None``.
    """

    latency_ns: float
    interval_ns: float
    layer_start_ns: tuple[float, ...]
    layer_finish_ns: tuple[float, ...]
    dynamic_energy_nj: float
    static_energy_nj: float
    energy_nj: float
    energy_by_kind_nj: dict[str, float]
    ops: int
    resource_busy_ns: dict[str, float]
    schedule: tuple[tuple[int, int, str, int, float, float, str], ...] | None = field(
        default=None, repr=False, compare=False
    )


def _template(layer):
    """One step of ``layer`` as positions: (kinds, iterations, durations, resource
    names, in-step successor offsets, in-step predecessor counts, entry positions,
    exit positions)."""
    durs = layer.durations_ns
    sampled = layer.occurrences.durations_ns if layer.occurrences is not None else {}
    present = []
    for kind in OP_CHAIN:
        d = durs.get(kind, 0.0)
        if d < 0:
            raise ValueError(f"layer {layer.index}: negative duration for {kind!r}: {d}")
        if d > 0 or (kind in sampled and sampled[kind].max(initial=0.0) > 0):
            present.append(kind)
    if not present:
        raise ValueError(f"layer {layer.index} has no operation with a positive duration")
    if layer.steps < 1:
        raise ValueError(f"layer {layer.index}: steps must be >= 1, got {layer.steps}")
    group = [k for k in present if k in ITERATED]
    iterations = layer.iterations if group else 1
    if iterations < 1:
        raise ValueError(f"layer {layer.index}: iterations must be >= 1, got {iterations}")
    first_group = OP_CHAIN.index(group[0]) if group else len(OP_CHAIN)
    pre = [k for k in present if k not in ITERATED and OP_CHAIN.index(k) < first_group]
    post = [k for k in present if k not in ITERATED and OP_CHAIN.index(k) > first_group]

    kinds: list[str] = []
    iters: list[int] = []
    for k in pre:
        kinds.append(k)
        iters.append(0)
    for b in range(iterations):
        for k in group:
            kinds.append(k)
            iters.append(b)
    for k in post:
        kinds.append(k)
        iters.append(0)
    n = len(kinds)
    succ: list[list[int]] = [[] for _ in range(n)]  # absolute positions for now

    def link(a: int, b: int) -> None:
        succ[a].append(b)

    for i in range(len(pre) - 1):
        link(i, i + 1)
    g0 = len(pre)
    ng = len(group)
    post0 = g0 + ng * iterations
    for b in range(iterations):
        base = g0 + b * ng
        if ng:
            if pre:
                link(g0 - 1, base)
            for i in range(ng - 1):
                link(base + i, base + i + 1)
            if post:
                link(base + ng - 1, post0)
    if not ng and pre and post:
        link(g0 - 1, post0)
    for i in range(post0, n - 1):
        link(i, i + 1)

    npred = [0] * n
    for a in range(n):
        for b in succ[a]:
            npred[b] += 1
    entries = [p for p in range(n) if npred[p] == 0]
    exits = [p for p in range(n) if not succ[p]]
    offsets = [tuple(b - a for b in succ[a]) for a in range(n)]
    d = [float(durs[k]) for k in kinds]
    res = [layer.resources.get(k, f"{layer.index}:{k}") for k in kinds]
    return kinds, iters, d, res, offsets, npred, entries, exits


def simulate(graph: OpGraph, record: bool = False, stream: tuple[int, int] | None = None) -> SimResult:
    """Schedule one inference of ``graph`` (rules: module docstring).

    ``stream = (m1, m2)`` also schedules two streams of back-to-back inferences and
    reports as ``interval_ns`` the time each further inference adds once the pipeline is
    full, ``(makespan(m2) - makespan(m1)) / (m2 - m1)`` (fill and drain cancel); by
    default the interval is the busiest resource's total time per inference. With
    ``record=True`` the result also carries the full per-op schedule. Raises ValueError on
    malformed graphs (no ops, bad need indices, unknown producers) and RuntimeError if
    dependencies form a cycle.
    """
    single = _schedule(graph, record)
    if stream is None:
        return single
    m1, m2 = stream
    makespan = [_schedule(_streamed(graph, m), False).latency_ns for m in (m1, m2)]
    return replace(single, interval_ns=(makespan[1] - makespan[0]) / (m2 - m1))


def _streamed(graph: OpGraph, copies: int) -> OpGraph:
    """``copies`` inferences back to back: every layer repeated per inference (inference
    m's layer i gets index ``m * offset + i``), all inputs ready at t = 0, the same
    resources shared by every inference."""
    offset = max(layer.index for layer in graph.layers) + 1
    layers = []
    for m in range(copies):
        for layer in graph.layers:
            layers.append(replace(
                layer, index=m * offset + layer.index,
                producers=tuple(p if p < 0 else m * offset + p for p in layer.producers)))
    return replace(graph, layers=tuple(layers))


def _schedule(graph: OpGraph, record: bool, in_order: int | None = None) -> SimResult:
    """The event-driven schedule of every operation of ``graph``. ``in_order = k`` (a
    stream of copies of a graph of ``k`` operations, :func:`_streamed`) serves the oldest
    inference first on every resource (:func:`_run_in_order`)."""
    layers = graph.layers
    pos_of = {}
    for li, layer in enumerate(layers):
        if layer.index in pos_of:
            raise ValueError(f"duplicate layer index {layer.index}")
        pos_of[layer.index] = li

    res_id: dict[str, int] = {}
    templates = []
    bases = []
    dur: list[float] = []
    res: list[int] = []
    succ_rel: list[tuple[int, ...]] = []
    left: list[int] = []
    total = 0
    sampled_busy: dict[int, list[float]] = {}     # layer position -> busy ns per template position
    for li, layer in enumerate(layers):
        tpl = _template(layer)
        kinds, iters, d, rnames, offsets, npred, entries, exits = tpl
        rids = [res_id.setdefault(r, len(res_id)) for r in rnames]
        templates.append(tpl)
        bases.append(total)
        steps = layer.steps
        if layer.occurrences is not None and layer.occurrences.durations_ns:
            per_op, busy = _sampled_durations(layer, kinds, iters, d)
            skipped = res_id.setdefault(SKIPPED, len(res_id))
            dur.extend(per_op.ravel().tolist())
            res.extend(np.where(per_op > 0, np.asarray(rids), skipped).ravel().tolist())
            sampled_busy[li] = busy
        else:
            dur.extend(d * steps)
            res.extend(rids * steps)
        succ_rel.extend(offsets * steps)
        left.extend(npred * steps)
        total += len(kinds) * steps
    extra: list[list[int] | None] = [None] * total

    # Inter-layer edges: exits of producer step need[p][s] -> entries of step s.
    for li, layer in enumerate(layers):
        if len(layer.need) != len(layer.producers):
            raise ValueError(f"layer {layer.index}: need and producers differ in length")
        _, _, _, _, _, _, entries, _ = templates[li]
        n = len(templates[li][0])
        base = bases[li]
        for prod, need in zip(layer.producers, layer.need):
            if prod == -1:
                continue
            if prod not in pos_of:
                raise ValueError(f"layer {layer.index}: unknown producer {prod}")
            pi = pos_of[prod]
            psteps = layers[pi].steps
            if len(need) != layer.steps:
                raise ValueError(
                    f"layer {layer.index}: need for producer {prod} has {len(need)} "
                    f"entries, expected {layer.steps}"
                )
            pn = len(templates[pi][0])
            pexits = templates[pi][7]
            pbase = bases[pi]
            for s, ps in enumerate(need):
                if ps < 0:
                    continue
                if ps >= psteps:
                    raise ValueError(
                        f"layer {layer.index} step {s} needs step {ps} of layer {prod}, "
                        f"which has {psteps} steps"
                    )
                targets = [base + s * n + e for e in entries]
                for t_op in targets:
                    left[t_op] += len(pexits)
                for x in pexits:
                    src = pbase + ps * pn + x
                    lst = extra[src]
                    if lst is None:
                        extra[src] = list(targets)
                    else:
                        lst.extend(targets)

    if in_order:
        start = _run_in_order(total, dur, res, succ_rel, left, extra, len(res_id), in_order)
    else:
        start = _run(total, dur, res, succ_rel, left, extra, len(res_id))

    layer_start = []
    layer_finish = []
    energy_by_kind: dict[str, float] = {}
    busy_by_id = [0.0] * len(res_id)
    for li, layer in enumerate(layers):
        kinds, _, d, rnames, _, _, _, _ = templates[li]
        n = len(kinds)
        lo, hi = bases[li], bases[li] + n * layer.steps
        layer_start.append(min(start[lo:hi]))
        layer_finish.append(max(map(add, start[lo:hi], dur[lo:hi])))
        occ = layer.occurrences
        if occ is None:
            rids = res[lo : lo + n]
            for k, dk, r in zip(kinds, d, rids):
                e = float(layer.energies_nj.get(k, 0.0)) * layer.steps
                energy_by_kind[k] = energy_by_kind.get(k, 0.0) + e
                busy_by_id[r] += dk * layer.steps
            continue
        busy = sampled_busy.get(li) or [dk * layer.steps for dk in d]
        for k, b, name in zip(kinds, busy, rnames):
            if k not in occ.energies_nj:
                e = float(layer.energies_nj.get(k, 0.0)) * layer.steps
                energy_by_kind[k] = energy_by_kind.get(k, 0.0) + e
            busy_by_id[res_id[name]] += b
        for k, e in occ.energy_by_kind(set(kinds)).items():
            energy_by_kind[k] = energy_by_kind.get(k, 0.0) + e
    names = list(res_id)
    resource_busy = {names[r]: b for r, b in enumerate(busy_by_id)}

    latency = max(layer_finish)
    # a stream is paced by its busiest resource (a layer's span includes waits for its
    # producers, which overlap the previous inference's work in a stream)
    interval = max(busy_by_id, default=0.0)
    dynamic = sum(energy_by_kind.values())
    static = float(graph.static_power_w) * interval

    schedule = None
    if record:
        rows = []
        for li, layer in enumerate(layers):
            kinds, iters, _, _, _, _, _, _ = templates[li]
            n = len(kinds)
            op = bases[li]
            for s in range(layer.steps):
                for p in range(n):
                    t0 = start[op]
                    rows.append((layer.index, s, kinds[p], iters[p], t0, t0 + dur[op], names[res[op]]))
                    op += 1
        schedule = tuple(rows)

    return SimResult(
        latency_ns=latency,
        interval_ns=interval,
        layer_start_ns=tuple(layer_start),
        layer_finish_ns=tuple(layer_finish),
        dynamic_energy_nj=dynamic,
        static_energy_nj=static,
        energy_nj=dynamic + static,
        energy_by_kind_nj=energy_by_kind,
        ops=total,
        resource_busy_ns=resource_busy,
        schedule=schedule,
    )


simulate_opgraph = simulate


def _sampled_durations(layer, kinds, iters, d) -> tuple[np.ndarray, list[float]]:
    """``(steps, positions)`` ns of every op of ``layer`` whose :class:`Occurrences` give
    durations (the template's ``d`` elsewhere), and each position's total (busy ns)."""
    per_op = np.tile(np.asarray(d, dtype=float), (layer.steps, 1))
    sampled = layer.occurrences.durations_ns
    for p, (kind, b) in enumerate(zip(kinds, iters)):
        if kind in sampled:
            per_op[:, p] = sampled[kind][:, b]
    return per_op, per_op.sum(0).tolist()


def _run(total, dur, res, succ_rel, left, extra, n_res, queue=deque):
    """The event loop. Returns the start time of every op id. ``queue()`` makes a
    resource's queue of ready ops (``append``, ``popleft``, truth: any waiting); a deque
    serves them in the order they became ready."""
    heappush = heapq.heappush
    heappop = heapq.heappop
    start = [0.0] * total
    busy = [False] * n_res
    queues = [queue() for _ in range(n_res)]
    events: list[tuple[float, int]] = []
    done = 0

    # t = 0: every op without dependencies, in id (priority) order.
    for j in range(total):
        if not left[j]:
            r = res[j]
            if busy[r]:
                queues[r].append(j)
            else:
                busy[r] = True
                heappush(events, (dur[j], j))

    while events:
        t, op = heappop(events)
        batch = [op]
        while events and events[0][0] == t:
            batch.append(heappop(events)[1])
        done += len(batch)
        newly = []
        for op in batch:
            r = res[op]
            q = queues[r]
            if q:  # older ready ops beat anything made ready now
                nxt = q.popleft()
                start[nxt] = t
                heappush(events, (t + dur[nxt], nxt))
            else:
                busy[r] = False
            for off in succ_rel[op]:
                j = op + off
                c = left[j] - 1
                left[j] = c
                if not c:
                    newly.append(j)
            ex = extra[op]
            if ex is not None:
                for j in ex:
                    c = left[j] - 1
                    left[j] = c
                    if not c:
                        newly.append(j)
        if newly:
            if len(newly) > 1:
                newly.sort()
            for j in newly:
                r = res[j]
                if busy[r]:
                    queues[r].append(j)
                else:
                    busy[r] = True
                    start[j] = t
                    heappush(events, (t + dur[j], j))

    if done != total:
        raise RuntimeError(
            f"{total - done} of {total} operations never became ready: cyclic dependencies"
        )
    return start


class _InOrderQueue:
    """Ready ops of one resource in a stream of copies of one graph (``per_copy``
    operations each, op ``j`` of inference ``j // per_copy``): the oldest inference's
    first, among those the one that became ready first (one FIFO per inference: ready
    times never decrease)."""

    __slots__ = ("per_copy", "lanes", "waiting")

    def __init__(self, per_copy: int, copies: int):
        self.per_copy = per_copy
        self.lanes = [deque() for _ in range(copies)]
        self.waiting = 0

    def __len__(self) -> int:
        return self.waiting

    def append(self, j: int) -> None:
        self.lanes[j // self.per_copy].append(j)
        self.waiting += 1

    def popleft(self) -> int:
        self.waiting -= 1
        for lane in self.lanes:
            if lane:
                return lane.popleft()
        raise IndexError("pop from an empty queue")


def _run_in_order(total, dur, res, succ_rel, left, extra, n_res, per_copy):
    """:func:`_run` for a stream of copies of one graph processed in order: a free
    resource starts the waiting op of the oldest inference (:class:`_InOrderQueue`). With
    one inference this is :func:`_run`'s rule."""
    copies = -(-total // per_copy)
    return _run(total, dur, res, succ_rel, left, extra, n_res, queue=lambda: _InOrderQueue(per_copy, copies))
