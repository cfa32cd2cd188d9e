"""A small builder of structure-only ONNX CNNs.

The models carry no weight data: every parameter (conv and Gemm weights, biases,
batch-norm statistics) is a graph *input* with a static shape, so a whole VGG is a few
kilobytes. The data input is ``input`` of shape ``["N", C, H, W]`` (symbolic batch ``N``);
the single output is ``output`` of shape ``["N", classes]``. Models use opset 17 and
IR version 8 and pass ``onnx.checker.check_model(model, full_check=True)``.

The builder tracks the per-sample shape of every tensor it creates, ``(C, H, W)`` for
feature maps and ``(F,)`` after :meth:`GraphBuilder.flatten`, so layers can size their
weights; each method returns the name of its output tensor::

    b = GraphBuilder("tiny", (3, 32, 32))
    x = b.relu(b.bn(b.conv("input", 16, 3, pad=1)))   # (16, 32, 32)
    x = b.gemm(b.flatten(b.global_avgpool(x)), 10)     # (10,)
    model = b.build(x)
"""

from __future__ import annotations

from collections import Counter

import onnx
from onnx import TensorProto, helper

OPSET = 17
IR_VERSION = 8  # the IR version that introduced opset 17
INPUT = "input"
OUTPUT = "output"

Shape = tuple[int, ...]


def _pool_out(size: int, k: int, s: int, p: int) -> int:
    """Output length of a floor-mode window over ``size`` with ``p`` padding per side."""
    return (size + 2 * p - k) // s + 1


