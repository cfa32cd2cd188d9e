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

from costmodel.budgets import given
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



#: How each weighted layer is mapped (:meth:`Results.layer_rows`), in every layer row.
LAYER_MAPPING_KEYS = ("epitome", "passes", "weight_bits")


def arrays_text(tech, rows: int, cols: int, cell_bits: int, dac_bits: int, adc_bits: int | None) -> str:
    """One design's arrays in words: ``"128x128 crossbars, 2-bit cells, 1-bit DACs, 8-bit
    ADCs"`` (ReRAM) or ``"128x128 digital SRAM arrays of 8-bit weights, 1 input bit per
    cycle"`` (SRAM; analog arrays add their ADCs)."""
    if tech.sram is None:
        adc = "no fitting ADCs" if adc_bits is None else f"{adc_bits}-bit ADCs"
        return f"{rows}x{cols} crossbars, {cell_bits}-bit cells, {dac_bits}-bit DACs, {adc}"
    adc = "no fitting ADCs" if adc_bits is None else f"{adc_bits}-bit ADCs"
    kind = "analog" if tech.sram.is_analog else "digital"
    text = (f"{rows}x{cols} {kind} SRAM arrays of {cell_bits}-bit weights, "
            f"{dac_bits} input bit{'s' if dac_bits > 1 else ''} per cycle")
    return text + (f", {adc}" if tech.sram.is_analog else "")

def _reason_text(reason: str, area_budget_mm2: float) -> str:
    """:data:`REASON_TEXT` of ``reason``; under an area budget, the budgets it names are both."""
    text = REASON_TEXT.get(reason, reason)
    return text.replace("the power budget", "the power or area budget") if given(area_budget_mm2) else text


def _f(x) -> float:
    return float(x)


def _share(part: float, total: float) -> float:
    """``100 * part / total`` (percent); 0 when the total is 0 or not finite."""
    return 100.0 * part / total if total and math.isfinite(total) else 0.0


