"""Random designs that obey the partition rules, for benchmarks and fidelity checks.

Globals are drawn from the technology's options and PIMSYN's rram_ratio range
(0.1..0.4); the crossbar budget is what the crossbar share of the power budget (W) and / or
the area budget (mm^2) pays for, the smaller of the two counts
(:func:`costmodel.budgets.crossbars_affordable`); duplication from a random log-uniform
share of the crossbar budget spread
with random weights over conv layers; macros between the fewest that hold the layer's crossbars
(``macro.max_crossbars``) and its limit, skewed to the fewest; each layer shares an
earlier unshared layer's macros with probability ``share_p`` when the pair fits. Drawing is vectorised over designs.

With ``segmented=True``, a design whose network does not fit its crossbar budget once
(one copy of every layer needs more crossbars than ``n_xbar``) is drawn as a segmented
design instead (MODEL.md section 8): the weighted layers are packed greedily, in order, into segments that fit
(a layer that alone exceeds the chip gets a segment of its own and one copy: the model
runs it in weight tiles), with a random extra boundary after a layer with probability
``cut_p``; duplication spends each segment's spare crossbars; macros as above (a tiled
layer's limit is the blocks of one tile); sharing only inside a segment; a batch of 1, 2,
4, ..., 64 inferences and a random dataflow per layer. These columns come from a second
generator seeded from ``seed``, so the designs that fit are exactly those of the same
seed without segments (and without ``segmented``, every design is drawn as before: the
ones that do not fit are infeasible, ``weights_do_not_fit``).

With ``densities`` (``--sparsity``, MODEL.md section 10) the designs map the weights
without their structured zero rows and columns; ``sparse_modes=True`` also draws each
layer's sparsity mode uniformly among the technology's valid ones
(:func:`costmodel.sparsity.choices.mode_count`), from a third generator seeded from
``seed``, so every other column is that of the same seed without modes.

With ``epitomes`` (by default: when the network carries epitomes, e.g. from a plan; MODEL.md
section 11) every conv layer of every design draws a random epitome
(:func:`random_epitomes`, ``DesignBatch.epitome``) from a fourth generator seeded from
``seed``; the copies, macros and segments are then drawn for the arrays those epitomes
need. Every geometry is the network's configuration at each design's arrays
(:func:`costmodel.layer_map.layer_map`): its per-layer weight bits set the weight slices.
"""

from __future__ import annotations

import numpy as np

from costmodel.design import DesignBatch
from costmodel.epitome.mapping import ceil_div
from costmodel.layer_map import layer_map
from costmodel.macro_capacity import fewest_macros
from costmodel.segments import alone_in_segment, segment_sum, weight_tiles
from costmodel.sparsity.choices import mode_count
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology
from costmodel.array_figures import affordable_arrays
from costmodel.workload import Workload, build_workload
from onnx_frontend.network import Network

#: Largest batch drawn for a segmented design is 2 ** MAX_BATCH_LOG2.
MAX_BATCH_LOG2 = 6


