"""What a design's epitomes buy: the synth report's Epitomes section (MODEL.md section 11).

:func:`epitome_layers` lists, per weighted layer of one design, its epitome shape (or
dense) and precision, its compression (full weights / stored weights), the crossbars of
one copy dense (the layer's full kernel at the technology's precision, at the design's
array shape and cell resolution) and as designed (the reduction), its passes per output
pixel, its copies, and what its address tables and routing muxes cost (energy per
inference, area). :func:`epitome_comparison` adds the network-wide compression and, in an
epitome search, the dense synthesis at the same budget, effort and seed (the first stage
of the same run, :mod:`search.synth.epitome_stage`): both designs' TOPS/W, TOPS,
throughput and area. :func:`epitome_markdown` writes the report section and
:func:`plot_epitomes` draws ``epitomes.png`` (per-layer crossbar reduction and passes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from costmodel.array_figures import array_figures
from costmodel.design import DesignBatch
from costmodel.epitome.overheads import epitome_overheads
from costmodel.evaluator import Results
from costmodel.layer_map import layer_map
from search.reports.style import pyplot
from space import DesignSpace

#: the figures of the two syntheses compared, with their headings
FIGURES = (("tops_per_watt", "TOPS/W"), ("tops", "TOPS"), ("throughput_ips", "inferences/s"),
           ("area_mm2", "area mm^2"), ("energy_j", "energy/inference J"))


def epitome_layers(space: DesignSpace, batch: DesignBatch, res: Results) -> list[dict]:
    """Design 0's weighted layers (module docstring), one dict each."""
    net, tech = space.network, space.tech
    r = res.resolved
    wl = r.workload
    m = r.layer_map
    L = wl.n_weighted
    si = array_figures(tech, batch.subset(0)).size_index
    dense = layer_map(wl, tech, si, batch.cell_bits[:1], batch.dac_bits[:1], np.zeros((1, L, 4), dtype=np.int64),
                      np.full((1, L), tech.precision.weight_bits, dtype=np.int64))

    def per_design(a):
        a = np.asarray(a)
        return a[0] if a.ndim == 2 else np.broadcast_to(a, (1, L))[0]

    copy_dense = per_design(dense.row_groups * dense.col_groups * dense.slices)
    copy_now = per_design(m.row_groups * m.col_groups * m.slices)
    st = m.stored
    passes, weights = per_design(st.passes), per_design(st.weights)
    bits = per_design(m.weight_bits)
    lw = wl.layer_of_w
    energy_pj = np.zeros(L)
    area = np.zeros(L)
    if "epitome_pj" in r.work:
        occurrences = (r.steps * r.iterations * r.work["epitome_pj"])[0, lw]
        energy_pj = np.asarray(occurrences, dtype=float)
        copies = batch.dup[:1].astype(np.float32)                       # tables and muxes: every copy's
        over = epitome_overheads(tech, m, copies, copies, r.crossbars[:1, lw].astype(float),
                                 r.xbar_size[:1].astype(float), np.zeros((1, L)), np.zeros((1, L)),
                                 r.tiles.count[:1])
        area = np.asarray(over.area_mm2, dtype=float)[0]
        energy_pj = energy_pj + np.asarray(over.static_w, dtype=float)[0] * float(res.interval_s[0]) * 1e12
    shapes = batch.epitome[0] if batch.epitome is not None else np.array(
        [[l.epitome.out, l.epitome.in_, l.epitome.p, l.epitome.q] if l.epitome else [0] * 4
         for l in net.weighted_layers], dtype=np.int64)
    epitome_on = per_design(st.epitome)
    rows = []
    for j, layer in enumerate(net.weighted_layers):
        full = layer.weights
        shape = "dense" if not epitome_on[j] else "x".join(str(int(v)) for v in shapes[j])
        rows.append({
            "name": layer.name, "kind": layer.kind, "epitome": shape, "weight_bits": int(bits[j]),
            "compression": float(full / max(int(weights[j]), 1)),
            "bit_compression": float(full * tech.precision.weight_bits / max(int(weights[j]) * int(bits[j]), 1)),
            "crossbars_dense": int(copy_dense[j]), "crossbars": int(copy_now[j]),
            "crossbar_reduction": float(copy_dense[j] / max(int(copy_now[j]), 1)),
            "passes": int(passes[j]), "copies": int(batch.dup[0, j]),
            "overhead_energy_j": float(energy_pj[j]) * 1e-12, "overhead_area_mm2": float(area[j]),
        })
    return rows


