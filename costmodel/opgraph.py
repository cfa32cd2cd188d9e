"""The per-block operation graph of one resolved design (MODEL.md sections 3 and 7).

``costmodel.resolve`` computes, for whole batches, what every operation of every layer
costs; :class:`OpGraph` is that information for one design as plain Python values, the
input of the exact reference scheduler (``costmodel.reference_sim``). It carries no
timing model: only durations, energies, resources and dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

# Operation kinds of one step, in chain order. "mvm", "adc" and "shift_add" repeat once
# per bit iteration (``LayerOps.iterations`` times).
OP_CHAIN: tuple[str, ...] = (
    "load", "noc_in", "mvm", "adc", "shift_add", "addition", "unit", "activation", "merge", "store",
)
ITERATED: frozenset[str] = frozenset({"mvm", "adc", "shift_add"})


@dataclass(frozen=True)
class LayerOps:
    """What one step of a layer does.

    Attributes:
        index: the layer's index in the network.
        steps: number of steps (blocks) of one inference.
        iterations: bit iterations B of mvm/adc/shift_add (1 for weightless layers).
        durations_ns: op kind -> duration of one occurrence (ns); kinds absent or 0 do
            not occur.
        energies_nj: op kind -> dynamic energy of one occurrence (nJ).
        resources: op kind -> resource name; operations naming the same resource
            (within and across layers) run one at a time.
        producers: indices of producing layers (``-1``: the network input).
        need: for each producer (same order), ``need[p][s]`` is the last step of that
            producer which must have finished its ``store`` before step ``s`` of this
            layer may start its ``load`` (``-1``: nothing needed).
    """

    index: int
    steps: int
    iterations: int
    durations_ns: dict[str, float]
    energies_nj: dict[str, float]
    resources: dict[str, str]
    producers: tuple[int, ...]
    need: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class OpGraph:
    """Every layer's operations for one design, plus its static power (W)."""

    layers: tuple[LayerOps, ...]
    static_power_w: float
    macs: int
