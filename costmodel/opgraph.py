"""The per-block operation graph of one resolved design (MODEL.md sections 3 and 7).

``costmodel.resolve`` computes, for whole batches, what every operation of every layer
costs; :class:`OpGraph` is that information for one design as plain Python values, the
input of the exact reference scheduler (``costmodel.reference_sim``). It carries no
timing model: only durations, energies, resources and dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Operation kinds of one step, in chain order. "mvm", "adc" and "shift_add" repeat once
# per bit iteration (``LayerOps.iterations`` times).
OP_CHAIN: tuple[str, ...] = (
    "load", "noc_in", "feed", "mvm", "adc", "shift_add", "addition", "unit", "activation", "merge", "store",
)
ITERATED: frozenset[str] = frozenset({"mvm", "adc", "shift_add"})
#: Kind under which :attr:`Occurrences.overhead_nj` is reported (the evaluator's component name).
OVERHEAD_KIND = "sparsity"


@dataclass(frozen=True, eq=False)
class Occurrences:
    """Counted figures of every occurrence of a layer's iterated kinds, step by step and
    iteration by iteration: what its zeros actually skip (the sparsity reference,
    :mod:`costmodel.sparsity.sampled`), or what each crossbar pass of an epitome layer
    drives and converts (:mod:`costmodel.epitome.passes`).

    Attributes:
        durations_ns: iterated kind -> ``(steps, iterations)`` ns of each occurrence; a
            kind absent keeps :attr:`LayerOps.durations_ns` (gating changes no time). A
            skipped occurrence lasts 0 ns and occupies no resource.
        energies_nj: iterated kind -> ``(steps, iterations)`` nJ of each occurrence (they
            replace :attr:`LayerOps.energies_nj` of the kind).
        overhead_nj: ``(steps,)`` nJ per step of the zero detectors, skip logic and
            compaction indices over all its iterations (they run on skipped iterations
            too), reported as kind :data:`OVERHEAD_KIND`; None: no such overhead (an
            epitome layer's address tables and muxes are in its ``mvm`` energies, as in
            the evaluator's).
    """

    durations_ns: dict[str, np.ndarray]
    energies_nj: dict[str, np.ndarray]
    overhead_nj: np.ndarray | None = None

    def steps(self, start: int, stop: int) -> "Occurrences":
        """The occurrences of steps ``start .. stop - 1`` (one weight tile's pass)."""
        return Occurrences(durations_ns={k: v[start:stop] for k, v in self.durations_ns.items()},
                           energies_nj={k: v[start:stop] for k, v in self.energies_nj.items()},
                           overhead_nj=None if self.overhead_nj is None else self.overhead_nj[start:stop])

    def energy_by_kind(self, kinds) -> dict[str, float]:
        """nJ of all occurrences of each of ``kinds`` (the kinds a step runs), plus the
        overhead (when there is one)."""
        out = {k: float(self.energies_nj[k].sum()) for k in kinds if k in self.energies_nj}
        if self.overhead_nj is not None:
            out[OVERHEAD_KIND] = float(self.overhead_nj.sum())
        return out


@dataclass(frozen=True)
class LayerOps:
    """What one step of a layer does.

    Attributes:
        index: the layer's index in the network.
        steps: number of steps (blocks) of one inference.
        iterations: occurrences of mvm/adc/shift_add per step: bit iterations B x crossbar
            passes (1 for weightless layers; an epitome layer: pass-major, pass * B + bit).
        durations_ns: op kind -> duration of one occurrence (ns); kinds absent or 0 do
            not occur.
        energies_nj: op kind -> dynamic energy of one occurrence (nJ).
        resources: op kind -> resource name; operations naming the same resource
            (within and across layers) run one at a time.
        producers: indices of producing layers (``-1``: the network input).
        need: for each producer (same order), ``need[p][s]`` is the last step of that
            producer which must have finished its ``store`` before step ``s`` of this
            layer may start its ``load`` (``-1``: nothing needed).
        occurrences: sampled per-occurrence durations and energies of the iterated kinds
            (:class:`Occurrences`), or None: every occurrence as ``durations_ns`` and
            ``energies_nj`` say.
    """

    index: int
    steps: int
    iterations: int
    durations_ns: dict[str, float]
    energies_nj: dict[str, float]
    resources: dict[str, str]
    producers: tuple[int, ...]
    need: tuple[tuple[int, ...], ...]
    occurrences: Occurrences | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OpGraph:
    """Every layer's operations for one design, plus its static power (W)."""

    layers: tuple[LayerOps, ...]
    static_power_w: float
    macs: int


def to_opgraph(resolved, n: int, occurrences: dict[int, Occurrences] | None = None) -> OpGraph:
    """The operation graph of design ``n`` of a :class:`costmodel.resolve.Resolved`;
    ``occurrences`` (layer index -> :class:`Occurrences`, from
    :func:`costmodel.sparsity.sampled.sampled_occurrences` or
    :func:`costmodel.epitome.passes.epitome_occurrences`) replace the expected figures
    of those layers' iterated kinds.

    Resource names: ``spad{k}`` (load, store), ``xbar{l}`` (feed, mvm), ``adc{k}``, ``sa{k}``,
    ``add{k}``, ``pool{k}``/``eltwise{k}`` (unit), ``act{k}``/``sig{k}`` (activation),
    ``port{k}`` (the gather macro of set k: its merges and the transfers it sends;
    ``port_in`` for the network input), with k the macro set.
    """
    from costmodel.workload import needed_producer_step

    wl = resolved.workload
    host = resolved.host[n]
    layers = []
    for l, prods in enumerate(wl.producers):
        k = int(host[l])
        steps, dup = int(resolved.steps[n, l]), int(resolved.dup[n, l])
        remote = [p for p in prods if p < 0 or host[p] != k]
        port = "port_in" if remote and remote[0] < 0 else f"port{int(host[remote[0]])}" if remote else f"port{k}"
        resources = {
            "load": f"spad{k}", "store": f"spad{k}", "noc_in": port, "feed": f"xbar{l}", "mvm": f"xbar{l}",
            "adc": f"adc{k}", "shift_add": f"sa{k}", "addition": f"add{k}",
            "unit": f"{'pool' if wl.unit_kind[l] == 1 else 'eltwise'}{k}",
            "activation": f"{'sig' if wl.act_kind[l] == 2 else 'act'}{k}", "merge": f"port{k}",
        }
        s = np.arange(steps)
        if wl.weighted[l] and not wl.is_fc[l]:
            out_row = (np.minimum((s + 1) * dup, wl.out_pixels[l]) - 1) // wl.out_width[l]
        else:
            out_row = np.where(wl.is_fc[l], 0, s)
        need = []
        for p in prods:
            if p < 0:
                need.append(tuple([-1] * steps))
                continue
            last = needed_producer_step(wl, l, p, out_row, resolved.dup[n, p])
            need.append(tuple(np.minimum(last, resolved.steps[n, p] - 1).astype(int).tolist()))
        layers.append(LayerOps(
            index=l, steps=steps, iterations=int(resolved.iterations[n, l]) if wl.weighted[l] else 1,
            durations_ns={kind: float(resolved.durations[i, n, l]) for i, kind in enumerate(OP_CHAIN)},
            energies_nj={kind: float(resolved.energy(kind)[n, l]) for kind in OP_CHAIN},
            resources=resources, producers=tuple(prods), need=tuple(need),
            occurrences=(occurrences or {}).get(l),
        ))
    static = sum(float(v[n]) for v in resolved.static_w.values())
    return OpGraph(layers=tuple(layers), static_power_w=static, macs=int(wl.total_macs))
