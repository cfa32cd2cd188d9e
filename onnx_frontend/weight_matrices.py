"""The weight matrices of a model's weighted layers, from its own data (the sparsity reference).

:func:`weight_matrices` finds, for every conv and fc layer of a :class:`Network` loaded
from ``model``, the ONNX node it came from (by layer name) and unrolls the node's
initializer as the loader measures it (:func:`onnx_frontend.weight_density.unrolled`):
``(groups, rows_g, cols_g)`` (weights routed through Identity nodes included), rows
``(input channel, kernel row, kernel column)`` of the
group in that order, columns its output channels. Layers whose weights the model does
not hold (structure-only models) are absent.

:func:`nonzero_slices` gives which ``c``-bit slices of each weight are non-zero, on the
sign-magnitude codes the loader measures the zero slice columns on
(:func:`onnx_frontend.weight_density.measure`): a bit-sliced array converts a slice's
column only where the slice is non-zero in some weight of the column.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnx_frontend.network import Network
from onnx_frontend.weight_density import sign_magnitude_codes, unrolled


def weight_matrices(model: onnx.ModelProto, network: Network) -> dict[int, np.ndarray]:
    """Layer index -> ``(groups, rows_g, cols_g)`` float weights of each weighted layer of
    ``network`` whose weights ``model`` holds (module docstring)."""
    data = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:                                       # exporters route shared weights through Identity
        if node.op_type == "Identity" and node.input[0] in data:
            data[node.output[0]] = data[node.input[0]]
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


def nonzero_slices(matrices: np.ndarray, weight_bits: int, cell_bits: int) -> np.ndarray:
    """Unsigned integers of the shape of ``matrices``: bit ``k`` is set where the ``k``-th
    ``cell_bits``-bit slice (least significant first; the sign in the top one) of the
    weight's sign-magnitude code at ``weight_bits`` is non-zero; ``ceil(weight_bits /
    cell_bits)`` slices."""
    code = sign_magnitude_codes(matrices, weight_bits)
    if weight_bits <= 16:                                               # one table lookup per code
        return _slice_bits(np.arange(1 << weight_bits, dtype=code.dtype), weight_bits, cell_bits)[code]
    return _slice_bits(code, weight_bits, cell_bits)


def _slice_bits(code: np.ndarray, weight_bits: int, cell_bits: int) -> np.ndarray:
    """:func:`nonzero_slices` of unsigned ``weight_bits``-bit codes."""
    kind = code.dtype.type
    slices = -(-weight_bits // cell_bits)
    out_kind = np.min_scalar_type((1 << slices) - 1).type
    out = np.zeros(code.shape, dtype=out_kind)
    for k in range(slices):
        out |= (((code >> kind(cell_bits * k)) & kind((1 << cell_bits) - 1)) != 0).astype(out_kind) << out_kind(k)
    return out