def random_designs(network: Network, tech: Technology, power_w: float | None, n: int, seed: int = 0,
                   share_p: float = 0.2, macro_mode: str = "specialised", segmented: bool = False,
                   cut_p: float = 0.15, area_mm2: float | None = None, densities: Densities | None = None,
                   sparse_modes: bool = False, epitomes: bool | None = None) -> DesignBatch:
    """``n`` random designs within a power (W) and/or area (mm^2) budget (feasibility is
    not guaranteed: evaluate and filter); with ``segmented``, those whose network does
    not fit their budget once are segmented; ``densities``, ``sparse_modes`` and
    ``epitomes`` (None: when the network carries epitomes) as in the module docstring."""
    rng = np.random.default_rng(seed)
    wl = build_workload(network, tech, densities)
    tb = tech.tables
    L = wl.n_weighted
    si = rng.integers(len(tb.xbar_sizes), size=n)
    ci = rng.integers(len(tb.cell_bits), size=n)
    di = rng.integers(len(tb.dac_bits), size=n)
    ratio = rng.uniform(0.1, 0.4, size=n)
    adc = np.zeros(n, dtype=np.int64)
    if tech.sram is not None and tech.sram.searched_adc_bits:          # its own stream: others' draws unchanged
        adc = np.random.default_rng(np.random.SeedSequence([seed, 9])).choice(tech.sram.searched_adc_bits, size=n)
    globals_ = dict(rram_ratio=ratio, cell_bits=tb.cell_bits[ci], xbar_size=tb.xbar_sizes[si], dac_bits=tb.dac_bits[di],
                    adc_bits=adc)
    sizes = tech.global_buffer.sizes_kib
    buffer_kib = (np.random.default_rng(np.random.SeedSequence([seed, 10])).choice(sizes, size=n).astype(np.int64)
                  if len(sizes) > 1 else None)
    # the budget as resolve() counts it
    n_budget = affordable_arrays(tech, globals_, power_w, area_mm2)
    if epitomes is None:
        epitomes = bool((wl.epitomes[:, 0] > 0).any())
    epitome = random_epitomes(wl, np.random.default_rng(np.random.SeedSequence([seed, 12])), n) if epitomes else None
    m = layer_map(wl, tech, si, globals_["cell_bits"], globals_["dac_bits"], epitome)
    rg, cg = m.row_groups, m.col_groups
    slices = np.broadcast_to(m.slices, (n, L))
    sets = rg * cg * slices
    n_xbar = affordable_arrays(tech, globals_, power_w, area_mm2, eps=0.0)
    conv = ~wl.is_fc[wl.layer_of_w]
    pixels = wl.out_pixels[wl.layer_of_w]
    spare = np.maximum(n_xbar - sets.sum(1), 0) * rng.uniform(0.05, 1.0, size=n) ** 2
    weight = rng.dirichlet(np.ones(L), size=n) * conv
    weight /= np.maximum(weight.sum(1, keepdims=True), 1e-12)
    extra = np.floor(spare[:, None] * weight / sets)
    dup = np.where(conv, np.clip(1 + extra, 1, pixels), 1).astype(np.int64)
    limit = dup * rg * cg                                              # blocks: the most macros
    least = np.minimum(fewest_macros(limit, slices, tech.macro.max_crossbars), limit)
    macros = least + np.floor(rng.uniform(size=(n, L)) ** 2 * (limit - least + 1)).astype(np.int64)
    macros = np.minimum(macros, limit)
    share = _draw_sharing(rng, macros, limit, slices, tech.macro.max_crossbars, share_p)
    modes = (np.random.default_rng(np.random.SeedSequence([seed, 11])).integers(0, mode_count(tech), size=(n, L))
             if sparse_modes else None)
    big = (sets.sum(1) > n_budget) & segmented if L else np.zeros(n, dtype=bool)
    if not big.any():
        return DesignBatch(**globals_, dup=dup, macros=macros, share=share, buffer_kib=buffer_kib, sparse_mode=modes,
                           macro_mode=macro_mode, epitome=epitome)
    seg_rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
    idx = np.flatnonzero(big)
    cols = _segmented(seg_rng, wl, tech, rg[idx], cg[idx], slices[idx], n_budget[idx], share_p, cut_p)
    segment = np.zeros((n, L), dtype=np.int64)
    dataflow = np.zeros((n, L), dtype=np.int64)
    batch = np.ones(n, dtype=np.int64)
    dup[idx], macros[idx], share[idx], segment[idx], dataflow[idx] = (cols[k] for k in (
        "dup", "macros", "share", "segment", "dataflow"))
    batch[idx] = cols["batch"]
    return DesignBatch(**globals_, dup=dup, macros=macros, share=share, segment=segment, batch=batch,
                       dataflow=dataflow, buffer_kib=buffer_kib, sparse_mode=modes, macro_mode=macro_mode,
                       epitome=epitome)


#: Largest number of times :func:`random_epitomes` halves a layer's output or input channels.
MAX_HALVINGS = 2


