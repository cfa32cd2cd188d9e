"""One copy of a layer's kept weight matrix laid out on a design's arrays (MODEL.md 2, 10).

The arrays hold only the rows and columns of each group's matrix with a non-zero weight
(:func:`costmodel.workload.kept_matrix` gives how many): a group keeps its non-zero rows
(columns), in order, topped up with zero ones up to the count (a group of a grouped layer
with more non-zero rows than the count keeps the first). The kept matrix then goes onto
``S x cols`` arrays as MODEL.md section 2 says: groups that fit pack block-diagonally,
``p = min(S // rows, cols // cols_g)`` per array; otherwise every group is cut into
``ceil(rows / S)`` row pieces by ``ceil(cols_g / cols)`` column pieces.

:class:`Layout` describes the arrays as ``n_rb`` row blocks (a packed array, or one row
piece of one group) by ``cg`` column groups: array ``(r, c)`` holds the rows of row block
``r`` and the columns of column group ``c``. Row blocks are numbered group by group, row
piece by row piece, as the row groups a weight tile takes (contiguous ranges). Each
array stands for the arrays of every bit slice of its weights (MODEL.md 2): a slice's
column needs converting only where that slice is non-zero in some row of the array.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from onnx_frontend.network import Layer


@dataclass(frozen=True)
class Layout:
    """The arrays of one copy (module docstring); ``Wr`` is the widest row block.

    Attributes:
        row_index: ``(n_rb, Wr)`` column of the unrolled input
            (:func:`costmodel.sparsity.patterns.unrolled_inputs`) each array row reads;
            rows a block does not have read the last (zero) column.
        nonzero: ``(n_rb, Wr, cg)`` float32 1 where the row's weights in array ``(r, c)``
            are not all zero (the row is driven when its input slice is non-zero).
        products: ``(n_rb, Wr, cg)`` float32 non-zero weights of the row in the array.
        rows: ``(n_rb,)`` rows each block holds.
        cols: ``(n_rb, cg)`` columns array ``(r, c)`` holds.
        kept_slice_cols: ``(n_rb, cg)`` the columns of array ``(r, c)``'s weight slices
            (one array per slice) that convert: a column's slice is non-zero in some row of
            the array; summed over the slices (at most ``slices x cols``).
        weights: ``(n_rb, cg)`` weights the array holds (its products when every row is driven).
    """

    row_index: np.ndarray
    nonzero: np.ndarray
    products: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    kept_slice_cols: np.ndarray
    weights: np.ndarray

    @property
    def row_blocks(self) -> int:
        return self.rows.shape[0]

    @property
    def col_groups(self) -> int:
        return self.cols.shape[1]


def kept_part(mask: np.ndarray, kept: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows (G, R), cols (G, C))``: the indices in each group of its kept ``R`` rows and
    ``C`` columns of the non-zero mask ``(G, rows_g, cols_g)`` (module docstring)."""
    R, C = kept
    rows = np.sort(np.argsort(~mask.any(2), axis=1, kind="stable")[:, :R], axis=1)
    cols = np.sort(np.argsort(~mask.any(1), axis=1, kind="stable")[:, :C], axis=1)
    return rows, cols


def layout(layer: Layer, mask: np.ndarray, slices: np.ndarray, kept: tuple[int, int], size: int,
           cols: int) -> Layout:
    """The :class:`Layout` of ``layer``'s non-zero ``mask`` ``(G, rows_g, cols_g)`` and its
    weights' non-zero ``slices`` (same shape, unsigned: bit ``k`` set where slice ``k`` is
    non-zero, :meth:`costmodel.sparsity.patterns.ZeroPatterns.weight_slices`), kept to
    ``kept = (R, C)`` per group, on arrays of ``size`` rows and ``cols`` columns."""
    G, rows_g = layer.groups, layer.matrix_rows
    R, C = kept
    rows, kept_cols = kept_part(mask, kept)
    at = (np.arange(G)[:, None, None], rows[:, :, None], kept_cols[:, None, :])
    row_of = rows + (np.arange(G) * rows_g)[:, None]                  # (G, R) input row of every kept row
    pad = G * rows_g                                                   # the zero column
    if R <= size and C <= cols:
        return _packed(mask[at], slices[at], row_of, pad, min(size // R, cols // C))
    return _pieces(mask[at], slices[at], row_of, pad, size, cols)


def _converting(slices: np.ndarray, axis: int) -> np.ndarray:
    """Per column, its slices non-zero in some row along ``axis`` (the rows of one array)."""
    return np.bitwise_count(np.bitwise_or.reduce(slices, axis=axis))


def _packed(matrices: np.ndarray, slices: np.ndarray, row_of: np.ndarray, pad: int, p: int) -> Layout:
    """Groups ``p`` to an array, block-diagonally (one column group)."""
    G, R, C = matrices.shape
    n = ceil(G / p)
    full = np.zeros((n * p, R, C), dtype=bool)
    full[:G] = matrices
    full_slices = np.zeros((n * p, R, C), dtype=slices.dtype)
    full_slices[:G] = slices
    index = np.full((n * p, R), pad, dtype=np.int64)
    index[:G] = row_of
    in_array = np.minimum(G - np.arange(n) * p, p)                    # groups per array
    return Layout(
        row_index=index.reshape(n, p * R),
        nonzero=full.any(2).reshape(n, p * R, 1).astype(np.float32),
        products=full.sum(2).reshape(n, p * R, 1).astype(np.float32),
        rows=in_array * R, cols=(in_array * C)[:, None],
        kept_slice_cols=_converting(full_slices, 1).reshape(n, p * C).sum(1, dtype=np.int64)[:, None],
        weights=(in_array * R * C)[:, None])


def _pieces(matrices: np.ndarray, slices: np.ndarray, row_of: np.ndarray, pad: int, size: int,
            cols: int) -> Layout:
    """Every group cut into row pieces of ``size`` by column pieces of ``cols``."""
    G, R, C = matrices.shape
    rp, cp = ceil(R / size), ceil(C / cols)
    full = np.zeros((G, rp * size, cp * cols), dtype=bool)
    full[:, :R, :C] = matrices
    full_slices = np.zeros(full.shape, dtype=slices.dtype)
    full_slices[:, :R, :C] = slices
    pieces = full.reshape(G, rp, size, cp, cols)
    index = np.full((G, rp * size), pad, dtype=np.int64)
    index[:, :R] = row_of
    rows = np.minimum(R - np.arange(rp) * size, size)
    widths = np.minimum(C - np.arange(cp) * cols, cols)
    return Layout(
        row_index=index.reshape(G * rp, size),
        nonzero=pieces.any(4).reshape(G * rp, size, cp).astype(np.float32),
        products=pieces.sum(4).reshape(G * rp, size, cp).astype(np.float32),
        rows=np.tile(rows, G), cols=np.tile(np.broadcast_to(widths, (rp, cp)), (G, 1)),
        kept_slice_cols=_converting(full_slices.reshape(G, rp, size, cp, cols), 2).sum(3, dtype=np.int64)
        .reshape(G * rp, cp),
        weights=np.tile(rows[:, None] * widths[None], (G, 1)))
