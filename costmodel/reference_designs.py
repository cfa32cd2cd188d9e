"""Reference designs a synthesis is judged against, sized for a network and a budget.

- ``no-dup``: every layer one copy of its weights.
- ``heuristic``: duplication proportional to ``H_out * W_out`` (the published baseline),
  scaled to use the crossbar budget.
- ``isaac``: ISAAC's organisation mapped onto the template: 128x128 crossbars, 2-bit
  cells, 1-bit DACs, 8-bit ADCs, tiles (= macros) of 12 IMAs x 8 crossbars, one ADC per
  crossbar, 4 shift-and-add units per IMA plus one per tile, 2 activation units, one
  pool, adder and eltwise unit per tile, HyperTransport off-chip links. As many tiles as
  the budgets pay for; duplication by the heuristic within the tiles' crossbars.

Every design is sized for a power budget ``power_w`` (W), an area budget ``area_mm2``
(mm^2) or both (None: no budget of that kind): the crossbar budget is the smaller count
the crossbar share of each pays for (:func:`costmodel.budgets.crossbars_affordable`).
With ``densities`` (``--sparsity``, MODEL.md section 10) the designs map the weights
without their structured zero rows and columns and are scored with the densities, as a
sparsity-aware synthesis scores its own; their layers exploit no zeros (mode none), so a
comparison against them is like for like in geometry and shows what the modes gain.

``no-dup`` and ``heuristic`` take the closed-form peripheral allocation and, like any
architecture point, the best (rram_ratio, cell_bits, xbar_size, dac_bits) of PIMSYN's
grid for their duplication rule: every point is evaluated in one batch. Where no point
holds one copy of the weights, they run in segments (MODEL.md section 8): the layers
packed in order into the crossbar budget, a layer larger than it alone and tiled,
``batch`` inferences per segment run, the heuristic's copies per segment.
"""

from __future__ import annotations

from itertools import product

import numpy as np

from costmodel.array_figures import affordable_arrays
from costmodel.budgets import budget_fix, budget_text, given
from costmodel.design import COMPONENTS, DesignBatch, DesignError
from costmodel.epitome.mapping import weight_slices
from costmodel.evaluator import evaluate
from costmodel.fixes import fix_for
from costmodel.macro_capacity import fewest_macros
from costmodel.segments import alone_in_segment, copies_filling_segments, greedy_segments, weight_tiles
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology, load_technology
from costmodel.workload import build_workload
from onnx_frontend.network import Network

REFERENCE_DESIGNS = ("isaac", "no-dup", "heuristic")
RRAM_RATIOS = (0.15, 0.2, 0.25, 0.3)       # PIMSYN's grid
ISAAC = {"xbar_size": 128, "cell_bits": 2, "dac_bits": 1, "imas": 12, "xbars_per_ima": 8,
         "shift_add_per_ima": 4}
ISAAC_TILE_CROSSBARS = ISAAC["imas"] * ISAAC["xbars_per_ima"]   # 96: a macro of the reference designs


#: Inferences per segment run of a reference design that reloads (the search's largest batch).
REFERENCE_BATCH = 64


def reference_design(name: str, network: Network, tech: Technology | str, power_w: float | None,
                     batch: int = REFERENCE_BATCH, area_mm2: float | None = None,
                     densities: Densities | None = None) -> DesignBatch:
    """One design (a batch of 1) by reference-design name, sized for ``power_w`` W and/or
    ``area_mm2`` mm^2 (with ``densities``: see the module docstring)."""
    tech = load_technology(tech)
    if name == "isaac":
        return isaac_design(network, tech, power_w, area_mm2, densities)
    if name in ("no-dup", "heuristic"):
        return best_on_grid(network, tech, power_w, heuristic=name == "heuristic", batch=batch, area_mm2=area_mm2,
                            densities=densities)
    raise DesignError(f"unknown reference design {name!r}; choose one of {REFERENCE_DESIGNS} or a JSON file")


def layer_slices(wl, tech: Technology, cell_bits) -> np.ndarray:
    """(N, L) crossbars one weight of each layer takes at cell resolutions ``cell_bits``
    (N,): ``ceil(bits / cell_bits)`` at the layer's own precision (a plan's, else the
    technology's); 1 for SRAM."""
    return weight_slices(wl.weight_bits[None, :], np.atleast_1d(cell_bits)[:, None], tech.sram is not None)


