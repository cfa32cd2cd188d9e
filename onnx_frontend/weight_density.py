"""Zeros in a layer's weights, measured from the model's own data (issue: sparsity).

A weighted layer's weights, unrolled as in the cost model (MODEL.md section 2), are
``groups`` matrices of ``rows_g = kh * kw * C_in / groups`` rows (one per input channel
and kernel position) by ``cols_g = C_out / groups`` columns (one per output channel).
:func:`measure` gives, of those matrices:

- ``density``: the share of non-zero weights;
- ``zero_rows``: the share of rows zero for every output channel of their group (what
  structured pruning of input channels or kernel positions removes);
- ``zero_cols``: the share of output channels whose weights are all zero;
- ``slice_density``: per cell resolution ``c`` (bits), the share of non-zero ``c``-bit
  slices of the weights' sign-magnitude codes at ``weight_bits`` (the sign with the top
  slice; codes of a symmetric per-layer quantisation ``round(|w| / max|w| * (2^(Wb-1) - 1))``);
- ``tile_zero_rows`` / ``tile_zero_cols``: per crossbar size ``S``, the share of the row
  (column) pieces of the ``S x S`` tiles of the matrices that are zero within their tile;
- ``tile_zero_slice_cols``: per weight precision ``Wb`` (:data:`WEIGHT_BITS`), cell
  resolution ``c`` and size ``S``, the share of the column pieces of ``S`` rows whose
  ``c``-bit slice (one crossbar column of one slice) is zero in every weight of the piece:
  the conversions a bit-sliced crossbar need not make.

Structure-only models (weights declared without data) have no measurement (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Cell resolutions (bits) and crossbar sizes the measurement covers.
CELL_BITS = (1, 2, 4, 8)
TILE_SIZES = (32, 64, 128, 256, 512, 1024)
#: Weight precisions (bits) the slice measurements cover.
WEIGHT_BITS = (8, 16)


@dataclass(frozen=True)
class WeightDensity:
    """Zeros of one layer's weights (shares in [0, 1]; see the module docstring)."""

    density: float
    zero_rows: float
    zero_cols: float
    slice_density: dict[int, float]
    tile_zero_rows: dict[int, float]
    tile_zero_cols: dict[int, float]
    tile_zero_slice_cols: dict[int, dict[int, dict[int, float]]]

    def as_dict(self) -> dict:
        """Plain JSON-ready values (dict keys as strings)."""
        return {"weight_density": self.density, "zero_rows": self.zero_rows, "zero_cols": self.zero_cols,
                "slice_density": {str(k): v for k, v in self.slice_density.items()},
                "tile_zero_rows": {str(k): v for k, v in self.tile_zero_rows.items()},
                "tile_zero_cols": {str(k): v for k, v in self.tile_zero_cols.items()},
                "tile_zero_slice_cols": {str(b): {str(c): {str(k): v for k, v in per_size.items()}
                                                  for c, per_size in per_cell.items()}
                                         for b, per_cell in self.tile_zero_slice_cols.items()}}


def unrolled(weights: np.ndarray, groups: int) -> np.ndarray:
    """A conv weight ``(C_out, C_in / groups, kh, kw)`` or an fc matrix ``(rows, C_out)``
    as ``(groups, rows_g, cols_g)`` matrices."""
    if weights.ndim == 2:                                               # fc: rows x output channels
        return weights[None]
    c_out = weights.shape[0]
    per_group = weights.reshape(groups, c_out // groups, -1)           # (G, cols_g, rows_g)
    return per_group.transpose(0, 2, 1)


def measure(matrices: np.ndarray, weight_bits: int = 8) -> WeightDensity:
    """:class:`WeightDensity` of ``(groups, rows_g, cols_g)`` weight matrices."""
    nz = matrices != 0
    density = float(nz.mean()) if nz.size else 0.0
    zero_rows = float((~nz.any(2)).mean())
    zero_cols = float((~nz.any(1)).mean())
    return WeightDensity(density=density, zero_rows=zero_rows, zero_cols=zero_cols,
                         slice_density=_slice_density(matrices, weight_bits),
                         tile_zero_rows={s: _tile_zero_share(nz, s, axis=2) for s in TILE_SIZES},
                         tile_zero_cols={s: _tile_zero_share(nz, s, axis=1) for s in TILE_SIZES},
                         tile_zero_slice_cols={b: _tile_zero_slice_cols(matrices, b) for b in WEIGHT_BITS})


def sign_magnitude_codes(matrices: np.ndarray, weight_bits: int) -> np.ndarray:
    """Sign-magnitude codes of a symmetric per-layer quantisation at ``weight_bits`` (module docstring)."""
    top = np.abs(matrices).max() if matrices.size else 0.0
    levels = 2 ** (weight_bits - 1) - 1
    kind = np.uint8 if weight_bits <= 8 else np.uint32                  # codes of large layers stay small
    code = np.zeros(matrices.shape, dtype=kind) if top == 0 else np.rint(np.abs(matrices) / top * levels).astype(kind)
    code |= (matrices < 0).astype(kind) << kind(weight_bits - 1)       # sign-magnitude: the sign on top
    return code


def _tile_zero_slice_cols(matrices: np.ndarray, weight_bits: int) -> dict[int, dict[int, float]]:
    """Per cell resolution and tile size, the share of slice column pieces that are zero:
    a piece's slice is zero where the OR of its weights' codes has no one in the slice."""
    code = sign_magnitude_codes(matrices, weight_bits)
    rows = code.shape[1]
    out: dict[int, dict[int, float]] = {c: {} for c in CELL_BITS}
    for size in TILE_SIZES:
        pieces = np.bitwise_or.reduceat(code, np.arange(0, rows, size), axis=1) if code.size else code
        for c in CELL_BITS:
            slices = -(-weight_bits // c)
            mask = code.dtype.type((1 << c) - 1)
            nonzero = sum(np.count_nonzero((pieces >> code.dtype.type(c * k)) & mask) for k in range(slices))
            out[c][size] = 1.0 - nonzero / (slices * pieces.size) if pieces.size else 0.0
    return out


def _slice_density(matrices: np.ndarray, weight_bits: int) -> dict[int, float]:
    code = sign_magnitude_codes(matrices, weight_bits)
    kind = code.dtype.type
    out = {}
    for c in CELL_BITS:
        slices = -(-weight_bits // c)
        if weight_bits <= 8:                                            # one table lookup per code
            table = np.array([sum((v >> (c * k)) & ((1 << c) - 1) != 0 for k in range(slices)) for v in range(256)])
            nonzero = int(table[code].sum())
        else:
            mask = kind((1 << c) - 1)
            nonzero = sum(np.count_nonzero((code >> kind(c * k)) & mask) for k in range(slices))
        out[c] = float(nonzero / (slices * code.size)) if code.size else 0.0
    return out


def _tile_zero_share(nz: np.ndarray, size: int, axis: int) -> float:
    """Share of the pieces of rows (``axis=2``: a row cut by the tiles' columns) or columns
    (``axis=1``) of ``size x size`` tiles that are all zero (the matrices' edges end the
    last tiles early)."""
    cut = nz.shape[axis]
    if cut == 0 or nz.size == 0:
        return 0.0
    pieces = np.logical_or.reduceat(nz, np.arange(0, cut, size), axis=axis)
    return 1.0 - np.count_nonzero(pieces) / pieces.size