class GraphBuilder:
    """Accumulates nodes, weight inputs and shapes of one ONNX graph.

    Args:
        name: the graph name (``load_network`` uses it as the network name).
        input_shape: ``(C, H, W)`` of one input image.
    """

    def __init__(self, name: str, input_shape: tuple[int, int, int]):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.shapes: dict[str, Shape] = {INPUT: self.input_shape}
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.ValueInfoProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counts: Counter[str] = Counter()

    # -- plumbing -------------------------------------------------------------------

    def _fresh(self, prefix: str) -> str:
        self._counts[prefix] += 1
        return f"{prefix}{self._counts[prefix]}"

    def _node(self, op: str, prefix: str, inputs: list[str], shape: Shape, **attrs) -> str:
        """Append one node named ``<prefix><n>`` whose output tensor has the same name."""
        name = self._fresh(prefix)
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.shapes[name] = shape
        return name

    def _weight(self, name: str, shape: Shape) -> str:
        """Declare a float parameter as a graph input with a static shape."""
        self.weights.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def _scalar(self, name: str, value: float) -> str:
        """A float scalar initializer, created once (e.g. the bounds of ReLU6)."""
        if not any(t.name == name for t in self.initializers):
            self.initializers.append(helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
        return name

    def chw(self, x: str) -> tuple[int, int, int]:
        """``(C, H, W)`` of feature map ``x``."""
        shape = self.shapes[x]
        if len(shape) != 3:
            raise ValueError(f"{x} is not a feature map (shape {shape})")
        return shape  # type: ignore[return-value]

    # -- weighted layers ------------------------------------------------------------

    def conv(
        self,
        x: str,
        cout: int,
        k: int,
        stride: int = 1,
        pad: int = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int = 1,
    ) -> str:
        """Square ``k x k`` convolution: ``(Cin, H, W) -> (cout, Ho, Wo)``.

        Weight ``(cout, Cin / groups, k, k)``; ``Ho = (H + 2 pad - dilation (k - 1) - 1) // stride + 1``.
        """
        cin, h, w = self.chw(x)
        if cin % groups or cout % groups:
            raise ValueError(f"conv on {x}: {cin}->{cout} channels not divisible by {groups} groups")
        name = self._fresh("conv")
        ins = [x, self._weight(f"{name}.weight", (cout, cin // groups, k, k))]
        if bias:
            ins.append(self._weight(f"{name}.bias", (cout,)))
        span = dilation * (k - 1) + 1
        shape = (cout, _pool_out(h, span, stride, pad), _pool_out(w, span, stride, pad))
        self.nodes.append(
            helper.make_node(
                "Conv", ins, [name], name=name,
                kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                dilations=[dilation, dilation], group=groups,
            )
        )
        self.shapes[name] = shape
        return name

    def gemm(self, x: str, out: int, bias: bool = True) -> str:
        """Fully connected layer ``(F,) -> (out,)``: Gemm with ``transB=1``, weight ``(out, F)``."""
        (features,) = self.shapes[x]
        name = self._fresh("fc")
        ins = [x, self._weight(f"{name}.weight", (out, features))]
        if bias:
            ins.append(self._weight(f"{name}.bias", (out,)))
        self.nodes.append(helper.make_node("Gemm", ins, [name], name=name, transB=1))
        self.shapes[name] = (out,)
        return name

    def bn(self, x: str) -> str:
        """BatchNormalization (inference form); scale, bias, mean and var are ``(C,)`` inputs."""
        c = self.chw(x)[0]
        name = self._fresh("bn")
        params = [self._weight(f"{name}.{p}", (c,)) for p in ("scale", "bias", "mean", "var")]
        self.nodes.append(helper.make_node("BatchNormalization", [x, *params], [name], name=name))
        self.shapes[name] = self.shapes[x]
        return name

    # -- shape-preserving operators -------------------------------------------------

    def relu(self, x: str) -> str:
        return self._node("Relu", "relu", [x], self.shapes[x])

    def clip6(self, x: str) -> str:
        """ReLU6 as ``Clip(x, 0, 6)`` with scalar initializers for the bounds."""
        lo, hi = self._scalar("relu6.min", 0.0), self._scalar("relu6.max", 6.0)
        return self._node("Clip", "relu6_", [x, lo, hi], self.shapes[x])

    def dropout(self, x: str) -> str:
        """Dropout (identity at inference)."""
        return self._node("Dropout", "dropout", [x], self.shapes[x])

    def softmax(self, x: str) -> str:
        """Softmax over the class axis of a ``(F,)`` vector."""
        return self._node("Softmax", "softmax", [x], self.shapes[x], axis=1)

    def add(self, a: str, b: str) -> str:
        """Elementwise sum of two equally shaped tensors (a residual connection)."""
        if self.shapes[a] != self.shapes[b]:
            raise ValueError(f"add: {a} {self.shapes[a]} and {b} {self.shapes[b]} differ")
        return self._node("Add", "add", [a, b], self.shapes[a])

    # -- pooling and reshaping ------------------------------------------------------

    def _pool(self, op: str, x: str, k, stride, pad: int) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        c, h, w = self.chw(x)
        shape = (c, _pool_out(h, kh, sh, pad), _pool_out(w, kw, sw, pad))
        prefix = "maxpool" if op == "MaxPool" else "avgpool"
        return self._node(op, prefix, [x], shape, kernel_shape=[kh, kw], strides=[sh, sw], pads=[pad] * 4)

    def maxpool(self, x: str, k: int | tuple[int, int], stride: int | tuple[int, int], pad: int = 0) -> str:
        """Max pooling (floor mode); ``k`` and ``stride`` are an int or ``(h, w)``."""
        return self._pool("MaxPool", x, k, stride, pad)

    def avgpool(self, x: str, k: int | tuple[int, int], stride: int | tuple[int, int], pad: int = 0) -> str:
        """Average pooling (floor mode, padding excluded from the average)."""
        return self._pool("AveragePool", x, k, stride, pad)

    def global_avgpool(self, x: str) -> str:
        """``(C, H, W) -> (C, 1, 1)``."""
        return self._node("GlobalAveragePool", "gap", [x], (self.chw(x)[0], 1, 1))

    def flatten(self, x: str) -> str:
        """``(C, H, W) -> (C * H * W,)`` (Flatten with axis 1)."""
        c, h, w = self.chw(x)
        return self._node("Flatten", "flatten", [x], (c * h * w,), axis=1)

    def concat(self, xs: list[str]) -> str:
        """Concatenate on axis 1: channels of feature maps, or features of flat vectors."""
        shapes = [self.shapes[x] for x in xs]
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(f"concat: inputs {shapes} differ beyond axis 1")
        shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        return self._node("Concat", "concat", list(xs), shape, axis=1)

    # -- output ---------------------------------------------------------------------

    def build(self, out: str, doc: str = "") -> onnx.ModelProto:
        """Finish the graph with ``out`` (a ``(F,)`` vector) renamed to ``output``."""
        (features,) = self.shapes[out]
        self.nodes.append(helper.make_node("Identity", [out], [OUTPUT], name=OUTPUT))
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *self.input_shape]), *self.weights],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", features])],
            initializer=self.initializers,
            doc_string=doc,
        )
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="pimtune.zoo",
        )
