"""Each weighted layer of N designs on its arrays: the geometry of one copy, its weight
slices and bit iterations, and its epitome's passes (MODEL.md sections 2 and 11).

Without per-design epitomes or weight bits, the network's own configuration (the
workload's tables, looked up by array shape) is used; with them, the stored matrices are
worked out per design (:mod:`costmodel.epitome.mapping`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.epitome.mapping import Stored, ceil_div, matrix_geometry, sram_pack, stored, weight_slices
from costmodel.technology import Technology
from costmodel.workload import Workload
from onnx_frontend.errors import PimtuneError


class LayerMapError(PimtuneError):
    """A design's epitomes or weight bits do not fit its layers or its arrays."""


@dataclass(frozen=True)
class LayerMap:
    """One copy of each weighted layer of N designs; ``(N, L)`` arrays (``stored``'s and
    ``weight_bits`` may be ``(L,)``, the same for every design).

    Attributes:
        row_groups, col_groups, rows_total, cols_read, add_values: the geometry of one
            copy (:func:`~costmodel.epitome.mapping.matrix_geometry`).
        slices: arrays holding one weight's bits (crossbars: ``ceil(weight_bits / cell_bits)``).
        bit_iterations: input bit iterations of one pass (``ceil(activation_bits / dac_bits)``).
        stored: passes, shares and stored weights (:class:`~costmodel.epitome.mapping.Stored`).
        weight_bits: each layer's weight precision.
        cell_share: share of an SRAM column's cells a weight uses (``weight_bits / cell_bits``
            packed; 1 for crossbars).
        per_design: True when the designs carry their own epitomes or weight bits.
    """

    row_groups: np.ndarray
    col_groups: np.ndarray
    rows_total: np.ndarray
    cols_read: np.ndarray
    add_values: np.ndarray
    slices: np.ndarray
    bit_iterations: np.ndarray
    stored: Stored
    weight_bits: np.ndarray
    cell_share: np.ndarray
    per_design: bool

    @property
    def any_epitome(self) -> bool:
        return bool(np.any(self.stored.epitome))

    @property
    def iterations(self) -> np.ndarray:
        """(N, L) occurrences of the iterated chain per step: bit iterations x passes."""
        return self.bit_iterations * self.stored.passes


def layer_map(wl: Workload, tech: Technology, si: np.ndarray, cell_bits: np.ndarray, dac_bits: np.ndarray,
              epitome: np.ndarray | None = None, weight_bits: np.ndarray | None = None) -> LayerMap:
    """The :class:`LayerMap` of N designs: ``si`` (N,) array-shape indices
    (``tech.xbar_sizes`` order), ``cell_bits`` and ``dac_bits`` (N,); ``epitome``
    (N, L, 4) ``(out, in, p, q)`` per layer (zeros: dense) and ``weight_bits`` (N, L)
    replace the network's own where given.

    Raises:
        LayerMapError: an epitome that cannot store its layer's kernel, or an SRAM layer
            with more weight bits than the array's cells per weight.
    """
    sram = tech.sram is not None
    cell = np.asarray(cell_bits)[:, None]
    ab = wl.activation_bits[wl.layer_of_w]
    bit_iterations = ceil_div(ab, np.asarray(dac_bits)[:, None])
    if epitome is None and weight_bits is None:
        wb = wl.weight_bits
        own = wl.stored
        geometry = (wl.row_groups[si], wl.col_groups[si], wl.rows_total[si], wl.cols_read[si], wl.add_values[si])
        per_design = False
    else:
        n, L = len(si), wl.n_weighted
        wb = np.broadcast_to(wl.weight_bits if weight_bits is None else np.asarray(weight_bits, dtype=np.int64), (n, L))
        e = np.broadcast_to(wl.epitomes, (n, L, 4)) if epitome is None else np.asarray(epitome, dtype=np.int64)
        _check(wl, tech, e, wb, cell, sram)
        own = stored(wl.dims, e, sram_pack(wb, cell, sram))
        size = np.asarray(tech.xbar_sizes, dtype=np.int64)[si][:, None]
        cols = np.asarray(tech.array_cols, dtype=np.int64)[si][:, None]
        geometry = np.broadcast_arrays(*matrix_geometry(own.rows_g, own.cols_g, own.groups, size, cols))
        per_design = True
    if sram and not per_design and (wb > cell).any():
        raise LayerMapError(f"a layer has {int(wb.max())}-bit weights, more than the SRAM array's "
                            f"{int(cell.min())}-bit columns; give weight_bits <= {int(cell.min())}")
    cell_share = wb / cell if sram else np.ones(1)
    return LayerMap(*geometry, slices=weight_slices(wb, cell, sram), bit_iterations=bit_iterations, stored=own,
                    weight_bits=wb, cell_share=cell_share, per_design=per_design)


def _check(wl: Workload, tech: Technology, e: np.ndarray, wb: np.ndarray, cell: np.ndarray, sram: bool) -> None:
    d = wl.dims
    has = e[..., 0] > 0
    if not has.any() and not sram:
        return
    bad = has & (~d.is_conv | (e[..., 0] > d.cout) | (e[..., 1] > d.cin_g) | (e[..., 1] < 1)
                 | (e[..., 2] < d.kh) | (e[..., 3] < d.kw))
    if bad.any():
        n, j = (int(v[0]) for v in np.nonzero(bad))
        out, in_, p, q = (int(v) for v in e[n, j])
        what = ("an fc layer; epitomes apply to conv layers" if not d.is_conv[j] else
                f"a {int(d.cout[j])} x {int(d.cin_g[j])} x {int(d.kh[j])} x {int(d.kw[j])} kernel; give "
                f"1 <= out <= {int(d.cout[j])}, 1 <= in <= {int(d.cin_g[j])}, p >= {int(d.kh[j])}, q >= {int(d.kw[j])}")
        raise LayerMapError(f"design {n}: weighted layer {j} has epitome {out}x{in_}x{p}x{q}, which cannot store {what}")
    if sram and (wb > cell).any():
        n, j = (int(v[0]) for v in np.nonzero(wb > cell))
        raise LayerMapError(f"design {n}: weighted layer {j} has {int(wb[n, j])}-bit weights, more than the SRAM "
                            f"array's {int(cell[n, 0])}-bit columns; give weight_bits <= {int(cell[n, 0])}")