def design_summary(network: Network, results: Results, n: int, batch: DesignBatch) -> dict:
    """Tables of design ``n`` of ``results`` (``batch`` is the evaluated batch).

    Returns a dict with keys ``network``, ``globals``, ``layers`` (one row per layer in
    network order), ``energy``, ``peak_power``, ``area`` (one row per component, with
    ``share_pct`` of the total), ``bottleneck`` (the layer with the largest busy time),
    ``segments`` (one row per segment of a design that reloads weights, else empty:
    :func:`segment_rows`) and ``metrics`` (``results.metrics(n)``). ``batch`` is needed
    because the results do not carry the design's globals (cell bits, DAC bits,
    rram_ratio, macro mode).

    A layer row's ``segment`` is its segment (a weightless layer's: its macro set's);
    ``dataflow``, ``tiles`` and ``reload_energy_j`` (per inference) are its weights'
    (None, None and 0 for a weightless layer). A design evaluated with sparsity (densities,
    or a layer with a mode; MODEL.md section 10) adds to each weighted layer's row its
    ``sparsity`` mode and ``skipped_share`` (:meth:`Results.layer_rows`). Every row has
    :data:`LAYER_MAPPING_KEYS`: a weighted layer's ``epitome`` (``{out, in, p, q}`` or
    None), crossbar ``passes`` per output pixel and ``weight_bits``; None for a weightless
    layer.
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
    weighted = {int(l): j for j, l in enumerate(wl.layer_of_w.tolist())}
    layer_reload = results.layer_rows(n)

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
            "segment": int(r.segment_a[n, l]),
            "dataflow": layer_reload[weighted[l]]["dataflow"] if l in weighted else None,
            "tiles": layer_reload[weighted[l]]["tiles"] if l in weighted else None,
            "reload_energy_j": layer_reload[weighted[l]]["reload_energy_j"] if l in weighted else 0.0,
            **{k: layer_reload[weighted[l]][k] if l in weighted else None for k in LAYER_MAPPING_KEYS},
            **({k: layer_reload[weighted[l]][k] for k in ("sparsity", "skipped_share")}
               if l in weighted and "sparsity" in layer_reload[weighted[l]] else {}),
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
        "array_cols": int(r.array_cols[n]),
        "buffer_kib": float(results.global_buffer_kib[n]),
        "arrays": arrays_text(r.tech, int(r.xbar_size[n]), int(r.array_cols[n]), int(batch.cell_bits[n]),
                              int(batch.dac_bits[n]), int(adc_bits) if math.isfinite(adc_bits) else None),
        "bit_iterations": int(r.bit_iterations[n]),
        "weight_slices": int(r.slices[n]),
        "weight_bits": int(r.tech.precision.weight_bits),
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
        **({"area_budget_mm2": float(r.area_budget_mm2[n])} if given(r.area_budget_mm2[n]) else {}),
        "batch": int(results.batch[n]),
        "segments": int(results.segments[n]),
        "reloads": bool(results.reloads[n]),
        "chip_crossbars": int(r.chip_crossbars[n]),
        "chip_macros": int(r.segment_macros[n].max()) if r.segment_macros.size else 0,
        "feasible": bool(metrics["feasible"]),
        "reason": reason,
        "reason_text": _reason_text(reason, r.area_budget_mm2[n]),
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
        "segments": segment_rows(network, results, n),
        "metrics": metrics,
    }


def segment_rows(network: Network, results: Results, n: int) -> list[dict]:
    """One row per segment of design ``n`` if it reloads weights (MODEL.md section 8),
    else ``[]``: ``segment``, ``layers`` (the names of its weighted layers), its
    ``crossbars`` and ``macros``, and per batch the times ``reload_us`` (loading its
    weights), ``compute_us`` (its latency plus one interval per further inference),
    ``dram_us`` (its activations on the DRAM port, overlapping the computation) and
    ``total_us`` (reload + the longer of compute and DRAM)."""
    if not results.reloads[n]:
        return []
    r, t, o = results.resolved, results.timing, results.resolved.offchip
    names = [w.name for w in network.weighted_layers]
    seg = r.segment[n]
    xbars = r.crossbars[n, r.workload.layer_of_w]
    B = int(results.batch[n])
    rows = []
    for s in range(int(results.segments[n])):
        members = np.flatnonzero(seg == s)
        compute = _f(t.segment_latency_ns[n, s] + (B - 1) * t.segment_interval_ns[n, s])
        reload, dram = _f(o.reload_ns[n, s]), _f(o.dram_ns[n, s])
        rows.append({
            "segment": s,
            "layers": [names[j] for j in members],
            "crossbars": int(xbars[members].sum()),
            "macros": int(r.segment_macros[n, s]),
            "reload_us": reload * 1e-3,
            "compute_us": compute * 1e-3,
            "dram_us": dram * 1e-3,
            "total_us": (reload + max(compute, dram)) * 1e-3,
        })
    return rows


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix and 3 significant digits (``7.36e-4, "J"`` -> ``736 uJ``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"),
                           (1e-9, "n")):
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def weights_text(metrics: dict) -> str:
    """One sentence on where a design's weights live (``metrics`` of
    :meth:`Results.metrics`): resident for good, or reloaded per batch, with the cost of
    the reloads, the off-chip traffic and, where the technology has a figure, how many
    inferences the most rewritten cells last."""
    m = metrics
    if not m["reloads"]:
        traffic = m["offchip_bytes_per_inference"]
        tail = "" if not traffic else f"; off-chip traffic {_si(traffic, 'B')} per inference"
        return f"every weight is resident (one segment, written once, never reloaded){tail}"
    seg = f"{m['segments']} segment{'s' if m['segments'] != 1 else ''}"
    text = (f"{seg}, batch {m['batch']}: weights reloaded, {_si(m['reload_energy_j'], 'J')} per inference "
            f"(DRAM reads and array writes) and {_si(m['reload_time_s'], 's')} per batch; off-chip traffic "
            f"{_si(m['offchip_bytes_per_inference'], 'B')} per inference")
    if m["endurance_inferences"] is not None:
        text += f"; the most rewritten cells last {m['endurance_inferences']:.3g} inferences"
    return text


def layer_span(names: list[str]) -> str:
    """``a``, ``a, b`` or ``a .. z (k layers)``: the weighted layers of a segment, briefly."""
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} .. {names[-1]} ({len(names)} layers)"
