"""The layer graph every other part of pimtune consumes.

A :class:`Network` is a DAG of :class:`Layer` objects in topological order. Only the
layers that cost something on a PIM accelerator appear: ``conv`` and ``fc`` (mapped onto
crossbars), ``pool``, ``eltwise`` (residual adds) and ``concat`` (run on vector units or
as pure data movement). Activations and batch normalisation are fused into the layer that
produces their input; shape-only operators disappear.

Shapes are ``(C, H, W)`` of one inference (batch 1). A fully connected layer has the shape
``(features, 1, 1)`` on both sides, whatever its input tensor looked like before flattening.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from math import prod
from typing import Literal

from onnx_frontend.epitome import Epitome

LayerKind = Literal["conv", "fc", "pool", "eltwise", "concat"]
LAYER_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "eltwise", "concat")
Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class Layer:
    """One costed layer.

    Attributes:
        index: position in :attr:`Network.layers` (topological order).
        name: the ONNX node name (or its output tensor name when the node has none).
        kind: one of :data:`LAYER_KINDS`.
        in_shapes: ``(C, H, W)`` of every data input, one per producer edge, in the
            order of the ONNX node's inputs (the network input counts as an edge).
        out_shape: ``(C, H, W)`` of the output.
        kernel: ``(kh, kw)``; ``(1, 1)`` for fc, eltwise and concat.
        stride: ``(sh, sw)``.
        padding: ``(top, left, bottom, right)``.
        dilation: ``(dh, dw)``.
        groups: convolution groups (``C_in`` for depthwise); 1 otherwise.
        weights: number of weight values (no bias), 0 for weightless layers.
        bias: number of bias values.
        macs: multiply-accumulates of one inference (conv and fc only, else 0).
        activation: fused activations in application order, e.g. ``("relu",)``.
        producers: indices of the layers feeding each entry of ``in_shapes``;
            ``-1`` marks the network input.
        pool_type: ``"max"`` or ``"avg"`` for pool layers, else ``None``.
        epitome: the stored :class:`~onnx_frontend.epitome.Epitome` of a conv layer whose
            kernel is sampled from one, else ``None`` (dense).
        weight_bits, activation_bits: this layer's precision (a plan file's per-network
            override), else ``None``: the technology's.
        The last three are out of the repr; :meth:`Network.fingerprint` adds them for the
        layers that set one, so a dense network's fingerprint is what it always was.
    """

    index: int
    name: str
    kind: LayerKind
    in_shapes: tuple[Shape3, ...]
    out_shape: Shape3
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weights: int = 0
    bias: int = 0
    macs: int = 0
    activation: tuple[str, ...] = ()
    producers: tuple[int, ...] = ()
    pool_type: str | None = None
    epitome: Epitome | None = field(default=None, repr=False)
    weight_bits: int | None = field(default=None, repr=False)
    activation_bits: int | None = field(default=None, repr=False)

    @property
    def in_shape(self) -> Shape3:
        """``(C, H, W)`` of the first data input."""
        return self.in_shapes[0]

    @property
    def in_channels(self) -> int:
        """Input channels; for concat the sum over its inputs."""
        if self.kind == "concat":
            return sum(s[0] for s in self.in_shapes)
        return self.in_shapes[0][0]

    @property
    def out_channels(self) -> int:
        return self.out_shape[0]

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.out_shape[1], self.out_shape[2]

    @property
    def out_pixels(self) -> int:
        """``H_out * W_out``: output positions, i.e. computation blocks at duplication 1."""
        return self.out_shape[1] * self.out_shape[2]

    @property
    def is_weighted(self) -> bool:
        """True for layers whose weights live in crossbars (conv and fc)."""
        return self.kind in ("conv", "fc")

    @property
    def matrix_rows(self) -> int:
        """Rows of the unrolled weight matrix of one group: ``kh * kw * C_in / groups``."""
        if not self.is_weighted:
            return 0
        return self.kernel[0] * self.kernel[1] * (self.in_shape[0] // self.groups)

    @property
    def matrix_cols(self) -> int:
        """Columns of the unrolled weight matrix of one group: ``C_out / groups``."""
        if not self.is_weighted:
            return 0
        return self.out_shape[0] // self.groups

    @property
    def params(self) -> int:
        return self.weights + self.bias

    @property
    def stored_weights(self) -> int:
        """Weight values the layer stores: its epitome's size, else :attr:`weights`."""
        return self.epitome.stored_weights if self.epitome is not None else self.weights