def epitome_comparison(space: DesignSpace, batch: DesignBatch, res: Results, dense: dict | None,
                       searched: bool) -> dict:
    """The section's content: ``layers`` (:func:`epitome_layers`), the network-wide
    ``stored_weight_compression`` (values) and ``stored_bit_compression`` (bits), the
    totals of the epitome datapath, and, given ``dense`` (the dense synthesis' best trial:
    ``{"trial", "value", "metrics"}``), ``designs``: both syntheses' figures and the
    ratios. ``searched``: an epitome search (else the network's own epitomes, a plan)."""
    layers = epitome_layers(space, batch, res)
    m = res.metrics(0)
    full = sum(l.weights for l in space.network.weighted_layers)
    stored = sum(layer.weights / l["compression"] for l, layer in zip(layers, space.network.weighted_layers))
    stored_bits = sum(layer.weights * space.tech.precision.weight_bits / l["bit_compression"]
                      for l, layer in zip(layers, space.network.weighted_layers))
    comp = m["energy_j"]["by_component"].get("epitome", {})
    out = {
        "searched": searched,
        "setting": space.epitomes.spec.text() if space.epitomes is not None else "the network's own epitomes (a plan)",
        "layers": layers,
        "epitome_layers": int(sum(l["epitome"] != "dense" for l in layers)),
        "stored_weight_compression": float(full / max(stored, 1e-12)),
        "stored_bit_compression": float(full * space.tech.precision.weight_bits / max(stored_bits, 1e-12)),
        "crossbars_one_copy_dense": int(sum(l["crossbars_dense"] for l in layers)),
        "crossbars_one_copy": int(sum(l["crossbars"] for l in layers)),
        "overhead_energy_j": float(comp.get("dynamic", 0.0)) + float(comp.get("static", 0.0)),
        "overhead_area_mm2": float(m["area_mm2"]["by_component"].get("epitome", 0.0)),
    }
    if space.epitomes is not None and space.epitomes.has_table:
        e, b = space.choice_indices(_indices_of(space, batch))
        out["accuracy_use"] = float(space.epitomes.drops(e, b).sum())
        out["accuracy_budget"] = float(space.epitomes.budget)
        out["accuracy_metric"] = space.epitomes.spec.table.metric
    if dense is not None:
        dm = dense["metrics"]
        designs = {"dense synthesis": {"trial": dense["trial"], **_figures(dm)},
                   "epitome synthesis": {"trial": dense.get("best_trial"), **_figures(m)}}
        out["designs"] = designs
        out["gain"] = {k: (designs["epitome synthesis"][k] / designs["dense synthesis"][k]
                           if designs["dense synthesis"][k] else None) for k, _ in FIGURES}
    return out


def _figures(m: dict) -> dict:
    return {k: float(m[k]["total"] if isinstance(m[k], dict) else m[k]) for k, _ in FIGURES}


def _indices_of(space: DesignSpace, batch: DesignBatch) -> np.ndarray:
    """A row of ``space`` holding design 0's epitome and precision indices (the rest 0)."""
    X = np.zeros((1, space.dims), dtype=np.int64)
    ch = space.epitomes
    for j in range(len(space.epitome_cols)):
        if space.epitome_cols[j] >= 0:
            hit = np.flatnonzero((ch.shapes[j, :ch.count[j]] == batch.epitome[0, j]).all(1))
            X[0, space.epitome_cols[j]] = int(hit[0]) if len(hit) else 0
        if space.wbits_cols[j] >= 0:
            hit = np.flatnonzero(ch.bits[j, :ch.nbits[j]] == batch.weight_bits[0, j])
            X[0, space.wbits_cols[j]] = int(hit[0]) if len(hit) else 0
    return X