def heuristic_dup(network: Network, tech: Technology, xbar_size, cell_bits, n_xbar,
                  densities: Densities | None = None) -> np.ndarray:
    """``(N, L)`` duplication proportional to ``H_out * W_out`` that fits ``n_xbar`` crossbars.

    Conv layer copies are ``max(1, floor(alpha * H_out * W_out))`` (at most ``H_out*W_out``)
    with the largest ``alpha`` that fits, found by bisection for all N at once; fc layers
    keep one copy. Designs whose single copies do not fit get all ones. ``densities``:
    copies of the weights without their structured zeros (MODEL.md section 10).
    """
    wl = build_workload(network, tech, densities)
    xbar_size, cell_bits = np.atleast_1d(xbar_size), np.atleast_1d(cell_bits)
    n_xbar = np.broadcast_to(np.asarray(n_xbar, dtype=float), xbar_size.shape)
    si = np.searchsorted(tech.tables.xbar_sizes, xbar_size)
    sets = wl.row_groups[si] * wl.col_groups[si] * layer_slices(wl, tech, cell_bits)      # (N, L)
    pixels = wl.out_pixels[wl.layer_of_w].astype(float)
    conv = ~wl.is_fc[wl.layer_of_w]

    def dup_for(alpha: np.ndarray) -> np.ndarray:
        d = np.clip(np.floor(alpha[:, None] * pixels), 1, pixels)
        return np.where(conv, d, 1).astype(np.int64)

    lo, hi = np.zeros(len(n_xbar)), np.ones(len(n_xbar))
    for _ in range(60):
        mid = (lo + hi) / 2
        fits = (dup_for(mid) * sets).sum(1) <= n_xbar
        lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
    return dup_for(lo)


def default_macros(network: Network, tech: Technology, dup: np.ndarray, xbar_size, cell_bits,
                   densities: Densities | None = None) -> np.ndarray:
    """``(N, L)`` macros per layer: its crossbars in macros of ISAAC's tile (96 crossbars,
    or the technology's ``macro.max_crossbars`` if smaller), whole blocks per macro."""
    wl = build_workload(network, tech, densities)
    si = np.searchsorted(tech.tables.xbar_sizes, np.atleast_1d(xbar_size))
    blocks = dup * wl.row_groups[si] * wl.col_groups[si]
    return fewest_macros(blocks, layer_slices(wl, tech, cell_bits), min(ISAAC_TILE_CROSSBARS, tech.macro.max_crossbars))


def best_on_grid(network: Network, tech: Technology, power_w: float | None, heuristic: bool,
                 batch: int = REFERENCE_BATCH, area_mm2: float | None = None,
                 densities: Densities | None = None) -> DesignBatch:
    """The best-TOPS/W design of PIMSYN's global grid with heuristic or no duplication
    (segmented, ``batch`` inferences per segment run, where no point holds one copy),
    scored with ``densities`` (None: dense)."""
    adcs = (tech.sram.searched_adc_bits if tech.sram is not None else ()) or (0,)
    grid = list(product(RRAM_RATIOS, tech.cell_bits_options, tech.xbar_sizes, tech.dac_bits_options, adcs))
    r, c, s, d, a = (np.array(col) for col in zip(*grid))
    L = build_workload(network, tech, densities).n_weighted
    n_xbar = affordable_arrays(tech, {"rram_ratio": r, "xbar_size": s, "cell_bits": c, "dac_bits": d, "adc_bits": a},
                               power_w, area_mm2, eps=0.0)
    dup = (heuristic_dup(network, tech, s, c, n_xbar, densities) if heuristic
           else np.ones((len(grid), L), dtype=np.int64))
    designs = DesignBatch(rram_ratio=r, cell_bits=c, xbar_size=s, dac_bits=d, adc_bits=a, dup=dup,
                          macros=default_macros(network, tech, dup, s, c, densities), share=np.full((len(grid), L), -1))
    res = evaluate(network, tech, designs, power_w, area_mm2=area_mm2, densities=densities)
    if not res.feasible.any() and (res.reason == 3).any():          # some points cannot hold one copy
        designs = segmented_on_grid(network, tech, designs, n_xbar, heuristic, batch, densities)
        res = evaluate(network, tech, designs, power_w, area_mm2=area_mm2, densities=densities)
    if not res.feasible.any():
        reasons = sorted({res.reason_name(i) for i in range(len(res))})
        within = f"{power_w} W" if not given(area_mm2) else budget_text(power_w, area_mm2)
        raise DesignError(f"no {'heuristic' if heuristic else 'no-dup'} design of {network.name} fits "
                          f"{within} (reasons: {', '.join(reasons)}); "
                          f"{fix_for(reasons, budget_fix(power_w, area_mm2))}")
    return designs.subset(int(np.argmax(res.tops_per_watt)))


