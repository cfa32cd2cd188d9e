"""The weight matrices of a model's weighted layers, from its own data (the sparsity reference).

:func:`weight_matrices` finds, for every conv and fc layer of a :class:`Network` loaded
from ``model``, the ONNX node it came from (by layer name) and unrolls the node's
initializer as the loader measures it (:func:`onnx_frontend.weight_density.unrolled`):
``(groups, rows_g, cols_g)``, rows ``(input channel, kernel row, kernel column)`` of the
group in that order, columns its output channels. Layers whose weights the model does
not hold (structure-only models) are absent.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnx_frontend.network import Network
from onnx_frontend.weight_density import unrolled


def weight_matrices(model: onnx.ModelProto, network: Network) -> dict[int, np.ndarray]:
    """Layer index -> ``(groups, rows_g, cols_g)`` float weights of each weighted layer of
    ``network`` whose weights ``model`` holds (module docstring)."""
    data = {i.name: i for i in model.graph.initializer}
    by_name = {l.name: l for l in network.layers if l.is_weighted}
    out: dict[int, np.ndarray] = {}
    for node in model.graph.node:
        layer = by_name.get(node.name or (node.output[0] if node.output else ""))
        if layer is None or node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            name, transpose = node.input[1], False
        else:
            name = next((n for n in node.input[:2] if n in data), None)
            transpose = node.op_type == "Gemm" and bool(attrs.get("transB", 0))
        if name not in data:
            continue
        arr = numpy_helper.to_array(data[name])
        matrices = unrolled(arr.T if transpose else arr, layer.groups)
        if matrices.shape == (layer.groups, layer.matrix_rows, layer.matrix_cols):
            out[layer.index] = matrices
    return out