@dataclass(frozen=True)
class Network:
    """A network as a DAG of layers in topological order.

    Attributes:
        name: the model's graph name (or file stem).
        input_shape: ``(C, H, W)`` of the network input.
        layers: the layers; ``layers[i].index == i`` and producers precede consumers.
        weight_densities: per layer, the zeros of its weights measured from the model's data
            (:class:`~onnx_frontend.weight_density.WeightDensity`), or None (weightless
            layers, structure-only models); empty when not measured. Not part of the
            fingerprint: the layer graph is.
        input_tensors: per layer, the ONNX tensor a weighted layer reads (its activations,
            after any fused activation), None for the others.
    """

    name: str
    input_shape: Shape3
    layers: tuple[Layer, ...]
    weight_densities: tuple = field(default=(), compare=False, repr=False)
    input_tensors: tuple = field(default=(), compare=False, repr=False)
    consumers: tuple[tuple[int, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cons: list[list[int]] = [[] for _ in self.layers]
        for layer in self.layers:
            for p in layer.producers:
                if p >= 0 and layer.index not in cons[p]:
                    cons[p].append(layer.index)
        object.__setattr__(self, "consumers", tuple(tuple(c) for c in cons))

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    @property
    def weighted_layers(self) -> tuple[Layer, ...]:
        return tuple(l for l in self.layers if l.is_weighted)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    def count(self, kind: str) -> int:
        return sum(1 for l in self.layers if l.kind == kind)

    def totals(self) -> dict[str, int]:
        """``{"macs", "conv_layers", "fc_layers", "params"}`` of the whole network."""
        return {
            "macs": self.macs,
            "conv_layers": self.count("conv"),
            "fc_layers": self.count("fc"),
            "params": self.params,
        }

    def fingerprint(self) -> str:
        """16 hex digits identifying the layer graph (shapes, kernels, connections), not
        its name: a stored study checks it to refuse another network under the same name."""
        text = repr((self.input_shape, tuple(dataclasses.replace(l, name="") for l in self.layers)))
        mapped = [(l.index, l.epitome, l.weight_bits, l.activation_bits) for l in self.layers
                  if (l.epitome, l.weight_bits, l.activation_bits) != (None, None, None)]
        if mapped:                                      # epitomes and precision change the cost
            text += repr(mapped)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def outputs(self) -> tuple[int, ...]:
        """Indices of layers no other layer consumes (the network outputs)."""
        return tuple(i for i, c in enumerate(self.consumers) if not c)

    def summary_rows(self) -> list[dict]:
        """One dict per layer with the fields of ``pimtune inspect --json``."""
        return [
            {
                "name": l.name,
                "kind": l.kind,
                "in_channels": l.in_channels,
                "out_channels": l.out_channels,
                "kernel": list(l.kernel),
                "stride": list(l.stride),
                "groups": l.groups,
                "out_hw": list(l.out_hw),
                "macs": l.macs,
                **self._density_fields(l.index),
                "stored_weights": l.stored_weights,
                "epitome": l.epitome.as_dict() if l.epitome is not None else None,
            }
            for l in self.layers
        ]

    def _density_fields(self, i: int) -> dict:
        """``weight_density``, ``zero_rows``, ``zero_cols`` of layer ``i`` (None where not measured)."""
        d = self.weight_densities[i] if i < len(self.weight_densities) else None
        if d is None:
            return {"weight_density": None, "zero_rows": None, "zero_cols": None}
        return {"weight_density": d.density, "zero_rows": d.zero_rows, "zero_cols": d.zero_cols}


def elements(shape: Shape3) -> int:
    """Number of values in a ``(C, H, W)`` tensor."""
    return prod(shape)
