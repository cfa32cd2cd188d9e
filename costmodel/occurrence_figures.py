"""Energies and durations of single occurrences of a layer's iterated kinds (``mvm``,
``adc``, ``shift_add``) from the work each one does: the references' counterpart of the
resolve step's per-step figures (MODEL.md sections 3 and 6).

The references that count work occurrence by occurrence (the sparsity reference,
:mod:`costmodel.sparsity.sampled`; the epitome passes, :mod:`costmodel.epitome.passes`)
fill the resolve step's work keys (``crossbars``, ``dac_conv``, ``adc_conv``,
``shift_add``, ``cells``, ``sparsity_pj``, ``epitome_pj``) per occurrence and price them
here with the evaluator's own formulas, so that equal work costs exactly the same.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from costmodel.array_figures import ArrayFigures
from costmodel.design import COMPONENTS
from costmodel.opgraph import OP_CHAIN
from costmodel.resolve import _occurrence_energy

F = np.float32
#: The iterated kinds an occurrence's work prices, in chain order.
PRICED = ("mvm", "adc", "shift_add")


def iterated_energies(r, n: int, work: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """nJ of each occurrence of ``mvm``, ``adc`` and ``shift_add`` of design ``n`` of the
    :class:`~costmodel.resolve.Resolved` ``r``, float64 arrays of the broadcast shape of
    ``work`` (work key -> count per occurrence; :func:`costmodel.resolve._occurrence_energy`
    with design ``n``'s coefficients)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in work.values()))
    coefficients = {key: (v[n:n + 1] if isinstance(v, np.ndarray) and v.ndim == 1 else v)
                    for key, v in r.coefficients.items()}
    arrays_of = SimpleNamespace(work={k: np.broadcast_to(v, shape) for k, v in work.items()},
                                coefficients=coefficients)
    return {kind: np.asarray(_occurrence_energy(arrays_of, kind), dtype=float).reshape(shape) for kind in PRICED}


def unit_durations(r, n: int, l: int, a: ArrayFigures, work: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ns of each ``adc`` and ``shift_add`` occurrence of layer ``l`` of design ``n``: its
    ``work["adc_conv"]`` conversions (``work["shift_add"]`` elements) times the unit's
    latency over the units of the layer's macro set, as the resolve step prices a step's
    (``a``: design ``n``'s array figures, a batch of one). A kind the layer does not run
    (no duration in ``r``, or no units) is absent."""
    k = int(r.host[n, l])
    out = {}
    for kind, key, t in (("adc", "adc_conv", F(a.adc_ns[0])),
                         ("shift_add", "shift_add", F(r.tech.vector_units.shift_add.latency_ns))):
        units = float(r.counts[n, k, COMPONENTS.index(kind)])
        if r.durations[OP_CHAIN.index(kind), n, l] > 0 and units > 0:
            out[kind] = work[key] * t / units
    return out
