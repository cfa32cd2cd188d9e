"""Expected skips per weighted layer, input bits per cycle and array size (MODEL.md 10).

Computed once per (network, technology, densities); a design's factors are lookups
(:mod:`costmodel.sparsity.factors`). Axes: ``d`` the technology's input-bits-per-cycle
options (``tech.dac_bits_options``), ``s`` its array sizes (``tech.xbar_sizes``), ``j``
the weighted layers.

The input model: a layer's input value is zero with probability ``1 - a`` (its input
density); a non-zero value's bits are ones independently, bit ``b`` with probability
``d_b / a``. A bit iteration drives one slice of ``k`` input bits on every row; the row's
slice is non-zero with probability ``q = (1 - pad) (a - a prod_b (1 - d_b / a))`` over
the slice's bits, where ``pad`` is the share of the layer's unrolled inputs that are
zero padding. A row whose weights are all zero in its array needs no drive: rows count
with ``q (1 - z_r)``, ``z_r`` the share of zero row pieces in the array's tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from costmodel.identity_cache import IdentityCache
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology
from costmodel.workload import Workload, kept_matrix
from onnx_frontend.network import Layer, Network


#: ``ou_slowest`` covers the slowest of 1, 2, 4, ... 2^(SLOWEST_POWERS - 1) arrays.
SLOWEST_POWERS = 17


@dataclass(frozen=True)
class SparsityTables:
    """Per-layer expectations; ``(D, S, L)`` unless noted (module docstring for axes).

    Attributes:
        driven: mean over the iterations of the share of driven rows whose slice is
            non-zero (gate: the DAC and row-driver work kept).
        kept_iterations: mean over the iterations of the probability that some row the
            copy drives is non-zero (skip: the iterations that run).
        ou_cycles: mean over the iterations of the expected operation-unit cycles of one
            array, ``E[ceil(X / ou_rows)]`` with X ~ Binomial(rows per array, q) (compact: the
            conversions).
        ou_slowest: ``(D, S, L, K)`` the same for the slowest of ``2^k`` arrays holding
            the most rows an array of the layer holds (k = 0 .. K - 1): a step's iteration
            waits for its slowest array (compact: the cycle time).
        full_share: ``(S, L)`` the share of a copy's arrays holding that many rows.
        ou_cycles_dense: ``(S, L)`` the same without zeros, ``ceil(rows per array / ou_rows)``.
        rows_per_array: ``(S, L)`` the rows one array of the layer holds on average.
        kept_columns: ``(Cb, S, L)`` per cell-bits option (``tech.cell_bits_options``), the
            share of an array's column pieces whose weight slice is not all zero (skip and
            compact convert only these).
        weight_density: ``(L,)`` non-zero share of the weights.
        removed_arrays: ``(S, L)`` share of one copy's arrays that structured zeros remove.
    """

    driven: np.ndarray
    kept_iterations: np.ndarray
    ou_cycles: np.ndarray
    ou_slowest: np.ndarray
    full_share: np.ndarray
    ou_cycles_dense: np.ndarray
    rows_per_array: np.ndarray
    kept_columns: np.ndarray
    weight_density: np.ndarray
    removed_arrays: np.ndarray


def sparsity_tables(network: Network, tech: Technology, densities: Densities | None,
                    workload: Workload, dense_workload: Workload) -> SparsityTables:
    """The :class:`SparsityTables` of ``network`` on ``tech`` (cached; ``densities`` None:
    every input and weight non-zero). ``workload`` has the densities' geometry,
    ``dense_workload`` the full matrices'."""
    return _TABLES(network, tech, densities, workload, dense_workload)


