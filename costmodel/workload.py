"""What a network asks of the hardware, independent of any design (MODEL.md sections 2-3).

:class:`Workload` holds per-layer numpy arrays (length La over all layers; weighted
layers also have a position ``w`` among conv/fc layers) and per-crossbar-size geometry
(row groups, column groups, rows driven, columns read). It is computed once per
(network, technology) and shared by every batch evaluated on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from costmodel.epitome.mapping import LayerDims, Stored, epitome_array, matrix_geometry, sram_pack, stored
from costmodel.identity_cache import IdentityCache
from costmodel.technology import Technology, require_network_family
from onnx_frontend.network import Layer, Network

SIGMOID_LIKE = {"sigmoid", "tanh", "swish", "hardswish", "hardsigmoid", "gelu", "mish", "softplus", "elu", "selu"}


@dataclass(frozen=True)
class Workload:
    """Per-layer arrays (index = layer index unless noted). Element counts are values,
    bits are bits; nothing here depends on a design.

    Attributes:
        weighted: (La,) bool, conv or fc.
        is_fc: (La,) bool.
        widx: (La,) position among weighted layers, -1 for weightless layers.
        layer_of_w: (L,) layer index of each weighted layer.
        anchor_w: (La,) weighted position whose macro set runs the layer.
        out_pixels: (La,) H_out * W_out.
        rows_out: (La,) H_out.
        cout: (La,) output channels.
        out_values: (La,) values of the layer's output tensor (C x H x W).
        macs: (La,) multiply-accumulates.
        weights: (La,) weight values the arrays hold (sparsity: of the kept rows and
            columns; an epitome layer: its epitome's).
        load_values: (La,) values loaded per copy-step (conv: kh*kw*C_in; fc: C_in;
            row layers: kh*W_in*C_in summed over inputs).
        new_values: (La,) values arriving over the NoC per copy-step.
        store_values: (La,) values stored per copy-step (conv/fc: C_out; row: W_out*C_out).
        unit_elems: (La,) pool/eltwise elements per step.
        unit_kind: (La,) 0 none, 1 pool, 2 eltwise.
        act_kind: (La,) 0 none, 1 activation unit, 2 sigmoid unit.
        buffer_bits: (La,) scratchpad need excluding the duplicated output buffer.
        row_groups, col_groups, rows_total, cols_read, add_values: (n_sizes, L)
            geometry per crossbar size (``tech.xbar_sizes`` order), weighted layers.
        producers: per layer the producer indices (-1: network input).
        row_stride, row_offset: (La,) producer row needed by output row y is
            ``min(H_in - 1, max(0, y * row_stride + row_offset))``; fc layers need
            every row (``row_stride = -1``).
        edge_layer, edge_producer, edge_fanin: (E,) every producer edge: consumer,
            producer (-1: network input) and the consumer's number of inputs.
        first_edge: (La,) index of each layer's first edge.
        anchor_group: (La, L) float32 0/1, layer -> the weighted layer whose macros run it.
        cross_edges: (X,) the edges that can cross macro sets (from the network input or
            from a layer another weighted layer's group runs), in edge order.
        cross_layers, cross_starts: (Lx,) the layers with such edges and the position in
            ``cross_edges`` of each one's first.
        cross_more: ``(position in cross_edges, index in cross_layers)`` of every further
            cross edge of a layer.
        port_group: (La, L + 1) float32 0/1, layer -> the natural group of its first
            producer (the sender of its input), column L for the network input.
        components_used: the peripheral components (``COMPONENTS``) with work in some
            layer at some crossbar size.
        dims: the weighted layers' full shapes (:class:`~costmodel.epitome.mapping.LayerDims`).
        epitomes: (L, 4) each weighted layer's own epitome ``(out, in, p, q)``, zeros: dense.
        stored: (L,) what one copy of each weighted layer stores, with its own epitome and
            precision (:class:`~costmodel.epitome.mapping.Stored`); the geometry above is its.
        weight_bits: (L,) weight precision of each weighted layer (its own, or the
            technology's).
        activation_bits: (La,) activation precision of each layer (likewise).
    """

    weighted: np.ndarray
    is_fc: np.ndarray
    widx: np.ndarray
    layer_of_w: np.ndarray
    anchor_w: np.ndarray
    out_pixels: np.ndarray
    rows_out: np.ndarray
    out_width: np.ndarray
    cout: np.ndarray
    out_values: np.ndarray
    macs: np.ndarray
    weights: np.ndarray
    load_values: np.ndarray
    new_values: np.ndarray
    store_values: np.ndarray
    unit_elems: np.ndarray
    unit_kind: np.ndarray
    act_kind: np.ndarray
    buffer_bits: np.ndarray
    row_groups: np.ndarray
    col_groups: np.ndarray
    rows_total: np.ndarray
    cols_read: np.ndarray
    add_values: np.ndarray
    producers: tuple[tuple[int, ...], ...]
    row_stride: np.ndarray
    row_offset: np.ndarray
    edge_layer: np.ndarray
    edge_producer: np.ndarray
    edge_fanin: np.ndarray
    first_edge: np.ndarray
    anchor_group: np.ndarray
    cross_edges: np.ndarray
    cross_layers: np.ndarray
    cross_starts: np.ndarray
    cross_more: tuple[tuple[int, int], ...]
    port_group: np.ndarray
    components_used: frozenset[str]
    total_macs: int
    dims: LayerDims
    epitomes: np.ndarray
    stored: Stored
    weight_bits: np.ndarray
    activation_bits: np.ndarray

    @property
    def n_layers(self) -> int:
        return len(self.weighted)

    @property
    def n_weighted(self) -> int:
        return len(self.layer_of_w)


def crossbar_geometry(layer: Layer, size: int, cols: int | None = None,
                      kept: tuple[int, int] | None = None) -> tuple[int, int, int, int, int]:
    """``(row_groups, col_groups, rows_total, cols_read, add_values)`` of one dense copy
    of ``layer`` on arrays of ``size`` rows and ``cols`` columns (default: square)
    (:func:`~costmodel.epitome.mapping.matrix_geometry`). ``kept``: the ``(rows, cols)``
    of each group's matrix that hold a non-zero weight (:func:`kept_matrix`; default: all
    of them)."""
    rows_g, cols_g = kept or (layer.matrix_rows, layer.matrix_cols)
    return tuple(int(v) for v in matrix_geometry(rows_g, cols_g, layer.groups, size, size if cols is None else cols))


def kept_matrix(layer: Layer, zero_rows: float, zero_cols: float) -> tuple[int, int]:
    """``(rows, cols)`` of one group's unrolled matrix that hold a non-zero weight, given the
    shares of all-zero rows and columns (structured zeros need no array: MODEL.md 10); at
    least one of each."""
    rows, cols = layer.matrix_rows, layer.matrix_cols
    return max(rows - round(zero_rows * rows), 1), max(cols - round(zero_cols * cols), 1)


def _row_rule(layer: Layer) -> tuple[int, int]:
    """``(row_stride, row_offset)`` of the producer rows an output row needs."""
    if layer.kind == "fc":
        return -1, 0
    if layer.kind in ("conv", "pool"):
        return layer.stride[0], (layer.kernel[0] - 1) * layer.dilation[0] - layer.padding[0]
    return 1, 0


def needed_producer_step(wl: "Workload", layer, producer, out_row, producer_per_step):
    """Last step of ``producer`` that output row ``out_row`` of ``layer`` waits for.

    ``layer`` and ``producer`` are layer indices (scalars or one per edge); ``out_row``
    and ``producer_per_step`` (the producer's output pixels per step: its duplication,
    ignored for row layers and fc producers) broadcast against them. Float arithmetic,
    exact for counts below 2^24 (MODEL.md section 3).
    """
    stride, offset = wl.row_stride[layer], wl.row_offset[layer]
    p_rows, p_width = wl.rows_out[producer].astype(float), wl.out_width[producer]
    row = np.clip(np.asarray(out_row) * np.maximum(stride, 0) + offset, 0, p_rows - 1)
    row = np.where(stride < 0, p_rows - 1, row)
    by_pixels = np.ceil((row + 1) * p_width / np.asarray(producer_per_step)) - 1
    weighted_p = wl.weighted[producer] & ~wl.is_fc[producer]
    return np.where(weighted_p, by_pixels, np.where(wl.is_fc[producer], 0, row))


def _anchors(network: Network, widx: list[int]) -> list[int]:
    first_w = next((w for w in widx if w >= 0), 0)
    anchor: list[int] = []
    for layer in network.layers:
        if widx[layer.index] >= 0:
            anchor.append(widx[layer.index])
            continue
        ps = [p for p in layer.producers if p >= 0]
        anchor.append(anchor[ps[0]] if ps else first_w)
    return anchor


def build_workload(network: Network, tech: Technology, densities=None) -> Workload:
    """The :class:`Workload` of ``network`` for the sizes ``tech`` offers (cached). With
    :class:`~costmodel.sparsity.densities.Densities`, the arrays hold only the rows and
    columns of each weight matrix with a non-zero weight (MODEL.md section 10)."""
    return _WORKLOADS(network, tech, densities)


def _build(network: Network, tech: Technology, densities=None) -> Workload:
    tech = require_network_family(tech)
    layers = network.layers
    widx, w = [], 0
    for l in layers:
        widx.append(w if l.is_weighted else -1)
        w += l.is_weighted
    weighted_layers = [l for l in layers if l.is_weighted]
    kept = [None if densities is None else kept_matrix(l, densities.zero_rows[j], densities.zero_cols[j])
            for j, l in enumerate(weighted_layers)]
    dims = LayerDims.of(weighted_layers, kept)
    tech_bits = tech.precision.weight_bits
    weight_bits = np.array([l.weight_bits or tech_bits for l in weighted_layers], dtype=np.int64)
    act_bits = np.array([l.activation_bits or tech.precision.activation_bits for l in layers], dtype=np.int64)
    sram = tech.sram is not None
    epitomes = epitome_array(weighted_layers)
    own = stored(dims, epitomes, sram_pack(weight_bits, tech.cell_bits_options[0], sram))
    sizes, cols = (np.array(v, dtype=np.int64)[:, None] for v in (tech.xbar_sizes, tech.array_cols))
    geo = np.stack(np.broadcast_arrays(*matrix_geometry(own.rows_g, own.cols_g, own.groups, sizes, cols)), -1)

    def per_layer(fn, dtype=np.int64):
        return np.array([fn(l) for l in layers], dtype=dtype)

    def input_values(l: Layer, window: tuple[int, int]) -> int:
        """Input values of one copy-step over ``window`` (kernel: all it reads; stride: new)."""
        if l.kind == "conv":
            return window[0] * window[1] * l.in_shape[0]
        if l.kind == "fc":
            return l.in_shape[0]
        rows = window[0] if l.kind == "pool" else 1
        return sum(rows * s[2] * s[0] for s in l.in_shapes)

    def unit_elems(l: Layer) -> int:
        if l.kind == "pool":
            return l.out_shape[2] * l.out_shape[0] * l.kernel[0] * l.kernel[1]
        if l.kind == "eltwise":
            return l.out_shape[2] * l.out_shape[0] * (len(l.in_shapes) - 1)
        return 0

    def act_kind(l: Layer) -> int:
        if not l.activation:
            return 0
        return 2 if any(a in SIGMOID_LIKE for a in l.activation) else 1

    def buffer_values(l: Layer) -> int:
        if l.kind in ("conv", "pool"):
            return l.kernel[0] * l.in_shape[2] * l.in_shape[0]
        if l.kind == "fc":
            return l.in_shape[0]
        return sum(s[2] * s[0] for s in l.in_shapes) + l.out_shape[2] * l.out_shape[0]

    row_layer = lambda l: not l.is_weighted  # noqa: E731
    anchors = _anchors(network, widx)
    edge_layer = np.array([l.index for l in layers for _ in l.producers], dtype=np.int64)
    edge_producer = np.array([p for l in layers for p in l.producers], dtype=np.int64)
    cross = np.flatnonzero((edge_producer < 0) | (np.take(anchors, edge_layer) != np.take(anchors, edge_producer)))
    cross_layers, cross_starts, cross_index = np.unique(edge_layer[cross], return_index=True, return_inverse=True)
    cross_more = tuple((e, int(j)) for e, j in enumerate(cross_index) if e != cross_starts[j])
    sender = [anchors[l.producers[0]] if l.producers[0] >= 0 else w for l in layers]
    unit_kind = per_layer(lambda l: {"pool": 1, "eltwise": 2}.get(l.kind, 0))
    act = per_layer(act_kind)
    used = {"adc": w > 0, "shift_add": w > 0, "addition": bool((geo[..., 4] > 0).any() or (own.extra_adds > 0).any()),
            "activation": bool((act == 1).any()), "sigmoid": bool((act == 2).any()),
            "pool": bool((unit_kind == 1).any()), "eltwise": bool((unit_kind == 2).any())}
    return Workload(
        weighted=per_layer(lambda l: l.is_weighted, bool),
        is_fc=per_layer(lambda l: l.kind == "fc", bool),
        widx=np.array(widx, dtype=np.int64),
        layer_of_w=np.array([l.index for l in weighted_layers], dtype=np.int64),
        anchor_w=np.array(_anchors(network, widx), dtype=np.int64),
        out_pixels=per_layer(lambda l: l.out_pixels),
        rows_out=per_layer(lambda l: l.out_shape[1]),
        out_width=per_layer(lambda l: l.out_shape[2]),
        cout=per_layer(lambda l: l.out_shape[0]),
        out_values=per_layer(lambda l: int(np.prod(l.out_shape))),
        macs=per_layer(lambda l: l.macs),
        weights=per_layer(lambda l: int(own.weights[widx[l.index]]) if l.is_weighted else 0),
        load_values=per_layer(lambda l: input_values(l, l.kernel)),
        new_values=per_layer(lambda l: input_values(l, l.stride)),
        store_values=per_layer(lambda l: l.out_shape[0] * (l.out_shape[2] if row_layer(l) else 1)),
        unit_elems=per_layer(unit_elems),
        unit_kind=unit_kind,
        act_kind=act,
        buffer_bits=per_layer(buffer_values) * act_bits,
        row_groups=geo[..., 0],
        col_groups=geo[..., 1],
        rows_total=geo[..., 2],
        cols_read=geo[..., 3],
        add_values=geo[..., 4],
        producers=tuple(l.producers for l in layers),
        row_stride=per_layer(lambda l: _row_rule(l)[0]),
        row_offset=per_layer(lambda l: _row_rule(l)[1]),
        edge_layer=edge_layer,
        edge_producer=edge_producer,
        edge_fanin=np.array([len(l.producers) for l in layers for _ in l.producers], dtype=np.int64),
        anchor_group=np.eye(w, dtype=np.float32)[anchors],
        cross_edges=cross,
        cross_layers=cross_layers,
        cross_starts=cross_starts,
        cross_more=cross_more,
        port_group=np.eye(w + 1, dtype=np.float32)[sender],
        components_used=frozenset(c for c, on in used.items() if on),
        first_edge=np.cumsum([0] + [len(l.producers) for l in layers[:-1]]).astype(np.int64),
        total_macs=network.macs,
        dims=dims,
        epitomes=epitomes,
        stored=own,
        weight_bits=weight_bits,
        activation_bits=act_bits,
    )


_WORKLOADS: IdentityCache[Workload] = IdentityCache(_build, 64)
