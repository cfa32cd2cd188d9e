"""What one copy of each weighted layer stores and how it computes: its full kernel or its
epitome, at its weight precision (MODEL.md sections 2 and 11). Vectorised: every function
takes ``(L,)`` arrays (a network's own configuration) or ``(N, L)`` arrays (per design).

A dense layer's copy holds its unrolled matrix, ``kh*kw*C_in/g`` rows by ``C_out/g``
columns per group. An epitome ``out x in x p x q`` (``in`` per group) of a conv layer
``C_out x C_in/g x kh x kw`` holds instead, per stored group, ``in*p*q`` rows by
``min(out, C_out/g)`` columns, in ``ceil(out / min(out, C_out/g))`` stored groups (a
depthwise layer's ``out`` channels are ``out`` groups of one column). An output pixel then
takes ``passes = in_blocks * out_blocks`` crossbar passes:

- ``in_blocks = ceil((C_in/g) / in)``: the input channels in blocks of ``in``; each pass
  drives the ``in*kh*kw`` rows of its block's window (the last block fewer channels);
  their partial sums add up in the output registers, ``(in_blocks - 1) * C_out`` additions
  per output pixel;
- ``out_blocks = ceil(C_out / out)``: output-channel wrapping; each block reuses the same
  columns with another routing of the inputs, and converts the columns that serve one of
  its channels (the last block fewer).

The channels of an output block fill the stored groups in order, ``min(out, C_out/g)``
per group, ``pack`` per physical column (:func:`block_columns`): a pass converts the
columns that hold one of its channels (in every row piece), drives the rows of its input
block in every array of the copy, and multiplies ``in_a * kh * kw`` weights per output
channel of its block. On average over its passes, a pass drives ``drive_share`` of the
copy's rows, converts ``convert_share`` of its columns and multiplies ``products``
weights; :mod:`costmodel.epitome.passes` counts each pass. SRAM arrays hold whole weights
in a column of ``cell_bits`` cells: a layer at ``weight_bits < cell_bits`` packs
``pack = cell_bits // weight_bits`` output channels into one column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onnx_frontend.network import Layer

NO_EPITOME = (0, 0, 0, 0)


def ceil_div(a, b):
    """Elementwise ``ceil(a / b)`` of non-negative integer arrays."""
    return -(-np.asarray(a) // np.asarray(b))


@dataclass(frozen=True)
class LayerDims:
    """The full shapes of a network's L weighted layers, ``(L,)`` int64 each.

    Attributes:
        cout, cin_g: output channels and input channels per group.
        kh, kw: kernel (1 x 1 for fc).
        groups: convolution groups.
        rows_dense, cols_dense: the dense matrix per group, without structured zeros
            (:func:`costmodel.workload.kept_matrix`).
        is_conv: conv (True) or fc.
    """

    cout: np.ndarray
    cin_g: np.ndarray
    kh: np.ndarray
    kw: np.ndarray
    groups: np.ndarray
    rows_dense: np.ndarray
    cols_dense: np.ndarray
    is_conv: np.ndarray

    @classmethod
    def of(cls, layers: list[Layer], kept: list[tuple[int, int] | None]) -> "LayerDims":
        """Dims of ``layers`` (weighted, network order); ``kept``: each one's kept
        ``(rows, cols)`` per group, or None for the full matrix."""
        def col(fn):
            return np.array([fn(l, k) for l, k in zip(layers, kept)], dtype=np.int64)
        return cls(
            cout=col(lambda l, k: l.out_channels), cin_g=col(lambda l, k: l.in_shape[0] // l.groups),
            kh=col(lambda l, k: l.kernel[0]), kw=col(lambda l, k: l.kernel[1]), groups=col(lambda l, k: l.groups),
            rows_dense=col(lambda l, k: k[0] if k else l.matrix_rows),
            cols_dense=col(lambda l, k: k[1] if k else l.matrix_cols),
            is_conv=np.array([l.kind == "conv" for l in layers], dtype=bool),
        )


def epitome_array(layers: list[Layer]) -> np.ndarray:
    """``(L, 4)`` int64 ``(out, in, p, q)`` of each layer's own epitome, zeros where dense."""
    return np.array([(l.epitome.out, l.epitome.in_, l.epitome.p, l.epitome.q) if l.epitome is not None
                     else NO_EPITOME for l in layers], dtype=np.int64).reshape(len(layers), 4)


@dataclass(frozen=True)
class Stored:
    """What one copy of each layer stores and how an output pixel runs on it; every field
    has the shape of the inputs of :func:`stored` (``(L,)`` or ``(N, L)``).

    Attributes:
        rows_g, cols_g, groups: the stored matrix per group (columns: physical ones, SRAM
            packing included) and the groups stored.
        passes: crossbar passes per output pixel (1 dense).
        in_blocks: input-channel blocks (1 dense).
        out_blocks: output-channel blocks (1 dense).
        drive_share: mean share of the copy's rows a pass drives (1 dense).
        convert_share: mean share of the copy's (physical) columns a pass converts (1 dense).
        products: mean weights one pass multiplies per copy (dense: every weight stored;
            an epitome: ``C_in/g * kh * kw * C_out / passes``, the MACs of an output pixel).
        extra_adds: additions per output pixel of the input blocks' partial sums.
        weights: weight values stored.
        epitome: True where the layer stores an epitome (one of the full kernel's own
            shape is the dense layer: it needs no routing).
        shape: ``(..., L, 4)`` the epitome ``(out, in, p, q)`` stored, zeros where dense.
        pack: output channels per physical column (SRAM packing; 1 for crossbars).
    """

    rows_g: np.ndarray
    cols_g: np.ndarray
    groups: np.ndarray
    passes: np.ndarray
    in_blocks: np.ndarray
    out_blocks: np.ndarray
    drive_share: np.ndarray
    convert_share: np.ndarray
    products: np.ndarray
    extra_adds: np.ndarray
    weights: np.ndarray
    epitome: np.ndarray
    shape: np.ndarray
    pack: np.ndarray