def _build(network, tech, densities, wl, dense_wl) -> SparsityTables:
    layers = [l for l in network.layers if l.is_weighted]
    L, A = len(layers), tech.precision.activation_bits
    sizes = tech.xbar_sizes
    u = tech.sparsity.ou_rows if tech.sparsity is not None else 1
    if densities is None:
        a, bits, dw = np.ones(L), np.ones((L, A)), np.ones(L)
        zr = np.zeros((len(sizes), L))
        zc = np.zeros((len(tech.cell_bits_options), len(sizes), L))
        kept = [None] * L
    else:
        a, bits, dw = densities.input_density, densities.bit_density, densities.weight_density
        zr = np.array([densities.tile_share(densities.tile_zero_rows, c) for c in tech.array_cols])
        zc = np.array([[densities.tile_share(_slice_table(densities, c), s) for s in sizes]
                       for c in tech.cell_bits_options])
        kept = [kept_matrix(l, densities.zero_rows[j], densities.zero_cols[j]) for j, l in enumerate(layers)]
    # the dense model knows no zeros, not even the padding's
    pad = np.zeros(L) if densities is None else np.array([padding_share(l) for l in layers])
    copy_rows = np.array([(k or (l.matrix_rows, l.matrix_cols))[0] * l.groups for l, k in zip(layers, kept)], dtype=float)
    blocks = (wl.row_groups * wl.col_groups).astype(float)                         # (S, L)
    rows_per_array = wl.rows_total / blocks
    removed = 1 - blocks / (dense_wl.row_groups * dense_wl.col_groups)
    dacs = tech.dac_bits_options
    shape = (len(dacs), len(sizes), L)
    driven, kept_it, ou = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    full = np.array([[full_arrays(l, k or (l.matrix_rows, l.matrix_cols), s, c) for l, k in zip(layers, kept)]
                     for s, c in zip(sizes, tech.array_cols)], dtype=float)            # (S, L, 2)
    arrays = 2.0 ** np.arange(SLOWEST_POWERS)
    slowest = np.zeros((*shape, SLOWEST_POWERS))
    for d, k in enumerate(dacs):
        q = slice_nonzero(a, bits, k) * (1 - pad)[:, None]                          # (L, B)
        qr = q[None] * (1 - zr)[:, :, None]                                         # (S, L, B)
        driven[d] = qr.mean(2)
        kept_it[d] = (1 - (1 - qr) ** copy_rows[None, :, None]).mean(2)
        ou[d] = expected_ceil(rows_per_array[..., None], qr, u).mean(2)
        cdf, below_n = ceil_cdf(full[..., 0, None], qr, u)                     # (S, L, B, M)
        slowest[d] = ((1 - cdf[..., None, :] ** arrays[:, None]) * below_n[..., None, :]).sum(-1).mean(2)
    return SparsityTables(driven=driven, kept_iterations=kept_it, ou_cycles=ou, ou_slowest=slowest,
                          full_share=full[..., 1],
                          ou_cycles_dense=np.ceil(rows_per_array / u), rows_per_array=rows_per_array,
                          kept_columns=1 - zc, weight_density=np.asarray(dw, dtype=float), removed_arrays=removed)


def _slice_table(densities: Densities, cell_bits: int) -> np.ndarray:
    """(T, L) zero slice-column shares at ``cell_bits`` (whole weights' where not measured)."""
    if cell_bits in densities.cell_bits:
        return densities.tile_zero_slice_cols[densities.cell_bits.index(cell_bits)]
    return densities.tile_zero_cols


def slice_nonzero(a: np.ndarray, bits: np.ndarray, k: int) -> np.ndarray:
    """(L, B) probability that a row's ``k``-bit input slice of iteration ``i`` is non-zero,
    B = ceil(A / k) (module docstring; ``a`` (L,) input densities, ``bits`` (L, A))."""
    L, A = bits.shape
    B = ceil(A / k)
    with np.errstate(divide="ignore", invalid="ignore"):
        given = np.where(a[:, None] > 0, np.clip(bits / a[:, None], 0, 1), 0.0)    # P(bit | value non-zero)
    out = np.empty((L, B))
    for i in range(B):
        zero_given = np.prod(1 - given[:, i * k:(i + 1) * k], axis=1)
        out[:, i] = a * (1 - zero_given)
    return out


