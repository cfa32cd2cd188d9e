"""Zoo models with weights: random data for the structure-only networks, for profiles and
sparsity studies (a magnitude-pruned network is the usual test of a sparse accelerator).

The zoo builds its networks with every parameter declared as a graph input without data
(kilobyte files). :func:`with_random_weights` turns those inputs into initializers:
He-normal conv and fc weights (``N(0, 2 / fan_in)``), zero biases, batch norms at
identity (scale 1, shift 0, mean 0, variance 1), and optionally the ``prune`` share of
each weight tensor's smallest magnitudes set to zero.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnx_frontend.errors import FrontendError

#: BatchNormalization inputs (by position) that hold ones at identity: the scale and the variance.
_BN_ONES = (1, 4)


def with_random_weights(model: onnx.ModelProto, seed: int = 0, prune: float = 0.0) -> onnx.ModelProto:
    """A copy of ``model`` whose parameter inputs are initializers with data (see the module docstring)."""
    if not 0.0 <= prune < 1.0:
        raise FrontendError(f"prune must be a share of the weights in [0, 1), got {prune}")
    rng = np.random.default_rng(seed)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    have = {i.name for i in graph.initializer}
    params = [i for i in graph.input[1:] if i.name not in have]
    ones = {n.input[k] for n in graph.node if n.op_type == "BatchNormalization" for k in _BN_ONES if k < len(n.input)}
    inits = []
    for vi in params:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[1]
            data = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / max(fan_in, 1)))
            if prune > 0:
                cut = np.quantile(np.abs(data), prune)
                data[np.abs(data) <= cut] = 0.0
        else:
            data = np.full(shape, 1.0 if vi.name in ones else 0.0, dtype=np.float32)
        inits.append(numpy_helper.from_array(data, vi.name))
    keep = [i for i in graph.input if i.name not in {p.name for p in params}]
    del graph.input[:]
    graph.input.extend(keep)
    graph.initializer.extend(inits)
    out.producer_name = (model.producer_name or "pimtune.zoo") + "+random-weights"
    helper.set_model_props(out, {"random_weights_seed": str(seed), "pruned_share": str(prune)})
    return out
