"""Random designs that obey the partition rules, for benchmarks and fidelity checks.

Globals are drawn from the technology's options and PIMSYN's rram_ratio range
(0.1..0.4); duplication from a random log-uniform share of the crossbar budget spread
with random weights over conv layers; macros between the fewest that hold the layer's crossbars
(``macro.max_crossbars``) and its limit, skewed to the fewest; each layer shares an
earlier unshared layer's macros with probability ``share_p`` when the pair fits. Drawing is vectorised over designs.
"""

from __future__ import annotations

import numpy as np

from costmodel.design import DesignBatch
from costmodel.macro_capacity import fewest_macros
from costmodel.technology import Technology
from costmodel.workload import build_workload
from onnx_frontend.network import Network


def random_designs(network: Network, tech: Technology, power_w: float, n: int, seed: int = 0,
                   share_p: float = 0.2, macro_mode: str = "specialised") -> DesignBatch:
    """``n`` random designs (feasibility is not guaranteed: evaluate and filter)."""
    rng = np.random.default_rng(seed)
    wl = build_workload(network, tech)
    tb = tech.tables
    L = wl.n_weighted
    si = rng.integers(len(tb.xbar_sizes), size=n)
    ci = rng.integers(len(tb.cell_bits), size=n)
    di = rng.integers(len(tb.dac_bits), size=n)
    ratio = rng.uniform(0.1, 0.4, size=n)
    slices = -(-tech.precision.weight_bits // tb.cell_bits[ci])
    rg = wl.row_groups[si]
    sets = rg * wl.col_groups[si] * slices[:, None]
    n_xbar = np.floor(power_w * ratio / tb.xbar_peak[si, ci])
    conv = ~wl.is_fc[wl.layer_of_w]
    pixels = wl.out_pixels[wl.layer_of_w]
    spare = np.maximum(n_xbar - sets.sum(1), 0) * rng.uniform(0.05, 1.0, size=n) ** 2
    weight = rng.dirichlet(np.ones(L), size=n) * conv
    weight /= np.maximum(weight.sum(1, keepdims=True), 1e-12)
    extra = np.floor(spare[:, None] * weight / sets)
    dup = np.where(conv, np.clip(1 + extra, 1, pixels), 1).astype(np.int64)
    limit = dup * rg * wl.col_groups[si]                               # blocks: the most macros
    least = np.minimum(fewest_macros(limit, slices[:, None], tech.macro.max_crossbars), limit)
    macros = least + np.floor(rng.uniform(size=(n, L)) ** 2 * (limit - least + 1)).astype(np.int64)
    macros = np.minimum(macros, limit)
    cap = tech.macro.max_crossbars
    share = np.full((n, L), -1, dtype=np.int64)
    taken = np.zeros((n, L), dtype=bool)
    rows = np.arange(n)
    for j in range(1, L):
        partner = rng.integers(0, j, size=n)
        pair = np.maximum(macros[:, j], macros[rows, partner])
        ok = (rng.uniform(size=n) < share_p) & ~taken[rows, partner] & (share[rows, partner] < 0) & ~taken[:, j]
        ok &= (pair <= limit[:, j]) & (pair <= limit[rows, partner])
        ok &= (-(-limit[:, j] // pair) - (-limit[rows, partner] // pair)) * slices <= cap
        share[:, j] = np.where(ok, partner, -1)
        taken[rows[ok], partner[ok]] = True
        taken[ok, j] = True
    return DesignBatch(rram_ratio=ratio, cell_bits=tb.cell_bits[ci], xbar_size=tb.xbar_sizes[si],
                       dac_bits=tb.dac_bits[di], dup=dup, macros=macros, share=share, macro_mode=macro_mode)
