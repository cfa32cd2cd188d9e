"""Small ONNX models written with ``onnx.helper`` in the styles real exporters use.

Independent of the zoo's builder on purpose: these are the "second producer" the
frontend must read. Weights are initializers with real (random) data.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


class Styled:
    """Accumulates nodes and initializers; ``model()`` wraps them into a ModelProto."""

    def __init__(self, in_shape=(1, 3, 32, 32), batch: str | int = 1) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.in_shape = [batch, *in_shape[1:]]
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def init(self, shape, dtype=np.float32, value=None) -> str:
        name = self.name("w")
        arr = RNG.standard_normal(shape).astype(dtype) if value is None else np.asarray(value, dtype=dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs, n_out: int = 1, **attrs) -> str:
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self.name(op), **attrs))
        return outs[0]

    def conv(self, x, cin, cout, k=3, stride=1, pads=None, groups=1, dilation=1, bias=True, **attrs):
        w = self.init((cout, cin // groups, k, k))
        ins = [x, w] + ([self.init((cout,))] if bias else [])
        if pads is None and "auto_pad" not in attrs:
            pads = [k // 2 * dilation] * 4
        if pads is not None:
            attrs["pads"] = pads
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], group=groups,
                         dilations=[dilation, dilation], **attrs)

    def bn(self, x, c):
        return self.node(
            "BatchNormalization",
            [x, self.init((c,)), self.init((c,)), self.init((c,)), self.init((c,), value=np.ones(c))],
        )

    def relu(self, x):
        return self.node("Relu", [x])

    def shape_flatten(self, x, opset: int = 17):
        """The chain PyTorch's ``x.view(x.size(0), -1)`` exports to."""
        shape = self.node("Shape", [x])
        zero = self.node("Constant", [], value=numpy_helper.from_array(np.array(0, dtype=np.int64)))
        batch = self.node("Gather", [shape, zero], axis=0)
        if opset < 13:
            b1 = self.node("Unsqueeze", [batch], axes=[0])
        else:
            b1 = self.node("Unsqueeze", [batch, self.init((1,), np.int64, [0])])
        minus = self.init((1,), np.int64, [-1])
        target = self.node("Concat", [b1, minus], axis=0)
        return self.node("Reshape", [x, target])

    def model(self, out: str, opset: int = 17, out_shape=None) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "styled",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.in_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            initializer=self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7 if opset <= 12 else 8
        if out_shape is not None:
            return m
        # Exporters declare the output's shape: take it from shape inference.
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
        known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
        if out in known and known[out].type.tensor_type.HasField("shape"):
            m.graph.output[0].CopyFrom(known[out])
        return m
