"""Conv weights sampled from an epitome in the ONNX graph (an exported epitome layer).

An exporter writes an epitome conv as a Conv whose weight input is not stored but
computed from a smaller stored tensor (an initializer, or a graph input of a
structure-only model) by a chain of :data:`CHAIN_OPS`. :func:`chain_tensors` names the
tensors on such chains (so shape folding leaves them alone) and :func:`epitome_weights`
reads each chain: the stored source's shape ``(out, in, P, Q)`` becomes the layer's
:class:`~onnx_frontend.epitome.Epitome`, and, when the source holds data, the chain is
evaluated (ONNX's numpy reference implementation) to the full kernel
``(C_out, C_in / groups, kh, kw)`` whose zeros the loader measures.

A chain counts only if it contains a sampling operator (:data:`SAMPLING_OPS`): weights
routed through Identity or Reshape alone stay plain weights, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from onnx_frontend.epitome import Epitome
from onnx_frontend.errors import FrontendError

#: Operators an epitome chain may use, with the input positions carrying weights
#: (``None``: every input); their other inputs are index or shape vectors.
CHAIN_OPS: dict[str, tuple[int, ...] | None] = {
    "Gather": (0,),
    "Slice": (0,),
    "Tile": (0,),
    "Reshape": (0,),
    "Identity": (0,),
    "Concat": None,
}
#: Chain operators that sample (rather than alias) the stored tensor.
SAMPLING_OPS = frozenset({"Gather", "Slice", "Concat", "Tile"})


@dataclass(frozen=True)
class ComputedWeight:
    """A Conv weight computed from a stored epitome tensor.

    Attributes:
        source: name of the stored tensor (initializer or graph input).
        epitome: its shape ``(out, in, P, Q)``.
        kernel: the full kernel ``(C_out, C_in / groups, kh, kw)`` the chain computes from
            the source's data, or ``None`` when the source has none (structure-only).
    """

    source: str
    epitome: Epitome
    kernel: np.ndarray | None


def weight_inputs(node: onnx.NodeProto, pos: int) -> bool:
    """Whether input ``pos`` of chain node ``node`` carries weights along the chain."""
    positions = CHAIN_OPS.get(node.op_type, ())
    return positions is None or pos in positions


def chain_tensors(graph: onnx.GraphProto) -> set[str]:
    """Names of the tensors on the weight path of every Conv weight computed by a chain
    of :data:`CHAIN_OPS` with a sampling operator (its stored source excluded)."""
    names: set[str] = set()
    producers, stored = _index(graph)
    for node in graph.node:
        found = _trace(node, producers, stored)
        if found is not None:
            names |= found[1]
    return names


def epitome_weights(graph: onnx.GraphProto, opset: int) -> dict[str, ComputedWeight]:
    """Conv weight name -> :class:`ComputedWeight` for every epitome chain of ``graph``.

    Raises:
        FrontendError: a chain reads more than one stored tensor, its source is not 4-D,
            or the source cannot store the conv's kernel (one line each).
    """
    inits = {i.name: i for i in graph.initializer}
    producers, stored = _index(graph)
    out: dict[str, ComputedWeight] = {}
    for node in graph.node:
        found = _trace(node, producers, stored)
        if found is None:
            continue
        sources = found[0]
        label = f"Conv node '{node.name or node.output[0]}'"
        if len(sources) != 1:
            raise FrontendError(f"{label}: its weight is sampled from {len(sources)} stored tensors "
                                f"({', '.join(sorted(sources))}); pimtune reads an epitome from one tensor")
        source = sources.pop()
        shape = _declared_shape(graph, source)
        if len(shape) != 4:
            raise FrontendError(f"{label}: its weight is sampled from '{source}' of shape {list(shape)}; "
                                "pimtune reads an epitome as a 4-D (out, in, P, Q) tensor: store it with that shape")
        epitome = Epitome(*shape)
        kernel = None
        init = inits.get(source)
        if init is not None and init.data_location != onnx.TensorProto.EXTERNAL:
            kernel = _evaluate(graph, node.input[1], opset, label)
        out[node.input[1]] = ComputedWeight(source, epitome, kernel)
    return out


def check_fit(label: str, weight: ComputedWeight, c_out: int, c_in_group: int, kernel: tuple[int, int]) -> None:
    """FrontendError (one line) when ``weight``'s epitome cannot store the conv's kernel."""
    problem = weight.epitome.misfit(c_out, c_in_group, kernel)
    if problem:
        raise FrontendError(f"{label}: its weight is sampled from '{weight.source}': {problem} (re-export the model)")


def _index(graph: onnx.GraphProto) -> tuple[dict[str, onnx.NodeProto], set[str]]:
    """Tensor name -> the node producing it, and the names of the stored tensors."""
    producers = {o: n for n in graph.node for o in n.output if o}
    return producers, {i.name for i in graph.initializer} | {i.name for i in graph.input}


def _trace(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto],
           stored: set[str]) -> tuple[set[str], set[str]] | None:
    """``(stored sources, chain tensors)`` of ``node``'s weight if it is a Conv whose weight
    an epitome chain computes, else None."""
    if node.op_type != "Conv" or len(node.input) < 2:
        return None
    sources: set[str] = set()
    path: set[str] = set()
    ops: set[str] = set()
    todo = [node.input[1]]
    while todo:
        name = todo.pop()
        if name in stored:
            sources.add(name)
            continue
        if name in path:
            continue
        prod = producers.get(name)
        if prod is None or prod.op_type not in CHAIN_OPS:
            return None
        path.add(name)
        ops.add(prod.op_type)
        todo += [n for pos, n in enumerate(prod.input) if n and weight_inputs(prod, pos)]
    if not ops & SAMPLING_OPS:
        return None
    return sources, path


def _declared_shape(graph: onnx.GraphProto, name: str) -> tuple[int, ...]:
    for init in graph.initializer:
        if init.name == name:
            return tuple(init.dims)
    for inp in graph.input:
        if inp.name == name:
            dims = inp.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                return tuple(d.dim_value for d in dims)
    raise FrontendError(f"epitome tensor '{name}' has no static shape; declare it with fixed dimensions")


def _evaluate(graph: onnx.GraphProto, name: str, opset: int, label: str) -> np.ndarray:
    """The value of ``name``, computed from the initializers by the nodes it depends on."""
    producers = {o: n for n in graph.node for o in n.output if o}
    inits = {i.name: i for i in graph.initializer}
    needed: set[int] = set()
    todo = [name]
    while todo:
        t = todo.pop()
        prod = producers.get(t)
        if t in inits or prod is None or id(prod) in needed:
            continue
        needed.add(id(prod))
        todo += [n for n in prod.input if n]
    nodes = [n for n in graph.node if id(n) in needed]
    used = {n for node in nodes for n in node.input}
    sub = helper.make_graph(nodes, "epitome", [], [helper.make_empty_tensor_value_info(name)],
                            initializer=[inits[n] for n in used if n in inits])
    model = helper.make_model(sub, opset_imports=[helper.make_opsetid("", opset)])
    try:
        (value,) = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:                                    # the reference raises anything
        raise FrontendError(f"{label}: cannot evaluate its weight chain ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); check the chain's operators") from None
    return np.asarray(value)
