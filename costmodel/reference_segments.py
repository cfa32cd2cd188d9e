"""The reference schedule of a design that reloads weights (MODEL.md section 8).

``simulate_design(resolved, n)`` is the reference counterpart of the evaluator for any
design: a design that keeps its weights (one segment, no tiles) is scheduled exactly as
before (``simulate(to_opgraph(resolved, n))``, bit-identical); a design that reloads is
scheduled as a sequence of *units* on the chip, one after another:

* per batch, for each segment in order: its **reload** (every weight block of the
  segment's layers read from DRAM and written into the arrays of its macro), then its
  **compute** (the segment's layers running the batch's ``B`` inferences as a stream);
* a segment whose one weighted layer is tiled runs its tiles as units instead: with the
  weight-stationary dataflow, per tile a reload and then the ``B`` inferences on that
  tile; with the input- or output-stationary dataflow, per inference and tile a reload
  and one inference on that tile. The weightless layers of the segment (the macro set's
  pooling or residual adds) run in the unit of the tile that completes their input.

Units are barriers (a segment's arrays are rewritten only when its work is done, and its
layers start only when all of its weights are in): the batch time is the sum of the units'
makespans. Every unit is a discrete-event schedule of operations on resources
(:func:`costmodel.reference_sim.simulate` rules):

* a reload unit has one operation per crossbar of weights on the ``dram`` port (``bits /
  bw``; one copy's bits are read, spread over the crossbars of every copy) followed by
  that crossbar's write in its macro (``rows / rows_in_parallel_per_macro x
  row_latency``, on the macro's own write resource: a macro writes only its own arrays).
  Blocks (``slices`` crossbars) are dealt to a set's macros in turn (macro 0 first, the
  capacity rule's busiest macro) and the DRAM serves the macros round-robin, one crossbar
  each per round;
* a compute unit is the segment's (or tile's) layers as in the single-segment reference
  (same durations, energies and resources; a layer whose first remote producer runs in
  an earlier segment receives its input at the port ``port_in``, as the network input),
  with inputs made by earlier segments there at the unit's start, plus the segment's
  activation traffic on the ``dram`` port: a spilled input is read in one operation per
  producer row, before the consumer steps that need the row; a spilled output is written
  in one operation per row after the step that completes it; partial sums in DRAM are read
  before and written after each step of a tile.

  The ``B`` inferences of a compute unit are processed in order: a free resource starts
  the waiting operation of the oldest inference, then the one ready first
  (:func:`costmodel.reference_sim._run_in_order`; with one inference this is the
  single-inference rule). Served purely in the order operations become ready, a layer
  sharing its macros with a later one runs ahead through the whole batch (its inputs are
  all there when the segment starts) and starves its partner: up to 30 % longer than in
  order on resnet18 segments of 16 inferences at 2 W (the in-order stream is within 2 % of
  the evaluator's ``latency + (B - 1) x interval``).

**Exact and composed.** Exact: every reload unit; every compute unit of ``B <= m2``
inferences (``stream = (m1, m2)``, default (1, 2)), scheduled as ``B`` back-to-back
copies of the unit's graph; the barrier composition of units (the model's rule, so no
approximation); the energies. Composed: a compute unit of ``B > m2`` inferences takes
``makespan(m2) + (B - m2) * (makespan(m2) - makespan(m1)) / (m2 - m1)`` (the time each
further inference adds once the stream is full; within 0.5 % of the exact in-order
schedule of all ``B`` on the vgg16-cifar designs at 2 W with ``B >= 8`` tried); units that
repeat identically (the tiles of a tiled layer with the input- or output-stationary
dataflow, once per inference, and tiles alike in their partial sums) are scheduled once
and counted as often as they occur. With sampled zeros (``occurrences``) every tile of
a sparse layer is a unit of its own (its own arrays skip their own work), scheduled
separately where its mode changes durations (skip, compact).

Where tensors live (global buffer or DRAM), what a tiled layer reads and writes per
dataflow and how many times weights are reloaded follow MODEL.md section 8; they are
computed here per design in plain Python (:func:`offchip_plan`), independently of the
vectorised ``costmodel.offchip_traffic``. Energies: the operations' energies as in the
single-segment reference, plus ``dram`` (weight blocks, spilled activations, partial
sums in DRAM: the bits of the scheduled DRAM operations), ``array_write`` (cells of the
scheduled block writes) and ``global_buffer`` (its reads and writes), per inference
(a batch's reloads divided by ``B``); static energy is the static power times the
interval. Interval = batch time / ``B``; latency = batch time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from costmodel.opgraph import ITERATED, LayerOps, Occurrences, OpGraph, to_opgraph
from costmodel.reference_sim import SimResult, _schedule, _streamed, _template, simulate
from costmodel.workload import needed_producer_step

__all__ = ["OffchipPlan", "SegmentedSimResult", "offchip_plan", "reloads", "simulate_design"]

WEIGHT_STATIONARY, INPUT_STATIONARY, OUTPUT_STATIONARY = 0, 1, 2
DRAM = "dram"


@dataclass(frozen=True)
class SegmentedSimResult:
    """The reference figures of a design that reloads (times ns, energies nJ per inference).

    Attributes:
        latency_ns: one batch through every segment (an inference leaves with its batch).
        interval_ns: ``latency_ns / batch``.
        batch: inferences per batch.
        segment_ns: per segment, its reload and compute units' makespans summed.
        reload_ns: per segment, its reload units' makespans summed.
        dynamic_energy_nj, static_energy_nj, energy_nj: per inference.
        energy_by_kind_nj: operation kind -> energy per inference, plus ``dram``,
            ``array_write`` and ``global_buffer``.
        ops: operations scheduled (every copy of every distinct unit simulated).
        composed: whether some compute unit's stream was extrapolated (B > m2).
    """

    latency_ns: float
    interval_ns: float
    batch: int
    segment_ns: tuple[float, ...]
    reload_ns: tuple[float, ...]
    dynamic_energy_nj: float
    static_energy_nj: float
    energy_nj: float
    energy_by_kind_nj: dict[str, float]
    ops: int
    composed: bool


def reloads(resolved, n: int) -> bool:
    """Whether design ``n`` reloads weights (several segments or a tiled layer)."""
    if not resolved.segment.shape[1]:
        return False
    return int(resolved.segment[n, -1]) > 0 or bool(resolved.tiles.tiled[n].any())


def simulate_design(resolved, n: int, dataflow=None, stream: tuple[int, int] = (1, 2),
                    occurrences: dict[int, Occurrences] | None = None) -> SimResult | SegmentedSimResult:
    """The reference figures of design ``n`` of a :class:`~costmodel.resolve.Resolved`:
    today's single-inference schedule if it keeps its weights, else the segmented schedule
    (module docstring). ``dataflow`` is the design's per-layer dataflow codes (its row of
    ``DesignBatch.dataflow``; None: weight-stationary everywhere). ``occurrences``: the
    sampled zeros of its sparse layers (:func:`costmodel.sparsity.sampled.sampled_occurrences`)
    or the counted passes of its epitome layers
    (:func:`costmodel.epitome.passes.epitome_occurrences`; a tiled layer's steps are its
    tiles' passes in the order they run, column tile outer, row tile inner)."""
    graph = to_opgraph(resolved, n, occurrences)
    if not reloads(resolved, n):
        return simulate(graph)
    L = resolved.segment.shape[1]
    flow = [0] * L if dataflow is None else [int(v) for v in dataflow]
    if len(flow) != L:
        raise ValueError(f"dataflow has {len(flow)} entries, the design {L} weighted layers")
    return _Segmented(resolved, n, graph, flow, stream).run()


# --- where the tensors live: MODEL.md section 8, one design in plain Python ----------------------


@dataclass
class OffchipPlan:
    """Section 8's traffic rules applied to one design (bits per inference unless noted).

    Attributes:
        reloads: per weighted layer, weight writes per batch (0, 1 or ``B``).
        spilled: per layer, whether its output crosses to a later segment through DRAM.
        crosses: per layer, whether its output is read by a later segment.
        free_bits: per segment, buffer bits left while it runs.
        passes: per edge (consumer, producer) crossing a segment boundary, times the
            consumer reads the input; ``keeps``: whether an input-stationary tiled
            consumer keeps one inference's input in the buffer.
        psum_dram: per weighted layer, whether its partial sums go to DRAM.
        dram_read_bits, dram_write_bits, buffer_read_bits, buffer_write_bits: activation
            and partial-sum traffic per inference (weights are counted by the reloads).
    """

    reloads: list[int]
    spilled: list[bool]
    crosses: list[bool]
    free_bits: list[float]
    passes: dict[tuple[int, int], float] = field(default_factory=dict)
    keeps: dict[tuple[int, int], bool] = field(default_factory=dict)
    psum_dram: list[bool] = field(default_factory=list)
    dram_read_bits: float = 0.0
    dram_write_bits: float = 0.0
    buffer_read_bits: float = 0.0
    buffer_write_bits: float = 0.0


def offchip_plan(resolved, n: int, flow: list[int]) -> OffchipPlan:
    """Section 8's rules for design ``n`` with dataflow codes ``flow`` (per weighted
    layer): reloads, spills, reads per dataflow, partial sums."""
    wl = resolved.workload
    B = int(resolved.batch[n])
    seg_a = [int(v) for v in resolved.segment_a[n]]
    seg_w = [int(v) for v in resolved.segment[n]]
    S = max(seg_w) + 1 if seg_w else 1
    tiles = resolved.tiles
    t_r = [int(v) for v in tiles.rows[n]]
    t_c = [int(v) for v in tiles.cols[n]]
    tiled = [v > 1 for v in tiles.count[n]]
    reloading = S > 1 or any(tiled)
    reload = [(B if tiled[j] and flow[j] != WEIGHT_STATIONARY else 1) if reloading else 0 for j in range(len(seg_w))]
    La = len(seg_a)
    out_bits = [float(wl.out_values[l] * wl.activation_bits[l]) for l in range(La)]
    last = [-1] * La
    for l, prods in enumerate(wl.producers):
        for p in prods:
            if p >= 0 and seg_a[p] != seg_a[l]:
                last[p] = max(last[p], seg_a[l])
    crosses = [v >= 0 for v in last]
    occupancy = [B * sum(out_bits[p] for p in range(La) if crosses[p] and seg_a[p] <= s <= last[p]) for s in range(S)]
    capacity = float(resolved.offchip.buffer_kib[n]) * 8 * 1024
    full = [o > capacity for o in occupancy]
    spilled = [crosses[p] and any(full[seg_a[p]:last[p] + 1]) for p in range(La)]
    free = [max(capacity - o, 0.0) for o in occupancy]
    plan = OffchipPlan(reloads=reload, spilled=spilled, crosses=crosses, free_bits=free)
    for p in range(La):
        if crosses[p]:
            if spilled[p]:
                plan.dram_write_bits += out_bits[p]
            else:
                plan.buffer_write_bits += out_bits[p]
    for l, prods in enumerate(wl.producers):
        j = int(wl.widx[l])
        tiled_l = j >= 0 and tiled[j]
        for p in prods:
            if p < 0 or seg_a[p] == seg_a[l]:
                continue
            bits = out_bits[p]
            keeps = tiled_l and flow[j] == INPUT_STATIONARY and bits <= free[seg_a[l]]
            passes = float(t_c[j]) if tiled_l else 1.0      # reads of the input, wherever it is
            plan.passes[(l, p)], plan.keeps[(l, p)] = passes, keeps
            if spilled[p] and keeps:                         # copied in once, read there
                plan.dram_read_bits += bits
                plan.buffer_write_bits += bits
                plan.buffer_read_bits += passes * bits
            elif spilled[p]:
                plan.dram_read_bits += passes * bits
            else:
                plan.buffer_read_bits += passes * bits
    for j, l in enumerate(wl.layer_of_w):
        psum = (t_r[j] - 1) * out_bits[l] if tiled[j] and flow[j] != OUTPUT_STATIONARY else 0.0
        held = (B if flow[j] == WEIGHT_STATIONARY else 1) * out_bits[l] / t_c[j]
        to_dram = psum > 0 and held > free[seg_w[j]]
        plan.psum_dram.append(to_dram)
        if to_dram:
            plan.dram_read_bits += psum
            plan.dram_write_bits += psum
        else:
            plan.buffer_read_bits += psum
            plan.buffer_write_bits += psum
    return plan


# --- the schedule ---------------------------------------------------------------------------------


class _Segmented:
    """The units of one reloading design, their schedules and the totals."""

    def __init__(self, resolved, n: int, graph: OpGraph, flow: list[int], stream: tuple[int, int]):
        self.m1, self.m2 = stream
        if not 1 <= self.m1 < self.m2:
            raise ValueError(f"stream must be (m1, m2) with 1 <= m1 < m2, got {stream}")
        self.r, self.n, self.graph, self.flow = resolved, n, graph, flow
        self.wl = wl = resolved.workload
        self.tech = tech = resolved.tech
        self.B = int(resolved.batch[n])
        self.plan = offchip_plan(resolved, n, flow)
        self.seg_a = [int(v) for v in resolved.segment_a[n]]
        self.host = [int(v) for v in resolved.host[n]]
        self.set_macros = [int(v) for v in resolved.set_macros[n]]
        self.steps = [int(v) for v in resolved.steps[n]]
        self.dup = [int(v) for v in resolved.dup[n]]
        tiles = resolved.tiles
        self.T = [int(v) for v in tiles.count[n]]
        self.t_r = [int(v) for v in tiles.rows[n]]
        self.t_c = [int(v) for v in tiles.cols[n]]
        # each weighted layer's copy as the design maps it (its epitome, its weight bits)
        m = resolved.layer_map
        per_layer = lambda x: np.broadcast_to(x, m.row_groups.shape)[n].tolist()  # noqa: E731
        self.rg, self.cg, self.rows_total, self.slices = (per_layer(v) for v in (
            m.row_groups, m.col_groups, m.rows_total, m.slices))
        self.weights, self.Wb = per_layer(m.stored.weights), per_layer(m.weight_bits)
        self.cells_per_weight = [float(v) for v in resolved.cells_per_weight[n]]
        self.A = wl.activation_bits.tolist()                               # per layer
        self.bits_per_ns = tech.offchip_memory.bandwidth_gbyte_per_s * 8
        self.batch_nj = {"dram": 0.0, "array_write": 0.0}       # reloads per batch
        self.inference_nj: dict[str, float] = {"dram": 0.0}       # operations per inference
        self.ops = 0
        self.composed = False
        self._units: dict[tuple, tuple[OpGraph, float]] = {}      # unit key -> graph, its DRAM nJ
        self._makespans: dict[tuple, float] = {}

    # -- the batch -------------------------------------------------------------------------------
    def run(self) -> SegmentedSimResult:
        """Every segment's units in order; the batch's time and the energies per inference."""
        wl = self.wl
        seg_ns, reload_ns = [], []
        for s in range(max(self.seg_a) + 1):
            layers = [l for l in range(len(self.seg_a)) if self.seg_a[l] == s]
            tiled = [l for l in layers if wl.weighted[l] and self.T[wl.widx[l]] > 1]
            if tiled:
                total, reload = self.tiled_segment(s, tiled[0], layers)
            else:
                reload = self.reload_unit([(int(wl.widx[l]), None) for l in layers if wl.weighted[l]])
                total = reload + self.compute_unit((s,), layers, None, self.B)
            seg_ns.append(total)
            reload_ns.append(reload)
        B = self.B
        batch_ns = sum(seg_ns)
        interval = batch_ns / B
        plan, buf = self.plan, self.tech.global_buffer
        by_kind = dict(self.inference_nj)
        by_kind["dram"] += self.batch_nj["dram"] / B
        by_kind["array_write"] = self.batch_nj["array_write"] / B
        by_kind["global_buffer"] = (plan.buffer_read_bits * buf.read_energy_pj_per_bit
                                    + plan.buffer_write_bits * buf.write_energy_pj_per_bit) * 1e-3
        dynamic = sum(by_kind.values())
        static = float(self.graph.static_power_w) * interval
        return SegmentedSimResult(
            latency_ns=batch_ns, interval_ns=interval, batch=B, segment_ns=tuple(seg_ns), reload_ns=tuple(reload_ns),
            dynamic_energy_nj=dynamic, static_energy_nj=static, energy_nj=dynamic + static,
            energy_by_kind_nj=by_kind, ops=self.ops, composed=self.composed,
        )

    def tiled_segment(self, s: int, tl: int, layers: list[int]) -> tuple[float, float]:
        """(time, reload time) per batch of segment ``s`` whose weighted layer ``tl`` is
        tiled: weight-stationary, tile by tile, each with the batch's inferences; input- or
        output-stationary, inference by inference, each with every tile (the same units)."""
        j = int(self.wl.widx[tl])
        B = self.B
        per_inference = self.flow[j] != WEIGHT_STATIONARY
        times, copies = (B, 1) if per_inference else (1, B)
        total = reload = 0.0
        for ct in range(self.t_c[j]):
            for rt in range(self.t_r[j]):
                rl = self.reload_unit([(j, (rt, ct))], repeats=times)
                cp = self.compute_unit((s, rt, ct), layers, (tl, rt, ct), copies)
                total += times * (rl + cp)
                reload += times * rl
        return total, reload

    # -- reload units ---------------------------------------------------------------------------
    def reload_unit(self, parts: list[tuple[int, tuple[int, int] | None]], repeats: int = 1) -> float:
        """Makespan of writing the weight blocks of ``parts`` (weighted layer, its tile or
        None) into their macros; their DRAM reads and cell writes count ``repeats`` times
        per batch."""
        wl, tech = self.wl, self.tech
        wr, mem = tech.array_write, tech.offchip_memory
        per_macro: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        for j, tile in parts:
            l = int(wl.layer_of_w[j])
            k = self.host[l]
            m = max(self.set_macros[k], 1)
            blocks_all = self.dup[l] * self.rg[j] * self.cg[j]
            bits_all = float(self.weights[j] * self.Wb[j])                  # one copy is read
            rows_all = self.dup[l] * self.slices[j] * self.rows_total[j]
            cells_all = self.dup[l] * float(self.weights[j]) * self.cells_per_weight[j]
            if tile is None:
                blocks = blocks_all
            else:
                rt, ct = tile
                blocks = _share(self.rg[j], self.t_r[j], rt) * _share(self.cg[j], self.t_c[j], ct)
            xbars_all = blocks_all * self.slices[j]                         # a chunk: one crossbar
            chunk = (bits_all / xbars_all, rows_all / xbars_all, cells_all / xbars_all)
            for i in range(m):                                              # blocks dealt in turn from macro 0
                per_macro.setdefault((k, i), []).extend([chunk] * (blocks // m + (i < blocks % m)) * self.slices[j])
        layers = []
        dram_nj = write_nj = 0.0
        rounds = max((len(v) for v in per_macro.values()), default=0)
        for b in range(rounds):                                             # DRAM: one crossbar per macro a round
            for key in sorted(per_macro):
                if b >= len(per_macro[key]):
                    continue
                bits, rows, cells = per_macro[key][b]
                layers.append(LayerOps(
                    index=len(layers), steps=1, iterations=1,
                    durations_ns={"load": bits / self.bits_per_ns,
                                  "store": rows / wr.rows_in_parallel_per_macro * wr.row_latency_ns},
                    energies_nj={}, resources={"load": DRAM, "store": f"write{key[0]}.{key[1]}"},
                    producers=(-1,), need=((-1,),)))
                dram_nj += bits * mem.read_energy_pj_per_bit * 1e-3
                write_nj += cells * wr.cell_energy_pj * 1e-3
        self.batch_nj["dram"] += repeats * dram_nj
        self.batch_nj["array_write"] += repeats * write_nj
        if not layers:
            return 0.0
        key = ("reload", tuple(tuple(v) for _, v in sorted(per_macro.items())))
        if key not in self._makespans:
            res = _schedule(OpGraph(layers=tuple(layers), static_power_w=0.0, macs=0), False)
            self.ops += res.ops
            self._makespans[key] = res.latency_ns
        return self._makespans[key]

    # -- compute units --------------------------------------------------------------------------
    def compute_unit(self, key: tuple, layers: list[int], tile: tuple[int, int, int] | None, copies: int) -> float:
        """Makespan of ``copies`` inferences of a compute unit; its operations' energy (and
        DRAM traffic) count once per inference: every unit runs once per inference."""
        ukey = tkey = self.unit_key(key, layers, tile)
        occ = self.graph.layers[tile[0]].occurrences if tile is not None else None
        if occ is not None:                                          # sampled zeros: every tile its own
            ukey = ukey + tile[1:]
            tkey = ukey if occ.durations_ns else tkey
        if ukey not in self._units:
            self._units[ukey] = self.unit_graph(layers, tile)
        g, dram_nj = self._units[ukey]
        for layer in g.layers:
            sampled = layer.occurrences.energies_nj if layer.occurrences is not None else {}
            for kind, e in layer.energies_nj.items():
                if e and kind not in sampled and layer.durations_ns.get(kind, 0.0) > 0:
                    reps = layer.steps * (layer.iterations if kind in ITERATED else 1)
                    self.inference_nj[kind] = self.inference_nj.get(kind, 0.0) + e * reps
            if layer.occurrences is not None:
                for kind, e in layer.occurrences.energy_by_kind(set(_template(layer)[0])).items():
                    self.inference_nj[kind] = self.inference_nj.get(kind, 0.0) + e
        self.inference_nj["dram"] += dram_nj
        return self.makespan(tkey, g, copies)

    def unit_key(self, key: tuple, layers: list[int], tile) -> tuple:
        """What makes a compute unit's graph differ: its segment and, for a tile, whether it
        reads or writes partial sums, completes outputs, is the last or the first tile."""
        if tile is None:
            return key
        tl, rt, ct = tile
        j = int(self.wl.widx[tl])
        return (key[0], rt > 0, rt < self.t_r[j] - 1, rt == self.t_r[j] - 1 and ct == self.t_c[j] - 1,
                rt == 0 and ct == 0)

    def makespan(self, ukey: tuple, g: OpGraph, copies: int) -> float:
        """Makespan of ``copies`` back-to-back inferences of unit ``g`` (exact up to m2,
        then extrapolated from m1 and m2)."""
        m1, m2 = self.m1, self.m2
        if copies <= m2:
            return self._run(ukey, g, copies)
        self.composed = True
        a, b = self._run(ukey, g, m1), self._run(ukey, g, m2)
        return b + (copies - m2) * (b - a) / (m2 - m1)

    def _run(self, ukey: tuple, g: OpGraph, copies: int) -> float:
        key = (ukey, copies)
        if key not in self._makespans:
            if copies > 1:                                           # the batch in order: oldest inference first
                ops = sum(len(_template(layer)[0]) * layer.steps for layer in g.layers)
                res = _schedule(_streamed(g, copies), False, in_order=ops)
            else:
                res = _schedule(g, False)
            self.ops += res.ops
            self._makespans[key] = res.latency_ns
        return self._makespans[key]

    def unit_graph(self, layers: list[int], tile: tuple[int, int, int] | None) -> tuple[OpGraph, float]:
        """One inference of a compute unit (module docstring) and the energy (nJ) of its
        DRAM operations."""
        wl, plan, g = self.wl, self.plan, self.graph
        mem = self.tech.offchip_memory
        La = len(self.seg_a)
        tl, rt, ct = tile if tile is not None else (-1, 0, 0)
        jt = int(wl.widx[tl]) if tile is not None else -1
        last_tile = tile is None or (rt == self.t_r[jt] - 1 and ct == self.t_c[jt] - 1)
        final_rows = tile is None or rt == self.t_r[jt] - 1                # outputs of its columns complete
        members = [l for l in layers if l == tl or last_tile]
        inside = set(members)
        steps_of = {l: self.steps[l] // (self.T[wl.widx[l]] if wl.weighted[l] else 1) for l in members}
        extra: list[LayerOps] = []
        dram_nj = 0.0

        def dram(steps: int, kind: str, bits: float, producer: int, need) -> int:
            nonlocal dram_nj
            index = La + len(extra)
            extra.append(LayerOps(index=index, steps=steps, iterations=1,
                                  durations_ns={kind: bits / steps / self.bits_per_ns}, energies_nj={},
                                  resources={kind: DRAM}, producers=(producer,), need=(tuple(need),)))
            per_bit = mem.read_energy_pj_per_bit if kind == "load" else mem.write_energy_pj_per_bit
            dram_nj += bits * per_bit * 1e-3
            return index

        out = []
        for l in members:
            base = g.layers[l]
            steps = steps_of[l]
            rows = self.out_rows(l, steps)
            producers, need = [], []
            for p, nd in zip(base.producers, base.need):
                if p < 0:
                    producers.append(p)
                    need.append(tuple([-1] * steps))
                elif p in inside:
                    producers.append(p)
                    if wl.weighted[p] and self.T[wl.widx[p]] > 1:          # waits for the tiled layer's last step
                        need.append(tuple([steps_of[p] - 1] * steps))
                    elif steps == base.steps:
                        need.append(nd)
                    else:
                        last = needed_producer_step(wl, l, p, rows, self.dup[p])
                        need.append(tuple(np.minimum(last, steps_of[p] - 1).astype(int).tolist()))
                elif self.seg_a[p] == self.seg_a[l]:
                    raise AssertionError(f"layer {l}: producer {p} of its segment is not in its unit")
                elif plan.spilled[p]:                                     # from DRAM, row by row
                    bits = self.read_bits(l, p, tile)
                    if bits > 0:
                        p_rows = int(wl.rows_out[p])
                        producers.append(dram(p_rows, "load", bits, -1, [-1] * p_rows))
                        need.append(tuple(self.needed_row(l, p, rows)))
                # else: in the global buffer, there when the unit starts
            if l == tl and plan.psum_dram[jt] and rt > 0:                 # partial sums read before each step
                producers.append(dram(steps, "load", self.psum_bits(jt), -1, [-1] * steps))
                need.append(tuple(range(steps)))
            resources = dict(base.resources)
            remote = [p for p in base.producers if p < 0 or self.host[p] != self.host[l]]
            if remote and remote[0] >= 0 and self.seg_a[remote[0]] != self.seg_a[l]:
                resources["noc_in"] = "port_in"                            # enters at macro 0
            occ = base.occurrences
            if occ is not None and l == tl:                                # its tile's passes
                t = ct * self.t_r[jt] + rt
                occ = occ.steps(t * steps, (t + 1) * steps)
            out.append(LayerOps(index=l, steps=steps, iterations=base.iterations, durations_ns=base.durations_ns,
                                energies_nj=base.energies_nj, resources=resources, producers=tuple(producers),
                                need=tuple(need), occurrences=occ))
            if plan.spilled[l] and final_rows:                            # written row by row as completed
                bits = float(wl.out_values[l]) * self.A[l] / (self.t_c[jt] if l == tl else 1)
                dram(int(wl.rows_out[l]), "store", bits, l, self.row_steps(l, steps, self.dup[l]))
            if l == tl and plan.psum_dram[jt] and rt < self.t_r[jt] - 1:  # partial sums written after each step
                dram(steps, "store", self.psum_bits(jt), l, range(steps))
        return OpGraph(layers=tuple(out + extra), static_power_w=0.0, macs=0), dram_nj

    # -- per-layer helpers ----------------------------------------------------------------------
    def out_rows(self, l: int, steps: int) -> np.ndarray:
        """Output row of each of ``steps`` steps of layer ``l`` (one pass)."""
        wl = self.wl
        s = np.arange(steps)
        if wl.weighted[l] and not wl.is_fc[l]:
            return (np.minimum((s + 1) * self.dup[l], wl.out_pixels[l]) - 1) // wl.out_width[l]
        return np.where(wl.is_fc[l], 0, s)

    def needed_row(self, l: int, p: int, out_row: np.ndarray) -> list[int]:
        """Last output row of producer ``p`` that each output row of ``l`` needs."""
        wl = self.wl
        stride, offset = int(wl.row_stride[l]), int(wl.row_offset[l])
        p_rows = int(wl.rows_out[p])
        if stride < 0:
            return [p_rows - 1] * len(out_row)
        return np.clip(np.asarray(out_row) * stride + offset, 0, p_rows - 1).astype(int).tolist()

    def row_steps(self, p: int, steps: int, per_step: int) -> list[int]:
        """Step of a pass of ``p`` (``steps`` steps of ``per_step`` pixels) that completes
        each of its output rows."""
        wl = self.wl
        rows = int(wl.rows_out[p])
        if wl.weighted[p] and not wl.is_fc[p]:
            r = np.arange(rows)
            return np.minimum(-(-((r + 1) * int(wl.out_width[p])) // per_step) - 1, steps - 1).astype(int).tolist()
        if wl.is_fc[p]:
            return [steps - 1] * rows
        return list(range(rows))

    def read_bits(self, l: int, p: int, tile) -> float:
        """DRAM bits one inference of a unit of ``l`` reads of the spilled input ``p``."""
        wl = self.wl
        bits = float(wl.out_values[p]) * self.A[p]
        j = int(wl.widx[l])
        if j < 0 or self.T[j] == 1:
            return bits
        if self.plan.keeps[(l, p)]:                                  # copied in once, by the first tile
            return bits if tile[1] == 0 and tile[2] == 0 else 0.0
        return bits / self.t_r[j]                                    # each tile reads its row groups' inputs

    def psum_bits(self, j: int) -> float:
        """Partial-sum bits of one tile pass, one way: the outputs of its column tile."""
        l = int(self.wl.layer_of_w[j])
        return float(self.wl.out_values[l]) * self.A[l] / self.t_c[j]


def _share(total: int, parts: int, i: int) -> int:
    """Size of part ``i`` when ``total`` is split into ``parts`` of ``ceil(total / parts)``."""
    size = math.ceil(total / parts)
    return max(min(size, total - i * size), 0)
