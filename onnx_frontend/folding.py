"""Constant folding of shape computations, so shape inference can finish.

Exporters compute Reshape targets at run time (``Shape -> Gather -> Unsqueeze -> Concat``).
ONNX's data propagation covers some opsets of these operators only; where it leaves a
shape unknown, this module evaluates the small constant subgraph itself: ``Shape`` of a
tensor with a static shape becomes a constant, and nodes whose inputs are all known
small constants are run with ONNX's reference implementation and replaced by
initializers. The caller then runs shape inference again.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

# Never evaluate anything bigger: folding is for shape vectors, not weights.
MAX_FOLD_ELEMENTS = 4096


def fold_shape_constants(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...] | None],
                         keep: frozenset[str] = frozenset()) -> bool:
    """Fold what can be folded in place; return whether anything changed.

    Args:
        model: the model, modified in place.
        shapes: static shapes known so far (name -> dims, ``None`` when unknown).
        keep: tensors never folded (epitome weight chains, which the loader reads).
    """
    graph = model.graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer if _small(i.dims)}
    folded: dict[str, np.ndarray] = {}
    kept: list[onnx.NodeProto] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    for node in graph.node:
        result = None if keep.intersection(node.output) else _try_fold(node, values, shapes, opset)
        if result is None:
            kept.append(node)
            continue
        for name, arr in zip(node.output, result):
            values[name] = folded[name] = arr
    if not folded:
        return False
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(a, n) for n, a in folded.items())
    stale = set(folded)
    kept_vi = [v for v in graph.value_info if v.name not in stale]
    del graph.value_info[:]
    graph.value_info.extend(kept_vi)
    return True


def _try_fold(node, values, shapes, opset) -> list[np.ndarray] | None:
    inputs = [n for n in node.input if n]
    if node.op_type == "Shape":
        dims = shapes.get(node.input[0])
        if dims is None:
            return None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        start, end = attrs.get("start", 0), attrs.get("end", len(dims))
        return [np.array(dims, dtype=np.int64)[start:end]]
    if not all(n in values for n in inputs) or (not inputs and node.op_type != "Constant"):
        return None
    if node.domain not in ("", "ai.onnx"):
        return None
    try:
        evaluator = ReferenceEvaluator(_single_node_model(node, values, opset))
        outputs = evaluator.run(None, {n: values[n] for n in dict.fromkeys(inputs)})
    except Exception:
        return None
    if not all(_small(np.shape(o)) for o in outputs):
        return None
    return [np.asarray(o) for o in outputs]


def _single_node_model(node, values, opset) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(values[n].dtype), values[n].shape)
           for n in dict.fromkeys(x for x in node.input if x)]
    outs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _small(dims) -> bool:
    return int(np.prod(dims)) <= MAX_FOLD_ELEMENTS if len(dims) else True