def epitome_markdown(c: dict) -> str:
    """The report section (see :func:`epitome_comparison`)."""
    lines = ["## Epitomes", ""]
    if c["searched"]:
        lines += [f"Each conv layer's epitome was searched ({c['setting']}), starting from the dense synthesis' best "
                  "design of every outer point and DAC resolution; every layer dense was always a candidate, so the "
                  "result is never worse than the dense synthesis at the same budget, effort and seed.", ""]
    else:
        lines += [f"Epitomes: {c['setting']}.", ""]
    if "designs" in c:
        d = c["designs"]
        rows = [[name, "-" if v["trial"] is None else v["trial"], *(f"{v[k]:.4g}" for k, _ in FIGURES)]
                for name, v in d.items()]
        rows.append(["epitome / dense", "", *("-" if c["gain"][k] is None else f"{c['gain'][k]:.3f}x"
                                              for k, _ in FIGURES)])
        lines += ["Against the dense synthesis at the same budget:", "",
                  tabulate(rows, headers=["design", "trial", *(h for _, h in FIGURES)], tablefmt="github"), ""]
    lines += [f"{c['epitome_layers']} of {len(c['layers'])} weighted layers store an epitome; the network stores "
              f"{c['stored_weight_compression']:.2f}x fewer weight values ({c['stored_bit_compression']:.2f}x fewer "
              f"weight bits) than the dense one; one copy of every layer takes {c['crossbars_one_copy']:,} crossbars "
              f"instead of {c['crossbars_one_copy_dense']:,} "
              f"({c['crossbars_one_copy_dense'] / max(c['crossbars_one_copy'], 1):.2f}x fewer). The address tables "
              f"and routing muxes cost {c['overhead_energy_j'] * 1e6:.3g} uJ per inference and "
              f"{c['overhead_area_mm2']:.3g} mm^2.", ""]
    if "accuracy_use" in c:
        unit = " pp" if c["accuracy_metric"] == "accuracy_drop" else ""
        lines += [f"Accuracy table: the chosen configurations add up to {c['accuracy_use']:.4g}{unit} of "
                  f"{c['accuracy_metric'].replace('_', ' ')} (budget {c['accuracy_budget']:.4g}{unit}).", ""]
    rows = [[l["name"], l["epitome"], l["weight_bits"], f"{l['compression']:.2f}x", l["crossbars_dense"],
             l["crossbars"], f"{l['crossbar_reduction']:.2f}x", l["passes"], l["copies"],
             f"{l['overhead_energy_j'] * 1e9:.3g}", f"{l['overhead_area_mm2']:.3g}"] for l in c["layers"]]
    lines += ["Per layer (crossbars of one copy; dense: the full kernel at the technology's precision on the same "
              "arrays; passes per output pixel; overheads: address tables and routing muxes of all copies, dynamic "
              "and static energy per inference):", "",
              tabulate(rows, headers=["layer", "epitome", "weight bits", "compression", "crossbars dense",
                                      "crossbars", "reduction", "passes", "copies", "overhead nJ/inference",
                                      "overhead mm^2"], tablefmt="github"), ""]
    return "\n".join(lines) + "\n"


def plot_epitomes(c: dict, path: Path) -> None:
    """Per layer: the crossbar reduction of one copy (bars, left axis) and the passes per
    output pixel (dots, right axis)."""
    plt = pyplot()
    layers = c["layers"]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(layers) + 2), 3.8))
    ax.bar(x, [l["crossbar_reduction"] for l in layers], color="tab:blue", label="crossbar reduction (one copy)")
    ax.set_ylabel("crossbars dense / as designed")
    ax.axhline(1.0, color="k", lw=0.6)
    ax2 = ax.twinx()
    ax2.plot(x, [l["passes"] for l in layers], "o", color="tab:red", label="passes per output pixel")
    ax2.set_ylabel("passes per output pixel")
    ax2.set_ylim(bottom=0)
    ax.set_xticks(x, [f"{l['name']} ({l['epitome']})" for l in layers], rotation=70, ha="right", fontsize=7)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="upper left")
    ax.set_title("Epitomes per layer", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
