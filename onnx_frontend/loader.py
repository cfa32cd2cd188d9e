"""ONNX model -> :class:`~onnx_frontend.network.Network`.

``load_network`` checks the model, fixes a symbolic batch dimension to 1, runs shape
inference, then walks the nodes in graph order (ONNX requires topological order) and
maps each one through :mod:`onnx_frontend.ops`. Tensors are tracked as *data* (derived
from the network input: they carry activations) or *constant* (initializers, weights
declared as graph inputs, and everything computed only from those, such as the
Shape/Gather/Concat chains exporters emit before a Reshape). Nodes with only constant
inputs are constant folding and are skipped. A Conv weight computed from a smaller stored
tensor (an exported epitome layer) is read by :mod:`onnx_frontend.epitome_chain`.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import shape_inference

from onnx_frontend.epitome_chain import CHAIN_OPS, chain_tensors, epitome_weights, weight_inputs
from onnx_frontend.errors import FrontendError
from onnx_frontend.folding import fold_shape_constants
from onnx_frontend.network import Network
from onnx_frontend.ops import GraphState, map_node

# Rounds of (shape inference, constant folding) before unknown shapes are an error.
_FOLD_ROUNDS = 6

# Operator inputs that hold parameters, by position; a graph input used only there
# is a weight of a structure-only model, not a data input.
_PARAM_POSITIONS = {
    "Conv": {1, 2},
    "ConvTranspose": {1, 2},
    "Gemm": {1, 2},
    "MatMul": {1},
    "BatchNormalization": {1, 2, 3, 4},
    "InstanceNormalization": {1, 2},
    "Clip": {1, 2},
    "Reshape": {1},
    "PRelu": {1},
    "LSTM": {1, 2, 3, 5, 6},
    "GRU": {1, 2, 3, 5},
    "RNN": {1, 2, 3, 5},
}


def load_network(model: str | os.PathLike | onnx.ModelProto, name: str | None = None) -> Network:
    """Load an ONNX CNN as a layer graph.

    Args:
        model: a path to an ``.onnx`` file or an in-memory ``ModelProto``.
        name: the network's name; defaults to the file stem or the graph name.

    Raises:
        FrontendError: the file is missing, truncated or not ONNX, fails the checker,
            has a non-static shape, or uses an unsupported operator (one-line message).
    """
    if isinstance(model, onnx.ModelProto):
        proto = model
        default_name = model.graph.name or "network"
    else:
        proto = read_model(Path(model))
        default_name = Path(model).stem
    proto = _prepare(proto, label=str(model) if not isinstance(model, onnx.ModelProto) else "model")
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    state = GraphState.from_graph(proto.graph, _weight_inputs(proto.graph), static_shapes(proto.graph),
                                  epitome_weights(proto.graph, opset))
    for node in proto.graph.node:
        map_node(state, node)
    return state.to_network(name or default_name)


def read_model(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise FrontendError(f"{path}: no such file; pass the path of an .onnx model")
    if path.is_dir():
        raise FrontendError(f"{path}: is a directory; pass the path of an .onnx model")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise FrontendError(
            f"{path}: not a readable ONNX model (truncated or another format: "
            f"{type(exc).__name__}); re-export it with torch.onnx.export or onnx.save"
        ) from None
    if not proto.graph.node:
        raise FrontendError(f"{path}: not an ONNX model (no graph nodes); check the file")
    return proto


def _prepare(proto: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """Check the model, set symbolic batch dimensions to 1 and infer shapes."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    initializers = {i.name for i in proto.graph.initializer}
    for inp in proto.graph.input:
        if inp.name in initializers:
            continue
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise FrontendError(f"{label}: fails the ONNX checker ({first}); re-export the model") from None
    chains = frozenset(chain_tensors(proto.graph))
    for _ in range(_FOLD_ROUNDS):
        try:
            proto = shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FrontendError(
                f"{label}: ONNX shape inference failed ({first}); re-export the model with static shapes"
            ) from None
        shapes = static_shapes(proto.graph)
        produced = [o for n in proto.graph.node for o in n.output if o]
        if all(shapes.get(o) is not None for o in produced):
            break
        if not fold_shape_constants(proto, shapes, keep=chains):
            break
    return proto


def static_shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, ...] | None]:
    """Name -> static dims of every tensor the graph declares (``None`` if not static)."""
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[vi.name] = _static_dims(vi)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _static_dims(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(d.dim_value)
    return tuple(dims)


def _weight_inputs(graph: onnx.GraphProto) -> set[str]:
    """Graph inputs (not initializers) that are only ever used as operator parameters.

    Uses through ``Identity`` nodes count as uses of their input (exporters route
    de-duplicated weights through Identity), and so do uses through the weight path of
    an epitome chain (:data:`~onnx_frontend.epitome_chain.CHAIN_OPS`) that ends in them.
    """
    initializers = {i.name for i in graph.initializer}
    candidates = {i.name for i in graph.input if i.name not in initializers}
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for pos, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, pos))

    def positions(name: str, seen: frozenset = frozenset()) -> list[tuple[onnx.NodeProto, int]]:
        out = []
        for node, pos in uses.get(name, []):
            if node.op_type in CHAIN_OPS and weight_inputs(node, pos) and node.output[0] not in seen:
                out += positions(node.output[0], seen | {node.output[0]})
            else:
                out.append((node, pos))
        return out

    weights = set()
    for name in candidates:
        used = positions(name)
        if used and all(pos in _PARAM_POSITIONS.get(node.op_type, ()) for node, pos in used):
            weights.add(name)
        elif used and _is_small_param(graph, name) and all(
            node.op_type in ("Add", "Mul", "Sub", "Div") for node, _ in used
        ):
            # a bias or scale vector of a binary op (MatMul + Add): a weight
            weights.add(name)
    return weights


def _is_small_param(graph: onnx.GraphProto, name: str) -> bool:
    """A declared input of rank <= 1 (a bias or scale vector) is a parameter."""
    for inp in graph.input:
        if inp.name == name:
            return len(inp.type.tensor_type.shape.dim) <= 1
    return False