def segmented_on_grid(network: Network, tech: Technology, designs: DesignBatch, n_xbar: np.ndarray,
                      heuristic: bool, batch: int, densities: Densities | None = None) -> DesignBatch:
    """``designs`` (the grid's points) run in segments: layers packed in order into each
    point's ``n_xbar`` crossbars, copies by the heuristic per segment (or one), macros of
    ISAAC's tile for each layer's resident tile, weight-stationary, ``batch``."""
    wl = build_workload(network, tech, densities)
    si = np.searchsorted(tech.tables.xbar_sizes, designs.xbar_size)
    slices = layer_slices(wl, tech, designs.cell_bits)                  # (N, L)
    rg, cg = wl.row_groups[si], wl.col_groups[si]
    sets = rg * cg * slices
    seg = greedy_segments(sets, n_xbar)
    pixels = wl.out_pixels[wl.layer_of_w].astype(float)
    fits = sets <= n_xbar[:, None]
    dup = np.ones_like(sets)
    if heuristic:
        top = np.where(~wl.is_fc[wl.layer_of_w] & fits, pixels, 1)
        room = np.repeat(n_xbar[:, None], int(seg[:, -1].max()) + 1, 1)
        dup = copies_filling_segments(sets, seg, room, pixels, top)
    tiles = weight_tiles(dup * rg * cg, rg, cg, alone_in_segment(seg),
                         np.floor(n_xbar[:, None] / slices).astype(np.int64))
    macros = fewest_macros(tiles.blocks, slices, min(ISAAC_TILE_CROSSBARS, tech.macro.max_crossbars))
    return DesignBatch(rram_ratio=designs.rram_ratio, cell_bits=designs.cell_bits, xbar_size=designs.xbar_size,
                       dac_bits=designs.dac_bits, adc_bits=designs.adc_bits, dup=dup, macros=np.minimum(macros, tiles.blocks),
                       share=designs.share, segment=seg, batch=batch)


def isaac_design(network: Network, tech: Technology, power_w: float | None,
                 area_mm2: float | None = None, densities: Densities | None = None) -> DesignBatch:
    """ISAAC's organisation with as many tiles as ``power_w`` W and/or ``area_mm2`` mm^2
    pay for (see module doc), scored with ``densities`` (None: dense)."""
    if tech.sram is not None:
        raise DesignError(f"isaac is a ReRAM crossbar organisation; {tech.name} is an SRAM family "
                          "(use heuristic or no-dup)")
    wl = build_workload(network, tech, densities)
    L = wl.n_weighted
    per_tile = ISAAC_TILE_CROSSBARS
    s, c, d = ISAAC["xbar_size"], ISAAC["cell_bits"], ISAAC["dac_bits"]
    row = tech.crossbar_row(s, c)
    xbar_peak, xbar_area = row.peak_power_w, row.area_mm2
    most = []                                             # tiles each budget's crossbars alone allow
    if given(power_w):
        most.append(int(power_w / (per_tile * xbar_peak)))
    if given(area_mm2) and xbar_area > 0:
        most.append(int(area_mm2 / (per_tile * xbar_area)))
    tiles = np.arange(1, min(most, default=0) + 2)
    n = len(tiles)
    dup = heuristic_dup(network, tech, np.full(n, s), np.full(n, c), tiles * per_tile, densities)
    slices = layer_slices(wl, tech, c)[0]                               # (L,)
    si = tech.xbar_sizes.index(s)
    blocks = dup * wl.row_groups[si] * wl.col_groups[si]
    xbars = blocks * slices
    macros = fewest_macros(blocks, slices, min(per_tile, tech.macro.max_crossbars))
    counts = np.zeros((n, L, len(COMPONENTS)))
    ix = {name: i for i, name in enumerate(COMPONENTS)}
    counts[..., ix["adc"]] = xbars
    counts[..., ix["shift_add"]] = xbars * ISAAC["shift_add_per_ima"] / ISAAC["xbars_per_ima"] + macros
    sigmoid = 2 if (wl.act_kind == 2).any() else 0   # ISAAC's 2 sigmoid units serve either kind
    for name, per_macro in (("addition", 1), ("activation", 2), ("sigmoid", sigmoid), ("pool", 1), ("eltwise", 1)):
        counts[..., ix[name]] = per_macro * macros
    # the crossbar share that pays for the crossbars: of each budget, the larger
    share = xbars.sum(1) * xbar_peak / (power_w if given(power_w) else np.inf)
    if given(area_mm2):
        share = np.maximum(share, xbars.sum(1) * xbar_area / area_mm2)
    batch = DesignBatch(
        rram_ratio=np.minimum(1.0, share + 1e-9),
        cell_bits=c, xbar_size=s, dac_bits=d, dup=dup, macros=macros,
        share=np.full((n, L), -1), offchip_links=np.ones(n), counts=counts,
    )
    res = evaluate(network, tech, batch, power_w, area_mm2=area_mm2, densities=densities)
    ok = np.flatnonzero(res.feasible & (macros.sum(1) <= tiles))
    if len(ok) == 0:
        within = f"{power_w} W" if not given(area_mm2) else budget_text(power_w, area_mm2)
        raise DesignError(f"ISAAC's organisation cannot hold {network.name} within {within}; "
                          f"{budget_fix(power_w, area_mm2)}")
    return batch.subset(int(ok[-1]))
