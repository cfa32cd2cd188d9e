"""What a design's sparsity modes buy: the synth report's sparsity section (MODEL.md 10).

:func:`sparsity_comparison` scores one design three ways at its budgets: as designed (its
per-layer modes on the densities), without sparsity support (every mode ``none``, the
same densities: structured zeros still need no arrays) and under the dense model (no
densities: every weight and input non-zero), and lists per layer its mode and the shares
of work it skips. :func:`sparsity_markdown` writes it as the report's section and
:func:`plot_skipped` draws the per-layer skipped shares (``sparsity.png``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tabulate import tabulate

from costmodel.design import DesignBatch
from costmodel.evaluator import evaluate
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology
from onnx_frontend.network import Network
from search.reports.style import pyplot

#: the skipped shares of a layer, with their headings (``skipped_share`` keys of evaluate's layers)
SKIPPED = (("input_cycles", "input cycles"), ("adc_conversions", "ADC conversions"),
           ("row_drives", "row drives"), ("crossbars", "arrays"))
#: the figures compared, with their headings
FIGURES = (("tops_per_watt", "TOPS/W"), ("throughput_ips", "inferences/s"), ("energy_j", "energy/inference J"),
           ("area_mm2", "area mm^2"))


def sparsity_comparison(network: Network, tech: Technology, batch: DesignBatch, densities: Densities | None,
                        power_w: float | None, area_mm2: float | None) -> dict:
    """Design 0 of ``batch`` as designed, without sparsity support and under the dense model:
    ``{"source", "variants": {name: metrics or {"reason"}}, "layers": [...]}``."""
    design = batch.subset(0)
    plain = dataclasses.replace(design, sparse_mode=np.zeros_like(design.sparse_mode))
    runs = {"as designed": (design, densities), "no sparsity support": (plain, densities), "dense model": (plain, None)}
    variants, layers = {}, []
    for name, (b, d) in runs.items():
        r = evaluate(network, tech, b, power_w, area_mm2=area_mm2, densities=d)
        m = r.metrics(0)
        variants[name] = {"reason": m["reason"], **{k: float(getattr(r, k)[0]) for k, _ in FIGURES}}
        if name == "as designed":
            layers = [{"name": row["name"], "sparsity": row.get("sparsity", "none"),
                       **{k: row.get("skipped_share", {}).get(k, 0.0) for k, _ in SKIPPED}} for row in m["layers"]]
    return {"source": "dense" if densities is None else densities.source, "variants": variants, "layers": layers}


def sparsity_markdown(comparison: dict) -> str:
    """The report section: the three variants side by side, then one row per layer."""
    rows = []
    for name, v in comparison["variants"].items():
        rows.append([name, *(f"{v[k]:.4g}" if v["reason"] == "ok" else "-" for k, _ in FIGURES),
                     "" if v["reason"] == "ok" else v["reason"]])
    base = comparison["variants"]["no sparsity support"]
    ours = comparison["variants"]["as designed"]
    gain = (f"\nSparsity support gives {ours['tops_per_watt'] / base['tops_per_watt']:.3f}x the TOPS/W and "
            f"{ours['throughput_ips'] / base['throughput_ips']:.3f}x the throughput of the same design without it.\n"
            if ours["reason"] == base["reason"] == "ok" else "")
    layer_rows = [[l["name"], l["sparsity"], *(f"{100 * l[k]:.1f} %" for k, _ in SKIPPED)] for l in comparison["layers"]]
    return (f"## Sparsity\n\nDensities: {comparison['source']}.\n\n"
            + tabulate(rows, headers=["design", *(h for _, h in FIGURES), "infeasible"], tablefmt="github") + "\n"
            + gain + "\nWork each layer's mode skips (shares of the same mode's work without zeros; arrays: of one "
            "copy, removed by structured zeros):\n\n"
            + tabulate(layer_rows, headers=["layer", "mode", *(h for _, h in SKIPPED)], tablefmt="github") + "\n")


def plot_skipped(comparison: dict, path: Path) -> None:
    """Grouped bars of each layer's skipped shares (%), one colour per kind of work."""
    plt = pyplot()
    layers = comparison["layers"]
    x = np.arange(len(layers))
    width = 0.8 / len(SKIPPED)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(layers) + 2), 3.6))
    for i, (key, label) in enumerate(SKIPPED):
        ax.bar(x + (i - (len(SKIPPED) - 1) / 2) * width, [100 * l[key] for l in layers], width, label=label)
    ax.set_xticks(x, [f"{l['name']} ({l['sparsity']})" for l in layers], rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("skipped, % of the mode's dense work")
    ax.set_ylim(0, 100)
    ax.set_title(f"Work skipped per layer ({comparison['source']})", fontsize=9)
    ax.legend(fontsize=7, ncol=len(SKIPPED))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
