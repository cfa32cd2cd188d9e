"""Plain-data tables describing one evaluated design (no rendering).

``design_summary(network, results, n, batch)`` gathers what a report shows about design
``n``: its globals, one row per layer (allocation and timing), energy / peak power / area
by component, the bottleneck layer and the headline metrics. Every value is a plain
Python number, string or bool; every column name carries its unit (``_ns``, ``_us``,
``_j``, ``_w``, ``_mm2``, ``_pct``, ``_kib``) or is a count. The CLI renders it with rich,
the synthesis report with markdown.
"""

from __future__ import annotations

import math

import numpy as np

from costmodel.design import COMPONENTS, DesignBatch
from costmodel.evaluator import Results
from onnx_frontend.network import Network

#: One-line explanation of every infeasibility reason (``costmodel.resolve.REASONS``).
REASON_TEXT: dict[str, str] = {
    "ok": "feasible",
    "invalid_partition": "macro counts or sharing break the partition rules",
    "adc_resolution": "no ADC in the technology is precise enough for this crossbar/DAC/cell choice",
    "weights_do_not_fit": "the weights need more crossbars than the crossbar budget pays for",
    "scratchpad_capacity": "a macro needs more scratchpad than the largest size offered",
    "peripheral_power": "nothing is left of the budget for the peripheral units",
    "over_budget": "the explicit component counts exceed the power budget",
    "missing_component": "the explicit counts give a component that has work no units",
    "macro_capacity": "a macro holds more crossbars than the technology's macro.max_crossbars; give the layer more macros",
}


def _f(x) -> float:
    return float(x)


def _share(part: float, total: float) -> float:
    """``100 * part / total`` (percent); 0 when the total is 0 or not finite."""
    return 100.0 * part / total if total and math.isfinite(total) else 0.0


def design_summary(network: Network, results: Results, n: int, batch: DesignBatch) -> dict:
    """Tables of design ``n`` of ``results`` (``batch`` is the evaluated batch).

    Returns a dict with keys ``network``, ``globals``, ``layers`` (one row per layer in
    network order), ``energy``, ``peak_power``, ``area`` (one row per component, with
    ``share_pct`` of the total), ``bottleneck`` (the layer with the largest busy time)
    and ``metrics`` (``results.metrics(n)``). ``batch`` is needed because the results do
    not carry the design's globals (cell bits, DAC bits, rram_ratio, macro mode).
    """
    r, t = results.resolved, results.timing
    wl = r.workload
    layers = network.layers
    interval_ns = _f(t.interval_ns[n])
    host = r.host[n]                                   # (La,) weighted position of each layer's set
    share = r.share[n]                                 # (L,)
    partner = {}
    for j, i in enumerate(share.tolist()):
        if i >= 0:
            a, b = int(wl.layer_of_w[j]), int(wl.layer_of_w[i])
            partner[a], partner[b] = layers[b].name, layers[a].name
    counts = r.counts[n]                               # (L, C)
    adc = COMPONENTS.index("adc")

    rows = []
    busy_ns = t.busy_ns[n].astype(float)
    bottleneck = int(np.argmax(np.where(np.isfinite(busy_ns), busy_ns, -np.inf))) if len(busy_ns) else 0
    for l, layer in enumerate(layers):
        k = int(host[l])
        steps = _f(r.steps[n, l])
        busy = _f(busy_ns[l])
        rows.append({
            "index": l,
            "name": layer.name,
            "kind": layer.kind,
            "dup": int(r.dup[n, l]),
            "crossbars": int(r.crossbars[n, l]),
            "macro_set": layers[int(wl.layer_of_w[k])].name,
            "shares_with": partner.get(l, "-"),
            "set_macros": int(r.set_macros[n, k]),
            "set_adcs": int(counts[k, adc]),
            "set_vector_units": int(counts[k].sum() - counts[k, adc]),
            "steps": int(steps),
            "busy_per_step_ns": busy / steps if steps else 0.0,
            "busy_us": busy * 1e-3,
            "span_us": _f(t.finish_ns[n, l] - t.start_ns[n, l]) * 1e-3,
            "busy_share_pct": _share(busy, interval_ns),
            "bottleneck": l == bottleneck,
        })

    energy_total = _f(results.energy_j[n])
    energy = []
    for c, parts in results.energy_by_component_j.items():
        s, d = _f(parts["static"][n]), _f(parts["dynamic"][n])
        energy.append({"component": c, "static_j": s, "dynamic_j": d, "total_j": s + d,
                       "share_pct": _share(s + d, energy_total)})
    peak_total = _f(results.peak_power_w[n])
    peak = [{"component": c, "peak_w": _f(v[n]), "share_pct": _share(_f(v[n]), peak_total)}
            for c, v in results.peak_power_by_component_w.items()]
    area_total = _f(results.area_mm2[n])
    area = [{"component": c, "area_mm2": _f(v[n]), "share_pct": _share(_f(v[n]), area_total)}
            for c, v in results.area_by_component_mm2.items()]

    metrics = results.metrics(n)
    reason = metrics["reason"]
    adc_bits = _f(r.adc_bits[n])
    globals_ = {
        "xbar_size": int(r.xbar_size[n]),
        "cell_bits": int(batch.cell_bits[n]),
        "dac_bits": int(batch.dac_bits[n]),
        "adc_bits": int(adc_bits) if math.isfinite(adc_bits) else None,
        "bit_iterations": int(r.iterations[n]),
        "weight_slices": int(r.slices[n]),
        "rram_ratio": _f(batch.rram_ratio[n]),
        "crossbars_used": int(r.crossbars[n].sum()),
        "crossbar_budget": int(r.n_xbar_budget[n]),
        "macros": int(r.set_macros[n].sum()),
        "macro_sets": int((r.set_macros[n] > 0).sum()),
        "mesh_width": int(r.mesh_width[n]),
        "macro_mode": batch.macro_mode,
        "offchip_links": int(batch.offchip_links[n]),
        "explicit_counts": batch.counts is not None,
        "power_budget_w": _f(r.power_w[n]),
        "feasible": bool(metrics["feasible"]),
        "reason": reason,
        "reason_text": REASON_TEXT.get(reason, reason),
    }
    b = rows[bottleneck] if rows else None
    return {
        "network": network.name,
        "globals": globals_,
        "layers": rows,
        "energy": energy,
        "peak_power": peak,
        "area": area,
        "bottleneck": None if b is None else {
            "index": b["index"], "name": b["name"], "kind": b["kind"],
            "busy_us": b["busy_us"], "busy_share_pct": b["busy_share_pct"],
        },
        "metrics": metrics,
    }