def expected_ceil(n: np.ndarray, q: np.ndarray, u: int, arrays=1) -> np.ndarray:
    """``E[max of `arrays` draws of ceil(X / u)]`` for independent X ~ Binomial(n, q),
    elementwise (``n`` whole counts and ``arrays`` >= 1 broadcast against ``q``; one draw:
    the mean of ``ceil(X / u)``); exact, from the CDF at multiples of ``u``:
    ``sum_{m >= 0, m u < n} 1 - P(X <= m u)^arrays``."""
    cdf, below_n = ceil_cdf(n, q, u)
    arrays = np.asarray(arrays, dtype=float)[..., None]
    return ((1 - cdf ** arrays) * below_n).sum(-1)


def ceil_cdf(n: np.ndarray, q: np.ndarray, u: int) -> tuple[np.ndarray, np.ndarray]:
    """``(P(X <= m u), m u < n)`` for m = 0, 1, ... (last axis) and X ~ Binomial(n, q)
    elementwise (``n`` whole counts broadcast against ``q``), from the log-pmf."""
    n, q = np.broadcast_arrays(np.rint(np.asarray(n, dtype=float)), np.asarray(q, dtype=float))
    top = int(n.max()) if n.size else 0
    k = np.arange(top + 1, dtype=float)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1)))])
    nn, qq = n[..., None], np.clip(q, 1e-300, 1 - 1e-16)[..., None]
    valid = k <= nn
    kk = np.where(valid, k, 0)
    log_c = log_fact[nn.astype(int)] - log_fact[kk.astype(int)] - log_fact[np.where(valid, nn - kk, 0).astype(int)]
    pmf = np.where(valid, np.exp(log_c + kk * np.log(qq) + (nn - kk) * np.log1p(-qq)), 0.0)
    pmf = np.where((q <= 0)[..., None], k == 0, pmf)                     # exact at the ends
    pmf = np.where((q >= 1)[..., None], k == nn, pmf)
    m_u = np.arange(0, top + 1, u)
    return np.minimum(np.cumsum(pmf, axis=-1), 1.0)[..., m_u], m_u < nn


def full_arrays(layer: Layer, kept: tuple[int, int], size: int, cols: int) -> tuple[int, float]:
    """``(rows, share)``: the most rows an array of one copy holds (section 2's layout of
    the kept ``(R, C)`` matrix per group on ``size x cols`` arrays) and the share of the
    copy's arrays that hold that many (the others hold a row split's remainder and are
    rarely the slowest)."""
    R, C = kept
    g = layer.groups
    if R <= size and C <= cols:
        p = min(size // R, cols // C)
        return min(p, g) * R, (g // p if g >= p else 1) / ceil(g / p)
    pieces = ceil(R / size)
    return size, (pieces - 1 + (R % size == 0)) / pieces


def padding_share(layer: Layer) -> float:
    """Share of a conv layer's unrolled input values (output pixels x kernel positions) that
    fall in its zero padding (0 for fc layers)."""
    if layer.kind != "conv":
        return 0.0
    _, h_in, w_in = layer.in_shape
    _, h_out, w_out = layer.out_shape
    top, left = layer.padding[0], layer.padding[1]

    def valid(n_out: int, n_in: int, kernel: int, stride: int, dil: int, before: int) -> int:
        pos = np.arange(n_out)[:, None] * stride - before + np.arange(kernel)[None] * dil
        return int(((pos >= 0) & (pos < n_in)).sum())

    inside = (valid(h_out, h_in, layer.kernel[0], layer.stride[0], layer.dilation[0], top)
              * valid(w_out, w_in, layer.kernel[1], layer.stride[1], layer.dilation[1], left))
    return 1 - inside / (h_out * w_out * layer.kernel[0] * layer.kernel[1])


_TABLES: IdentityCache[SparsityTables] = IdentityCache(_build, 32)