def random_epitomes(wl: Workload, rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, L, 4)`` a random epitome ``(out, in, p, q)`` per conv layer of ``n`` designs
    (zeros for fc layers): ``out = ceil(C_out / 2^i)`` and ``in = ceil((C_in/g) / 2^k)``
    with ``i, k`` uniform in ``0 .. MAX_HALVINGS``, ``p = kh`` or ``kh + 1`` and ``q = kw``
    or ``kw + 1`` (one of the full kernel's own shape is the dense layer)."""
    d = wl.dims
    halvings = rng.integers(0, MAX_HALVINGS + 1, size=(n, wl.n_weighted, 2))
    grow = rng.integers(0, 2, size=(n, wl.n_weighted, 2))
    shape = np.stack([ceil_div(d.cout, 2 ** halvings[..., 0]), ceil_div(d.cin_g, 2 ** halvings[..., 1]),
                      d.kh + grow[..., 0], d.kw + grow[..., 1]], -1)
    return shape * d.is_conv[:, None]


def _draw_sharing(rng, macros, limit, slices, cap, share_p, segment=None):
    """(n, L) sharing partners: each layer shares an earlier unshared layer's macros (of
    its own segment, if ``segment`` is given) with probability ``share_p`` when the pair
    fits the macro rules (``slices`` (n, L): arrays per block of each layer)."""
    n, L = macros.shape
    share = np.full((n, L), -1, dtype=np.int64)
    taken = np.zeros((n, L), dtype=bool)
    rows = np.arange(n)
    for j in range(1, L):
        partner = rng.integers(0, j, size=n)
        pair = np.maximum(macros[:, j], macros[rows, partner])
        ok = (rng.uniform(size=n) < share_p) & ~taken[rows, partner] & (share[rows, partner] < 0) & ~taken[:, j]
        ok &= (pair <= limit[:, j]) & (pair <= limit[rows, partner])
        ok &= -(-limit[:, j] // pair) * slices[:, j] - (-limit[rows, partner] // pair) * slices[rows, partner] <= cap
        if segment is not None:
            ok &= segment[rows, partner] == segment[:, j]
        share[:, j] = np.where(ok, partner, -1)
        taken[rows[ok], partner[ok]] = True
        taken[ok, j] = True
    return share


def _segmented(rng, wl, tech: Technology, rg, cg, slices, n_budget, share_p: float, cut_p: float) -> dict:
    """Segmented columns (dup, macros, share, segment, dataflow (n, L), batch (n,)) of
    ``n`` designs whose one copy does not fit ``n_budget`` crossbars (``rg``, ``cg``,
    ``slices`` (n, L): each layer's row groups, column groups and arrays per block)."""
    n, L = len(n_budget), wl.n_weighted
    rows = np.arange(n)
    blocks1 = rg * cg                                                   # blocks of one copy
    sets = blocks1 * slices
    chip_blocks = np.floor(n_budget[:, None] / slices).astype(np.int64)
    huge = blocks1 > chip_blocks                                        # exceeds the chip alone: tiled
    # --- greedy packing, in layer order, with random extra boundaries -------------------------
    segment = np.zeros((n, L), dtype=np.int64)
    cur = np.zeros(n, dtype=np.int64)
    used = np.zeros(n)
    cut = rng.uniform(size=(n, L)) < cut_p
    for j in range(L):
        if j:
            new = (used > 0) & (huge[:, j] | huge[:, j - 1] | (used + sets[:, j] > n_budget) | cut[:, j])
            cur = cur + new
            used = np.where(new, 0.0, used)
        segment[:, j] = cur
        used = used + sets[:, j]
    # --- duplication within each segment's spare crossbars ------------------------------------
    conv = ~wl.is_fc[wl.layer_of_w] & ~huge
    pixels = wl.out_pixels[wl.layer_of_w]
    S = int(segment[:, -1].max()) + 1
    seg_sets = segment_sum(sets.astype(float), segment, S)
    spare = np.maximum(n_budget[:, None] - seg_sets, 0) * rng.uniform(0.05, 1.0, size=(n, S)) ** 2
    weight = rng.dirichlet(np.ones(L), size=n) * conv
    seg_weight = segment_sum(weight, segment, S)
    weight = weight / np.maximum(seg_weight[rows[:, None], segment], 1e-12)
    extra = np.floor(spare[rows[:, None], segment] * weight / sets)
    dup = np.where(conv, np.clip(1 + extra, 1, pixels), 1).astype(np.int64)
    # --- macros: a tiled layer's limit is one tile's blocks ------------------------------------
    tiles = weight_tiles(dup * blocks1, rg, cg, alone_in_segment(segment), chip_blocks)
    limit = tiles.blocks
    least = np.minimum(fewest_macros(limit, slices, tech.macro.max_crossbars), limit)
    macros = least + np.floor(rng.uniform(size=(n, L)) ** 2 * (limit - least + 1)).astype(np.int64)
    macros = np.minimum(macros, limit)
    share = _draw_sharing(rng, macros, limit, slices, tech.macro.max_crossbars, share_p, segment)
    return {
        "dup": dup, "macros": macros, "share": share, "segment": segment,
        "batch": 2 ** rng.integers(0, MAX_BATCH_LOG2 + 1, size=n),
        "dataflow": rng.integers(0, 3, size=(n, L)),
    }
