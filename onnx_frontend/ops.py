"""How each ONNX operator maps onto the layer graph.

:class:`GraphState` follows the model's tensors while :func:`map_node` visits its nodes in
order. Every data tensor remembers which layer produced it (``-1`` for the network input)
and its full ONNX shape; shape-only operators re-point their output at the same layer,
activations and batch normalisation are fused into it, and the costed operators open a
new layer. A Softmax is dropped only at the network's end: a costed layer that consumes
one is refused (:data:`TRAILING_ONLY`). Sizes are checked as layers open
(:mod:`onnx_frontend.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

import numpy as np
import onnx
from onnx import numpy_helper

from onnx_frontend.epitome_chain import ComputedWeight, check_fit
from onnx_frontend.errors import FrontendError, UnsupportedOperatorError
from onnx_frontend.limits import check_layer, check_tensor
from onnx_frontend.network import Layer, Network, Shape3
from onnx_frontend.weight_density import WeightDensity, measure, unrolled

ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "LeakyRelu": "leakyrelu",
    "HardSwish": "hardswish",
    "HardSigmoid": "hardsigmoid",
    "Tanh": "tanh",
    "Elu": "elu",
    "Selu": "selu",
    "PRelu": "prelu",
    "Softplus": "softplus",
    "Gelu": "gelu",
    "Mish": "mish",
    "Clip": "clip",
}
# Operators that change nothing a PIM accelerator pays for: folded or pure re-indexing.
PASS_THROUGH = {
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Dropout",
    "Identity",
    "Transpose",
    "Softmax",
    "LogSoftmax",
    "Cast",
    "Split",
    "Slice",
}
# Pass-through operators that do work a chip would pay for (exponentials, a reduction):
# dropped only as the network's last operators, refused when a costed layer consumes them.
TRAILING_ONLY = {"Softmax", "LogSoftmax"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax"}
ELTWISE = {"Add", "Sum", "Mul", "Sub", "Div"}
LAYER_OPS = {"Conv", "Gemm", "MatMul", "Concat", "Pad", "Shape", "Size"}
SUPPORTED = sorted(set(ACTIVATIONS) | PASS_THROUGH | POOLS | ELTWISE | LAYER_OPS | {"Constant"})


@dataclass(frozen=True)
class Tensor:
    """A data tensor: the layer that produced it (-1: network input) and its ONNX shape."""

    source: int
    shape: tuple[int, ...]
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # pending spatial padding from a Pad node
    fresh: bool = True  # still the raw output of ``source`` (a following Add may be its bias)
    dropped: str = ""  # a TRAILING_ONLY operator this tensor went through, e.g. "Softmax node 'sm'"


@dataclass
class GraphState:
    """What the walk over the nodes knows so far."""

    shapes: dict[str, tuple[int, ...] | None]
    consts: dict[str, np.ndarray]
    const_names: set[str]
    data: dict[str, Tensor] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    input_name: str = ""
    weight_data: dict[str, onnx.TensorProto] = field(default_factory=dict)  # initializers of rank >= 2
    densities: dict[int, WeightDensity] = field(default_factory=dict)       # by layer index
    input_tensors: dict[int, str] = field(default_factory=dict)             # weighted layers' data inputs
    computed: dict[str, ComputedWeight] = field(default_factory=dict)       # conv weights sampled from epitomes

    @classmethod
    def from_graph(
        cls, graph: onnx.GraphProto, weight_inputs: set[str], shapes: dict[str, tuple[int, ...] | None],
        computed: dict[str, ComputedWeight] | None = None,
    ) -> "GraphState":
        """Start the walk: initializers and ``weight_inputs`` are constants, the rest data;
        ``computed`` are the conv weights epitome chains compute (by weight name)."""
        consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer if len(i.dims) <= 1}
        state = cls(shapes=shapes, consts=consts, const_names=set(consts) | weight_inputs,
                    weight_data={i.name: i for i in graph.initializer if len(i.dims) > 1},
                    computed=dict(computed or {}))
        data_inputs = [i.name for i in graph.input if i.name not in state.const_names]
        if len(data_inputs) != 1:
            raise FrontendError(
                f"the model has {len(data_inputs)} data inputs ({', '.join(data_inputs) or 'none'}); "
                "pimtune maps single-input CNNs: declare weights as initializers"
            )
        state.data[data_inputs[0]] = Tensor(-1, state.shape(data_inputs[0]))
        state.input_name = data_inputs[0]
        return state

    def shape(self, name: str) -> tuple[int, ...]:
        dims = self.shapes.get(name)
        if dims is None:
            raise FrontendError(
                f"tensor '{name}' has no static shape after shape inference; "
                "export the model with a fixed input size"
            )
        return dims

    def add_layer(self, node: onnx.NodeProto, kind: str, inputs: list[Tensor], **fields) -> None:
        index = len(self.layers)
        dropped = next((t.dropped for t in inputs if t.dropped), "")
        if dropped:
            raise UnsupportedOperatorError(
                f"{dropped} feeds {node.op_type} node '{node.name or node.output[0]}'; pimtune does not model "
                f"{dropped.split()[0]} between layers, only as the network's last operator: remove it or move "
                f"it to the end of the model"
            )
        in_shapes = tuple(_chw(t.shape, node.input[0]) for t in inputs)
        out = node.output[0]
        layer = Layer(
            index=index,
            name=node.name or out,
            kind=kind,
            in_shapes=in_shapes,
            out_shape=_chw(self.shape(out), out),
            producers=tuple(t.source for t in inputs),
            **fields,
        )
        check_layer(layer.name, layer.weights, layer.macs)
        self.layers.append(layer)
        self.data[out] = Tensor(index, self.shape(out))

    def measure_weights(self, name: str, groups: int, transpose: bool, data_input: str) -> None:
        """The zeros of the last layer's weights ``name``, if the model holds their data; the
        ONNX tensor ``data_input`` it reads (what an activation profile measures)."""
        self.input_tensors[len(self.layers) - 1] = data_input
        init = self.weight_data.get(name)
        computed = self.computed.get(name)
        if computed is not None and computed.kernel is not None:
            arr = computed.kernel
        elif init is None:
            return
        else:
            arr = numpy_helper.to_array(init)
        if arr.size == 0:
            return
        self.densities[len(self.layers) - 1] = measure(unrolled(arr.T if transpose else arr, groups))

    def to_network(self, name: str) -> Network:
        if not self.layers:
            raise FrontendError(f"network '{name}' has no conv, fc, pool, add or concat layer; nothing to map")
        input_shape = _chw(self.shape(self.input_name), self.input_name)
        return Network(name=name, input_shape=input_shape, layers=tuple(self.layers),
                       weight_densities=tuple(self.densities.get(i) for i in range(len(self.layers))),
                       input_tensors=tuple(self.input_tensors.get(i) for i in range(len(self.layers))))


def map_node(state: GraphState, node: onnx.NodeProto) -> None:
    """Apply one ONNX node to the state (see the module docstring)."""
    inputs = [n for n in node.input if n]
    data_in = [state.data[n] for n in inputs if n in state.data]
    if not data_in or node.op_type == "Shape" or node.op_type == "Size":
        if node.op_type == "Constant":
            _record_constant(state, node)
        state.const_names.update(node.output)
        return
    op = node.op_type
    if op == "Conv":
        _conv(state, node, data_in[0])
    elif op in ("Gemm", "MatMul"):
        _fc(state, node, data_in)
    elif op in POOLS:
        _pool(state, node, data_in[0])
    elif op in ELTWISE:
        _eltwise(state, node, data_in)
    elif op == "Concat":
        _concat(state, node, data_in)
    elif op == "Pad":
        _pad(state, node, data_in[0])
    elif op in ACTIVATIONS:
        _activation(state, node, data_in[0])
    elif op in PASS_THROUGH:
        dropped = f"{op} node '{node.name or node.output[0]}'" if op in TRAILING_ONLY else data_in[0].dropped
        for out in node.output:
            if out and out in state.shapes and state.shapes[out] is not None:
                state.data[out] = replace(data_in[0], shape=state.shape(out), fresh=False, pad=(0, 0, 0, 0),
                                          dropped=dropped)
            elif out and op != "Dropout":
                state.shape(out)  # raises: the output shape is not static
    else:
        raise UnsupportedOperatorError(
            f"operator {op} (node '{node.name or node.output[0]}') is not supported; "
            f"supported: {', '.join(SUPPORTED)}"
        )


def _conv(state: GraphState, node: onnx.NodeProto, x: Tensor) -> None:
    w = state.shape(node.input[1])
    check_tensor(node.input[1], w, "weight")
    if len(w) != 4:
        raise FrontendError(
            f"Conv node '{node.name or node.output[0]}' has a {len(w) - 2}-D kernel; pimtune maps 2-D convolutions"
        )
    a = _attrs(node)
    in_shape = _input_before_pad(x, node)
    out = state.shape(node.output[0])
    kernel = tuple(a.get("kernel_shape", w[2:]))
    stride = tuple(a.get("strides", (1, 1)))
    dilation = tuple(a.get("dilations", (1, 1)))
    groups = int(a.get("group", 1))
    padding = _padding(a, in_shape[1:], out[2:], kernel, stride, dilation)
    padding = tuple(p + q for p, q in zip(padding, x.pad))
    cout, hout, wout = out[1], out[2], out[3]
    bias = state.shape(node.input[2])[0] if len(node.input) > 2 and node.input[2] else 0
    computed = state.computed.get(node.input[1])
    if computed is not None:
        check_fit(f"Conv node '{node.name or node.output[0]}'", computed, w[0], w[1], kernel)
    state.add_layer(
        node,
        "conv",
        [replace(x, shape=(1, *in_shape))],
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        weights=prod(w),
        bias=bias,
        macs=cout * hout * wout * w[1] * w[2] * w[3],
        epitome=computed.epitome if computed is not None else None,
    )
    state.measure_weights(node.input[1], groups, transpose=False, data_input=node.input[0])


def _fc(state: GraphState, node: onnx.NodeProto, data_in: list[Tensor]) -> None:
    label = node.name or node.output[0]
    if len(data_in) != 1:
        raise UnsupportedOperatorError(
            f"{node.op_type} node '{label}' multiplies two activations (attention); "
            "pimtune maps weight matrices only"
        )
    x = data_in[0]
    if prod(x.shape[:-1]) != 1:
        raise FrontendError(
            f"{node.op_type} node '{label}' takes an activation of shape {list(x.shape)}; "
            "a fully connected layer needs a flattened vector (add Flatten before it)"
        )
    a = _attrs(node)
    if node.op_type == "Gemm" and a.get("transA", 0):
        raise UnsupportedOperatorError(f"Gemm node '{label}' with transA=1 is not supported; export without transposing the input")
    weight_pos = 1 if node.input[0] in state.data else 0
    w = state.shape(node.input[weight_pos])
    check_tensor(node.input[weight_pos], w, "weight")
    if len(w) != 2:
        raise FrontendError(f"{node.op_type} node '{label}' has a rank-{len(w)} weight; expected a matrix")
    k, n = (w[1], w[0]) if a.get("transB", 0) else (w[0], w[1])
    bias = 0
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        bias = prod(state.shape(node.input[2]))
    state.add_layer(
        node,
        "fc",
        [replace(x, shape=(1, k))],
        weights=k * n,
        bias=bias,
        macs=k * n,
    )
    state.measure_weights(node.input[weight_pos], 1, transpose=bool(a.get("transB", 0)),
                          data_input=node.input[1 - weight_pos])


def _pool(state: GraphState, node: onnx.NodeProto, x: Tensor) -> None:
    a = _attrs(node)
    op = node.op_type
    in_shape = _input_before_pad(x, node)
    out = state.shape(node.output[0])
    kind = "max" if op in ("MaxPool", "GlobalMaxPool", "ReduceMax") else "avg"
    if op.startswith("Global") or op.startswith("Reduce"):
        if op.startswith("Reduce"):
            axes = a.get("axes")
            if axes is None and len(node.input) > 1:
                axes = state.consts.get(node.input[1])
            if axes is None or sorted(int(v) % len(x.shape) for v in np.ravel(axes)) != [2, 3]:
                raise UnsupportedOperatorError(
                    f"{op} node '{node.name or node.output[0]}' reduces axes other than H, W; only global pooling is supported"
                )
        kernel = (in_shape[1], in_shape[2])
        stride, dilation, padding = kernel, (1, 1), (0, 0, 0, 0)
    else:
        kernel = tuple(a["kernel_shape"])
        stride = tuple(a.get("strides", (1, 1)))
        dilation = tuple(a.get("dilations", (1, 1)))
        padding = _padding(a, in_shape[1:], out[2:], kernel, stride, dilation)
    padding = tuple(p + q for p, q in zip(padding, x.pad))
    state.add_layer(
        node,
        "pool",
        [replace(x, shape=(1, *in_shape))],
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        pool_type=kind,
    )


def _eltwise(state: GraphState, node: onnx.NodeProto, data_in: list[Tensor]) -> None:
    if len(data_in) == 1:
        # One operand is a constant: a bias, scale or normalisation, folded.
        x = data_in[0]
        if node.op_type == "Add" and x.fresh and x.source >= 0:
            layer = state.layers[x.source]
            if layer.kind in ("conv", "fc") and layer.bias == 0:
                const = next(n for n in node.input if n not in state.data)
                state.layers[x.source] = replace(layer, bias=prod(state.shape(const)))
        state.data[node.output[0]] = replace(x, shape=state.shape(node.output[0]), fresh=False)
        return
    if node.op_type == "Mul" and len({t.source for t in data_in}) == 1 and _is_gate(state, data_in):
        # x * sigmoid(x) (SiLU / swish): an activation of the common producer.
        _fuse(state, node, data_in[0], "swish")
        return
    state.add_layer(node, "eltwise", data_in)


def _is_gate(state: GraphState, data_in: list[Tensor]) -> bool:
    src = data_in[0].source
    return src >= 0 and bool(state.layers[src].activation) and state.layers[src].activation[-1] == "sigmoid"


def _concat(state: GraphState, node: onnx.NodeProto, data_in: list[Tensor]) -> None:
    axis = _attrs(node).get("axis", 0) % len(data_in[0].shape)
    if axis != 1:
        raise UnsupportedOperatorError(
            f"Concat node '{node.name or node.output[0]}' joins activations on axis {axis}; only channel concatenation is supported"
        )
    state.add_layer(node, "concat", data_in)


def _pad(state: GraphState, node: onnx.NodeProto, x: Tensor) -> None:
    """Remember spatial padding so the next conv or pool absorbs it."""
    out = state.shape(node.output[0])
    pads = _attrs(node).get("pads")
    if pads is None and len(node.input) > 1:
        pads = state.consts.get(node.input[1])
    if pads is not None and len(pads) == 8:
        p = [int(v) for v in np.ravel(pads)]
        if p[0] or p[1] or p[4] or p[5]:
            raise UnsupportedOperatorError(f"Pad node '{node.name}' pads batch or channels; only spatial padding is supported")
        extra = (p[2], p[3], p[6], p[7])
    else:  # pads computed at run time: split each axis' growth, the odd element at the end
        dh, dw = out[2] - x.shape[2], out[3] - x.shape[3]
        extra = (dh // 2, dw // 2, dh - dh // 2, dw - dw // 2)
    total = tuple(a + b for a, b in zip(x.pad, extra))
    state.data[node.output[0]] = Tensor(x.source, out, pad=total, fresh=False, dropped=x.dropped)


def _activation(state: GraphState, node: onnx.NodeProto, x: Tensor) -> None:
    name = ACTIVATIONS[node.op_type]
    if node.op_type == "Clip":
        lo, hi = _clip_bounds(state, node)
        if lo == 0 and hi == 6:
            name = "relu6"
        elif lo == 0 and hi is None:
            name = "relu"
    _fuse(state, node, x, name)


def _fuse(state: GraphState, node: onnx.NodeProto, x: Tensor, name: str) -> None:
    if x.source >= 0:
        layer = state.layers[x.source]
        state.layers[x.source] = replace(layer, activation=layer.activation + (name,))
    state.data[node.output[0]] = replace(x, shape=state.shape(node.output[0]), fresh=False)


def _clip_bounds(state: GraphState, node: onnx.NodeProto) -> tuple[float | None, float | None]:
    a = _attrs(node)
    if "min" in a or "max" in a:
        return a.get("min"), a.get("max")
    bounds = []
    for pos in (1, 2):
        name = node.input[pos] if len(node.input) > pos else ""
        value = state.consts.get(name) if name else None
        bounds.append(None if value is None else float(np.ravel(value)[0]))
    return bounds[0], bounds[1]


def _record_constant(state: GraphState, node: onnx.NodeProto) -> None:
    for attr in node.attribute:
        if attr.name == "value":
            state.consts[node.output[0]] = numpy_helper.to_array(attr.t)
            state.shapes[node.output[0]] = tuple(attr.t.dims)


def _padding(attrs, in_hw, out_hw, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` from explicit pads or ``auto_pad``."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for i, o, k, s, d in zip(in_hw, out_hw, kernel, stride, dilation):
            total = max((o - 1) * s + (k - 1) * d + 1 - i, 0)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    p = list(attrs.get("pads", (0, 0, 0, 0)))
    return p[0], p[1], p[2], p[3]


def _input_before_pad(x: Tensor, node: onnx.NodeProto) -> Shape3:
    if len(x.shape) != 4:
        raise FrontendError(
            f"{node.op_type} node '{node.name or node.output[0]}' takes a rank-{len(x.shape)} tensor; expected (N, C, H, W)"
        )
    t, l, b, r = x.pad
    return x.shape[1], x.shape[2] - t - b, x.shape[3] - l - r


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _chw(shape: tuple[int, ...], name: str) -> Shape3:
    """The ``(C, H, W)`` of a batch-1 tensor; vectors become ``(F, 1, 1)``."""
    if shape and shape[0] != 1:
        raise FrontendError(f"tensor '{name}' has batch {shape[0]}; export with batch 1 or a symbolic batch")
    check_tensor(name, shape)
    if len(shape) == 4:
        return shape[1], shape[2], shape[3]
    if len(shape) >= 2:
        return prod(shape[1:]), 1, 1
    raise FrontendError(f"tensor '{name}' has rank {len(shape)}; expected (N, C, H, W) or (N, F)")