def block_columns(channels, cols_e, pack):
    """Physical columns holding the first ``channels`` output channels of an epitome's
    stored groups (``cols_e`` channels per group, ``pack`` per column), elementwise over
    broadcast integer arrays: whole groups, then the partly used one."""
    channels = np.asarray(channels)
    return (channels // cols_e) * ceil_div(cols_e, pack) + ceil_div(channels % cols_e, pack)


def stored(d: LayerDims, epitome: np.ndarray, pack) -> Stored:
    """The stored matrices of layers ``d`` with epitomes ``epitome`` (``(..., L, 4)``,
    zeros: dense) and SRAM packing ``pack`` (channels per column, broadcast against
    ``(..., L)``; 1 for crossbars)."""
    out, in_, p, q = (epitome[..., i] for i in range(4))
    full = (out == d.cout) & (in_ == d.cin_g) & (p == d.kh) & (q == d.kw)
    has = (out > 0) & ~full                                   # the full kernel's own shape is dense
    one = np.ones_like(out)
    out_e, in_e, p_e, q_e = (np.where(has, v, one) for v in (out, in_, p, q))
    per_group_cols = d.cout // d.groups
    cols_e = np.minimum(out_e, per_group_cols)
    in_blocks = np.where(has, ceil_div(d.cin_g, in_e), 1)
    out_blocks = np.where(has, ceil_div(d.cout, out_e), 1)
    rows_g = np.where(has, in_e * p_e * q_e, d.rows_dense)
    cols_logical = np.where(has, cols_e, d.cols_dense)
    groups = np.where(has, ceil_div(out_e, cols_e), d.groups)
    cols_g = ceil_div(cols_logical, pack)
    window_rows = d.cin_g * d.kh * d.kw
    drive = np.where(has, window_rows / (in_blocks * rows_g), 1.0)
    last_block = d.cout - (out_blocks - 1) * out_e                # the last output block's channels
    block_cols = (out_blocks - 1) * block_columns(out_e, cols_e, pack) + block_columns(last_block, cols_e, pack)
    convert = np.where(has, block_cols / (out_blocks * groups * cols_g), 1.0)
    weights = np.where(has, out_e * in_e * p_e * q_e, d.rows_dense * d.cols_dense * d.groups)
    passes = in_blocks * out_blocks
    return Stored(
        rows_g=rows_g, cols_g=cols_g, groups=groups, passes=passes,
        in_blocks=in_blocks, out_blocks=out_blocks, drive_share=drive, convert_share=convert,
        products=np.where(has, window_rows * d.cout / passes, weights),
        extra_adds=(in_blocks - 1) * d.cout, weights=weights, epitome=has,
        shape=np.where(has[..., None], epitome, 0), pack=np.broadcast_to(pack, has.shape),
    )


def matrix_geometry(rows_g, cols_g, groups, size, cols) -> tuple[np.ndarray, ...]:
    """``(row_groups, col_groups, rows_total, cols_read, add_values)`` of one copy of
    ``groups`` matrices of ``rows_g x cols_g`` on arrays of ``size`` rows and ``cols``
    columns (MODEL.md section 2), elementwise over broadcast arrays.

    Groups that fit share an array (``min(size // rows_g, cols // cols_g)`` per array);
    a larger matrix splits into ``ceil(rows_g / size)`` row by ``ceil(cols_g / cols)``
    column pieces, and ``add_values`` are the partial sums added across its row pieces
    per output pixel.
    """
    rows_g, cols_g, groups = (np.asarray(v, dtype=np.int64) for v in (rows_g, cols_g, groups))
    size, cols = np.asarray(size, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    fits = (rows_g <= size) & (cols_g <= cols)
    per_array = np.maximum(np.minimum(size // rows_g, cols // cols_g), 1)
    row_pieces, col_pieces = ceil_div(rows_g, size), ceil_div(cols_g, cols)
    row_groups = np.where(fits, ceil_div(groups, per_array), groups * row_pieces)
    col_groups = np.where(fits, 1, col_pieces)
    return (row_groups, col_groups, rows_g * groups * col_pieces, cols_g * groups * row_pieces,
            cols_g * groups * (row_pieces - 1))


def weight_slices(weight_bits, cell_bits, sram: bool):
    """Arrays one weight's bits occupy: ``ceil(weight_bits / cell_bits)`` crossbars (a
    crossbar cell holds ``cell_bits``); 1 for SRAM (a column holds whole weights)."""
    return np.ones_like(np.asarray(weight_bits)) if sram else ceil_div(weight_bits, cell_bits)


def sram_pack(weight_bits, cell_bits, sram: bool):
    """Output channels one array column holds: ``cell_bits // weight_bits`` in SRAM (its
    ``cell_bits`` are the macro's weight bits); 1 for crossbars."""
    return np.maximum(np.asarray(cell_bits) // np.asarray(weight_bits), 1) if sram else np.ones_like(np.asarray(weight_bits))
