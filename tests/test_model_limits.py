"""Models the frontend refuses at load, naming the tensor, layer or node: zero-sized or
absurd shapes and operators with work that it would otherwise drop between layers."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from onnx_frontend import FrontendError, UnsupportedOperatorError, load_network
from onnx_frontend.limits import MAX_LAYER_MACS, MAX_TENSOR_ELEMENTS


def structure_only(x, layers, opset: int = 17) -> onnx.ModelProto:
    """A model whose weights are graph inputs (no data, any size). ``layers`` is a list
    of ``(op, weight_shape or None, attrs)`` applied in a chain to input ``x``."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x))]
    nodes, prev = [], "x"
    flat = any(op in ("Flatten", "Gemm") for op, _, _ in layers)
    for i, (op, w, attrs) in enumerate(layers):
        ins = [prev]
        if w is not None:
            inputs.append(helper.make_tensor_value_info(f"w{i}", TensorProto.FLOAT, list(w)))
            ins.append(f"w{i}")
        nodes.append(helper.make_node(op, ins, [f"t{i}"], name=f"{op.lower()}{i}", **attrs))
        prev = f"t{i}"
    out = helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["n", "c", "h", "w"][:2 if flat else 4])
    graph = helper.make_graph(nodes, "limits", inputs, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv(cin, cout, k=3, pad=1):
    return ("Conv", (cout, cin, k, k), {"kernel_shape": [k, k], "pads": [pad] * 4})


SOFTMAX = ("Softmax", None, {"axis": 1})
FLATTEN = ("Flatten", None, {})


@pytest.mark.parametrize("x, layers, words", [
    ((1, 0, 8, 8), [conv(0, 4)], "weight 'w0' has shape [4, 0, 3, 3] with a dimension below 1"),
    ((1, 3, 0, 8), [conv(3, 4)], "tensor 'x' has shape [1, 3, 0, 8] with a dimension below 1"),
    ((1, 3, 8, 8), [conv(3, 0)], "weight 'w0' has shape [0, 3, 3, 3]"),
    ((1, 3, 4, 4), [conv(3, 4, k=9, pad=0)], "tensor 't0' has shape [1, 4, -4, -4] with a dimension below 1"),
    ((1, 3, 8, 8), [conv(3, 4), FLATTEN, ("Gemm", (0, 256), {"transB": 1})], "weight 'w2' has shape [0, 256]"),
    ((1, 2**20, 2**7, 2**7), [conv(2**20, 8)], f"more than the {MAX_TENSOR_ELEMENTS:.3g}"),
    ((1, 2**20, 4, 4), [conv(2**20, 2**15)], "weight 'w0' has shape [32768, 1048576, 3, 3]"),
    ((1, 4096, 512, 512), [conv(4096, 4096)], f"layer 'conv0' has 3.96e+13 MACs, more than the {MAX_LAYER_MACS:.3g}"),
])
def test_bad_sizes_are_refused_naming_the_tensor(x, layers, words):
    with pytest.raises(FrontendError) as info:
        load_network(structure_only(x, layers))
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("layers, words", [
    ([conv(3, 4), SOFTMAX, conv(4, 4)], "Softmax node 'softmax1' feeds Conv node 'conv2'"),
    ([conv(3, 4), ("LogSoftmax", None, {"axis": 1}), FLATTEN, ("Gemm", (10, 256), {"transB": 1})],
     "LogSoftmax node 'logsoftmax1' feeds Gemm node 'gemm3'"),
    ([conv(3, 4), SOFTMAX, ("Relu", None, {}), ("MaxPool", None, {"kernel_shape": [2, 2], "strides": [2, 2]})],
     "Softmax node 'softmax1' feeds MaxPool node 'maxpool3'"),
    ([conv(3, 4), SOFTMAX, FLATTEN, ("Gemm", (10, 256), {"transB": 1}), ("Relu", None, {})],
     "Softmax node 'softmax1' feeds Gemm node 'gemm3'"),
])
def test_softmax_between_layers_is_refused(layers, words):
    with pytest.raises(UnsupportedOperatorError) as info:
        load_network(structure_only((1, 3, 8, 8), layers))
    msg = str(info.value)
    assert words in msg and "move it to the end of the model" in msg and "\n" not in msg


@pytest.mark.parametrize("tail", [[SOFTMAX], [SOFTMAX, FLATTEN], [("LogSoftmax", None, {"axis": 1}), ("Relu", None, {})]])
def test_trailing_softmax_passes_through(tail):
    net = load_network(structure_only((1, 3, 8, 8), [conv(3, 4), *tail]))
    assert [l.kind for l in net.layers] == ["conv"]
