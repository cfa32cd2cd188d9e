"""What ``pimtune synth`` writes to its output directory, from a finished study.

- ``design.json``: the best design (the ``pimtune-design/1`` form; ``pimtune evaluate
  MODEL --design design.json`` re-scores it);
- ``report.md``: headline metrics, the comparison against the ``isaac``, ``heuristic``
  and ``no-dup`` reference designs at the same budget (with the same densities, in a
  sparsity-aware synthesis: their layers exploit no zeros), the globals, one row per layer
  (duplication, crossbars, macros, sharing partner, ADCs and other units of its macro
  set, blocks, busy share of the pipeline period), energy / peak power / area breakdowns,
  every outer trial and the search statistics; where the weights live: one line when
  every weight is resident, else the segments (layers, crossbars, macros, reload and
  compute time per batch), batch, weight-reload energy and time, off-chip traffic, the
  cells' endurance and each layer's segment, tiles and dataflow;
- ``pareto.png``: every outer point's best design, TOPS/W against throughput, with the
  Pareto front; ``energy.png``: the best design's energy per inference by component
  (off-chip components hatched: DRAM, array writes, global buffer);
  ``convergence.png``: the best outer point's EA, best value per generation; in a
  sparsity-aware synthesis ``sparsity.png``, each layer's skipped work, and a report
  section comparing the best design with the same design without sparsity support and
  under the dense model (:mod:`search.reports.sparsity_section`); with epitomes (searched,
  or a plan's) ``epitomes.png``, each layer's crossbar reduction and passes, and a report
  section with each layer's epitome, compression, crossbars, passes, copies and overheads
  and, in an epitome search, the comparison with the dense synthesis at the same budget
  (:mod:`search.reports.epitome_section`);
- ``pimcomp.json``: crossbar and macro geometry in the layout of PIMCOMP-NN's
  ``config.json`` (``chip_config`` / ``core_config`` / ``matrix_config``), plus per-layer
  mapping (with each layer's segment, dataflow, weight tiles, in a sparsity-aware
  synthesis its sparsity mode, and with epitomes its weight bits, passes and whether it
  stores an epitome; its shape is in ``design.json``), for downstream compilers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from tabulate import tabulate

from costmodel.design import COMPONENTS, SPARSE_MODES, DesignBatch, DesignError
from costmodel.evaluator import Results, evaluate
from costmodel.reference_designs import reference_design
from costmodel.summary import design_summary, layer_span, weights_text
from search import atomic_files
from search.objectives import maximised
from search.reports.epitome_section import epitome_comparison, epitome_markdown, plot_epitomes
from search.reports.sparsity_section import plot_skipped, sparsity_comparison, sparsity_markdown
from search.synth.synthesis import SynthesisPlan, best_trial
from space import DesignSpace

REFERENCES = ("isaac", "heuristic", "no-dup")
PIMCOMP_FORMAT = "pimtune-pimcomp/1"
#: Components beyond the arrays that only a design reloading weights uses (MODEL.md section 8).
OFFCHIP_COMPONENTS = ("dram", "array_write", "global_buffer")


def best_design(space: DesignSpace, trial: FrozenTrial) -> tuple[DesignBatch, Results]:
    """The design stored on ``trial`` and its evaluation (with the space's densities)."""
    batch = DesignBatch.from_dicts([trial.user_attrs["design"]], space.network, source=f"trial {trial.number}")
    return batch, evaluate(space.network, space.tech, batch, space.power_w, area_mm2=space.area_mm2,
                           densities=space.densities)


def reference_metrics(space: DesignSpace) -> dict[str, dict]:
    """Metrics of each reference design at the space's budget and densities, or ``{"reason": ...}``."""
    out = {}
    for name in REFERENCES:
        try:
            batch = reference_design(name, space.network, space.tech, space.power_w,
                                     batch=space.options.batch or space.options.batch_max, area_mm2=space.area_mm2,
                                     densities=space.densities)
        except DesignError as exc:
            out[name] = {"reason": str(exc)}
            continue
        out[name] = evaluate(space.network, space.tech, batch, space.power_w, area_mm2=space.area_mm2,
                             densities=space.densities).metrics(0)
    return out


def write_outputs(out: Path, space: DesignSpace, study: optuna.Study, plan: SynthesisPlan,
                  storage_label: str) -> dict:
    """Write every output file of a finished synthesis into ``out``; returns the JSON
    summary (best metrics, references, paths). PimtuneError-free: a study without a
    feasible design writes ``report.md`` with the outer points' reasons only."""
    out.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    best = best_trial(study, plan.objective)
    summary = {"study": study.study_name, "storage": storage_label, "network": space.network.name,
               **space.budget_identity(), **_sparsity_key(space), "objective": plan.objective, "best": None,
               "files": {}}
    refs = reference_metrics(space)
    summary["references"] = refs
    if best is None:
        text = _markdown(space, study, plan, storage_label, trials, None, None, refs)
        atomic_files.write_text(out / "report.md", text)
        summary["files"]["report"] = str(out / "report.md")
        return summary
    batch, res = best_design(space, best)
    table = design_summary(space.network, res, 0, batch)
    files = {"design": out / "design.json", "report": out / "report.md", "pareto": out / "pareto.png",
             "energy": out / "energy.png", "convergence": out / "convergence.png", "pimcomp": out / "pimcomp.json"}
    atomic_files.write_text(files["design"], json.dumps(best.user_attrs["design"], indent=2) + "\n")
    atomic_files.write_text(files["pimcomp"], json.dumps(pimcomp_export(space, batch, res, table), indent=2) + "\n")
    report = _markdown(space, study, plan, storage_label, trials, best, table, refs)
    if space.densities is not None:                                    # what the modes buy, layer by layer
        comparison = sparsity_comparison(space.network, space.tech, batch, space.densities, space.power_w,
                                         space.area_mm2)
        report += "\n" + sparsity_markdown(comparison)
        files["sparsity"] = out / "sparsity.png"
        plot_skipped(comparison, files["sparsity"])
        summary["sparsity_comparison"] = comparison["variants"]
    if space.epitomes is not None or res.resolved.layer_map.any_epitome:   # each layer's epitome, vs dense
        dense = dense_best(trials, best, plan) if space.epitomes is not None else None
        comparison = epitome_comparison(space, batch, res, dense, searched=space.epitomes is not None)
        report += "\n" + epitome_markdown(comparison)
        files["epitomes"] = out / "epitomes.png"
        plot_epitomes(comparison, files["epitomes"])
        summary["epitome_comparison"] = comparison
    atomic_files.write_text(files["report"], report)
    plot_pareto(files["pareto"], trials, best, space)
    plot_energy(files["energy"], table)
    plot_convergence(files["convergence"], best, plan)
    summary["best"] = {"trial": best.number, "params": best.params, "value": best.value,
                       "arrays": table["globals"]["arrays"], **res.metrics(0)}
    summary["files"] = {k: str(v) for k, v in files.items()}
    return summary


def dense_best(trials: list[FrozenTrial], best: FrozenTrial, plan: SynthesisPlan) -> dict | None:
    """The dense synthesis' best design in an epitome search (each trial's ``dense``
    attribute: the first stage of the same run, :mod:`search.synth.epitome_stage`):
    ``{"trial", "value", "metrics", "design", "best_trial"}``, or None."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and "dense" in t.user_attrs]
    if not done:
        return None
    pick = max if maximised(plan.objective) else min
    t = pick(done, key=lambda t: t.user_attrs["dense"]["value"])
    return {"trial": t.number, **t.user_attrs["dense"], "best_trial": best.number}


# --- pimcomp.json -------------------------------------------------------------------------
def pimcomp_export(space: DesignSpace, batch: DesignBatch, res: Results, table: dict) -> dict:
    """Crossbar and macro geometry of design 0 (see the module docstring). A macro is a
    PIMCOMP core; ``xbar_array_count`` is the most crossbars any macro holds. A segmented
    design's chip holds its largest segment (``core_cnt``); each layer names its segment,
    run one after another with a batch of ``batch`` inferences."""
    r = res.resolved
    g = table["globals"]
    wl = r.workload
    layers = []
    per_macro = 0
    adc = COMPONENTS.index("adc")
    host = r.host[0]                                       # (La,) weighted position of each layer's set
    flows = [row["dataflow"] for row in res.layer_rows(0)]
    for j, w in enumerate(space.network.weighted_layers):
        l = int(wl.layer_of_w[j])
        k = int(host[l])
        macros = int(r.set_macros[0, k])
        set_xbars = int(r.crossbars[0][host == k].sum())
        per_macro = max(per_macro, math.ceil(set_xbars / max(macros, 1)))
        layers.append({"name": w.name, "kind": w.kind, "duplication": int(batch.dup[0, j]),
                       "crossbars": int(r.crossbars[0, l]),
                       "macro_set": space.network.layers[int(wl.layer_of_w[k])].name,
                       "set_macros": macros, "set_crossbars": set_xbars, "set_adcs": int(r.counts[0, k, adc]),
                       "segment": int(r.segment[0, j]), "dataflow": flows[j],
                       "tiles": int(r.tiles.count[0, j]),
                       **({"sparsity": SPARSE_MODES[int(batch.sparse_mode[0, j])]} if space.densities is not None
                          else {}),
                       **(_mapping_entry(r.layer_map, j) if r.layer_map.any_epitome or r.layer_map.per_design else {})})
    macros_total = int(g["chip_macros"])
    width = int(g["mesh_width"])
    return {
        "format": PIMCOMP_FORMAT,
        "network": space.network.name,
        "segments": int(g["segments"]),
        "batch": int(g["batch"]),
        "chip_config": {
            "core_cnt": macros_total,
            "core_config": {"matrix_config": {
                "xbar_array_count": per_macro,
                "xbar_size": [g["xbar_size"], g["array_cols"]],
                "cell_precision": g["cell_bits"],
                "dac_resolution": g["dac_bits"],
                "dac_count": g["xbar_size"],
                "adc_resolution": g["adc_bits"],
            }},
            "network_config": {"bus_topology": "mesh", "layout": [width, math.ceil(macros_total / max(width, 1))]},
        },
        "layers": layers,
    }


def _mapping_entry(m, j: int) -> dict:
    """Layer ``j``'s stored matrix in ``pimcomp.json``: its epitome (``{out, in, p, q}`` or
    null), weight bits and crossbar passes per output pixel."""
    def at(a):
        a = np.asarray(a)
        return a[0, j] if a.ndim == 2 else a[j]
    return {"weight_bits": int(at(m.weight_bits)), "passes": int(at(m.stored.passes)),
            "epitome_stored": bool(at(m.stored.epitome))}


# --- plots --------------------------------------------------------------------------------
def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_pareto(path: Path, trials: list[FrozenTrial], best: FrozenTrial, space: DesignSpace) -> None:
    """Outer points' best designs: TOPS/W (y) against inferences/s (x), front highlighted."""
    plt = _pyplot()
    pts = [(t.user_attrs["metrics"]["throughput_ips"], t.user_attrs["metrics"]["tops_per_watt"], t)
           for t in trials if t.state == TrialState.COMPLETE and "metrics" in t.user_attrs]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if pts:
        x = np.array([p[0] for p in pts])
        y = np.array([p[1] for p in pts])
        # one colour per crossbar cell resolution (ReRAM) or per array rows (SRAM: one cell resolution)
        key, label = ("cell_bits", "{}-bit cells") if space.tech.sram is None else ("xbar_size", "{} array rows")
        group = np.array([p[2].params[key] for p in pts])
        for c in np.unique(group):
            m = group == c
            ax.scatter(x[m], y[m], s=28, alpha=0.8, label=label.format(c))
        order = np.argsort(-x)
        front, top = [], -np.inf
        for i in order:
            if y[i] > top:
                front.append(i)
                top = y[i]
        ax.plot(x[front], y[front], "k--", lw=1, label="Pareto front")
        bm = best.user_attrs["metrics"]
        ax.scatter([bm["throughput_ips"]], [bm["tops_per_watt"]], s=140, facecolors="none", edgecolors="red",
                   lw=2, label=f"best (trial {best.number})")
        ax.legend(fontsize=8)
    ax.set_xlabel("throughput (inferences/s)")
    ax.set_ylabel("power efficiency (TOPS/W)")
    ax.set_title(f"{space.network.name} at {space.budget_text()}: best design of each outer point")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_energy(path: Path, table: dict) -> None:
    """The best design's energy per inference by component, static and dynamic (uJ); the
    off-chip components of a design reloading weights (DRAM, array writes, global
    buffer) are hatched."""
    plt = _pyplot()
    rows = [r for r in table["energy"] if r["total_j"] > 0]
    names = [r["component"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    dyn = np.array([r["dynamic_j"] for r in rows]) * 1e6
    sta = np.array([r["static_j"] for r in rows]) * 1e6
    bars_d = ax.barh(names, dyn, label="dynamic")
    bars_s = ax.barh(names, sta, left=dyn, label="static")
    offchip = [n in OFFCHIP_COMPONENTS for n in names]
    for bars in (bars_d, bars_s):
        for bar, hatched in zip(bars, offchip):
            if hatched:
                bar.set_hatch("//")
    ax.set_xlabel("energy per inference (uJ)")
    title = "energy breakdown of the best design"
    if any(offchip):
        title += "\n(hatched: off-chip memory, weight writes, global buffer)"
    ax.set_title(title)
    ax.invert_yaxis()
    ax.legend()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_convergence(path: Path, best: FrozenTrial, plan: SynthesisPlan) -> None:
    """Best value so far per EA generation of the best outer point."""
    plt = _pyplot()
    stats = best.user_attrs.get("stats", {})
    trace = [np.nan if v is None else v for v in stats.get("best_per_generation", [])]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(np.arange(len(trace)), trace, label="dense synthesis" if "epitome" in stats else None)
    if "epitome" in stats:                          # the epitome stage continues from the dense EA's best
        stage = [np.nan if v is None else v for v in stats["epitome"]["best_per_generation"]]
        ax.plot(len(trace) + np.arange(len(stage)), stage, label="epitome stage")
        ax.axvline(len(trace) - 0.5, color="k", lw=0.6, ls=":")
        ax.legend(fontsize=8)
    ax.set_xlabel("EA generation")
    ax.set_ylabel(plan.objective)
    ax.set_title(f"EA convergence at the best outer point (trial {best.number})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=120)
    plt.close(fig)


# --- report.md ----------------------------------------------------------------------------
def _md(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", floatfmt=".4g")


def _metric_row(name: str, m: dict) -> list:
    if "tops_per_watt" not in m:
        return [name, "-", "-", "-", "-", "-", "-", "-", m["reason"]]
    values = (m["tops_per_watt"], m.get("tops_per_watt_single", float("nan")), m["throughput_ips"], m["latency_s"] * 1e3, m["energy_j"]["total"] * 1e3,
              m["area_mm2"]["total"], m["power_w"]["average"])
    return [name, *(f"{v:.4g}" for v in values), "feasible" if m["feasible"] else m["reason"]]


def _markdown(space, study, plan, storage_label, trials, best, table, refs) -> str:
    e = plan.effort
    lines = [f"# Synthesis of {space.network.name} at {space.budget_text()}", "",
             *_budget_lines(space), *_sparsity_lines(space), *_epitome_lines(space),
             f"Technology `{space.tech.name}`; objective `{plan.objective}`; outer sampler `{plan.outer}`; "
             f"effort `{e.name}` (SA {e.sa_chains} chains x {e.sa_steps} steps keeping {e.candidates} candidates "
             f"per DAC resolution; EA population {e.population} x {e.generations} generations); seed {plan.seed}; "
             f"macros {space.options.macro_mode}; sharing {'on' if space.options.sharing else 'off'}.",
             f"Study `{study.study_name}` in `{storage_label}`.", ""]
    if best is None:
        lines += ["**No outer point has a feasible design.** Reasons:", ""]
        lines += [_md([[t.number, _params(t), t.user_attrs.get("reason", "")] for t in trials],
                      ["trial", "point", "reason"]), ""]
        return "\n".join(lines) + "\n"
    m = best.user_attrs["metrics"]
    g = table["globals"]
    if g["segments"] > 1:
        chip = (f"{g['chip_crossbars']} of {g['crossbar_budget']} crossbars and {g['chip_macros']} macros on the chip "
                f"(its largest segment; {g['crossbars_used']} crossbars and {g['macros']} macros in "
                f"{g['macro_sets']} sets over the {g['segments']} segments) on a {g['mesh_width']}-wide mesh")
    else:
        chip = (f"{g['crossbars_used']} of {g['crossbar_budget']} crossbars, {g['macros']} macros in "
                f"{g['macro_sets']} sets on a {g['mesh_width']}-wide mesh")
    lines += ["## Best design", "",
              f"Trial {best.number}: rram_ratio {g['rram_ratio']:g}, {g['arrays']}; "
              f"{chip}. Bottleneck layer: "
              f"`{table['bottleneck']['name']}` ({table['bottleneck']['busy_share_pct']:.0f} % of the period).", ""]
    lines += _weights_section(table)
    lines += ["## Against the reference designs (same budget)", ""]
    head = ["design", "TOPS/W", "TOPS/W one inference", "inferences/s", "latency ms", "energy mJ", "area mm^2", "avg power W", "status"]
    rows = [_metric_row("synthesised", m) + ["1.00x", "1.00x"]]
    rows += [_metric_row(k, v) + _vs(m, v) for k, v in refs.items()]
    lines += [_md(rows, head + ["synth / ref TOPS/W", "synth / ref throughput"]), "",
              "## Layers", ""]
    reloads = g["reloads"]
    sparse = space.densities is not None
    layer_rows = [[r["name"], r["kind"], r["dup"], r["crossbars"], r["set_macros"], r["shares_with"], r["set_adcs"],
                   r["set_vector_units"], r["steps"], f"{r['busy_share_pct']:.1f}"]
                  + ([r["segment"], "-" if r["tiles"] is None else r["tiles"], r["dataflow"] or "-",
                      r["reload_energy_j"] * 1e6] if reloads else [])
                  + ([_mode_text(r)] if sparse else [])
                  for r in table["layers"]]
    lines += [_md(layer_rows, ["layer", "kind", "dup", "crossbars", "macros (set)", "shares with", "ADCs (set)",
                               "ALUs (set)", "blocks", "busy % of period"]
                  + (["segment", "tiles", "dataflow", "reload uJ per inference"] if reloads else [])
                  + (["sparsity mode (skipped input cycles, ADC conversions)"] if sparse else [])), "",
              "## Energy per inference", "",
              _md([[r["component"], r["static_j"] * 1e6, r["dynamic_j"] * 1e6, r["total_j"] * 1e6,
                    f"{r['share_pct']:.1f}"] for r in _shown(table["energy"], "total_j", reloads)],
                  ["component", "static uJ", "dynamic uJ", "total uJ", "share %"]), "",
              "## Peak power", "",
              _md([[r["component"], r["peak_w"], f"{r['share_pct']:.1f}"]
                   for r in _shown(table["peak_power"], "peak_w", reloads)],
                  ["component", "peak W", "share %"]), "",
              "## Area", "",
              _md([[r["component"], r["area_mm2"], f"{r['share_pct']:.1f}"]
                   for r in _shown(table["area"], "area_mm2", reloads)],
                  ["component", "mm^2", "share %"]), "",
              "## Outer points", ""]
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value,
                  reverse=maximised(plan.objective))
    outer_rows = []
    for t in done + [t for t in trials if t.state != TrialState.COMPLETE]:
        s = t.user_attrs.get("stats", {})
        by_dac = ", ".join(f"{d}b: {v:.4g}" for d, v in s.get("best_by_dac_bits", {}).items() if v is not None)
        outer_rows.append([t.number, _params(t), "-" if t.value is None else f"{t.value:.4g}",
                           by_dac or t.user_attrs.get("reason", ""), s.get("evaluations", 0)])
    lines += [_md(outer_rows, ["trial", "rram_ratio / cell bits / xbar", plan.objective, "best by DAC bits or reason",
                               "evaluations"]), ""]
    evals = sum(t.user_attrs.get("stats", {}).get("evaluations", 0) for t in trials)
    lines += ["## Search", "",
              f"{len(trials)} outer points, {sum(t.state == TrialState.COMPLETE for t in trials)} with a feasible "
              f"design; {evals:,} designs scored by the EA in total. Plots: `pareto.png`, `energy.png`, "
              f"`convergence.png`.", ""]
    return "\n".join(lines) + "\n"


def _sparsity_key(space: DesignSpace) -> dict:
    """``{"sparsity": source}`` of a sparsity-aware synthesis; nothing for a dense one."""
    return {} if space.densities is None else {"sparsity": space.densities.source}


def _sparsity_lines(space: DesignSpace) -> list[str]:
    """A sparsity-aware synthesis: a line naming its densities (none for a dense one)."""
    d = space.densities
    if d is None:
        return []
    return [f"Sparsity: {d.source} (fingerprint `{d.fingerprint()}`); each layer's mode (none, gate, skip"
            f"{', compact' if space.tech.family != 'sram_dimc' else ''}) was searched. The reference designs map "
            f"the same weights and exploit no zeros.", ""]


def _epitome_lines(space: DesignSpace) -> list[str]:
    """An epitome search: a line naming its setting (none otherwise)."""
    if space.epitomes is None:
        return []
    return [f"Epitomes searched: {space.epitomes.spec.text()} (setting `{space.epitomes.spec.fingerprint()}`); "
            "the dense synthesis at the same budget, effort and seed ran first and is compared in section Epitomes.",
            ""]


def _budget_lines(space: DesignSpace) -> list[str]:
    """Under an area budget, a line naming the budgets (none for a power budget alone)."""
    if space.area_mm2 is None:
        return []
    if space.power_w is None:
        return [f"Budget: area {space.area_mm2:g} mm^2, no power budget; its crossbar share pays for the crossbars, "
                f"the rest for the periphery.", ""]
    return [f"Budgets: power {space.power_w:g} W and area {space.area_mm2:g} mm^2; the crossbar share of each pays "
            f"for the crossbars, the rest for the periphery, and the chip is the smaller of the two allocations, "
            f"within both.", ""]


def _weights_section(table: dict) -> list[str]:
    """Where the best design's weights live: one line when every weight is resident, else
    a section with the segments (times per batch), the reload and traffic figures."""
    m = table["metrics"]
    text = weights_text(m)
    if not m["reloads"]:
        return [text[0].upper() + text[1:] + ".", ""]
    rows = [[s["segment"], layer_span(s["layers"]), s["crossbars"], s["macros"], s["reload_us"] * 1e-3,
             s["compute_us"] * 1e-3, s["dram_us"] * 1e-3, s["total_us"] * 1e-3] for s in table["segments"]]
    flows = sorted({r["dataflow"] for r in table["layers"] if r["dataflow"]})
    tiled = [r["name"] for r in table["layers"] if (r["tiles"] or 1) > 1]
    notes = f"Dataflow: {', '.join(flows)}"
    notes += f"; tiled layers: {', '.join(tiled)}." if tiled else "; no layer is tiled."
    return ["## Segments and weight reloads", "",
            text[0].upper() + text[1:] + ". " + notes, "",
            _md(rows, ["segment", "layers", "crossbars", "macros", "reload ms per batch", "compute ms per batch",
                       "DRAM port ms per batch", "total ms per batch"]), ""]


def _mode_text(row: dict) -> str:
    """A weighted layer's sparsity mode and the shares of its input cycles and ADC
    conversions it skips, e.g. ``skip (38 %, 41 %)``; ``-`` for a weightless layer."""
    if "sparsity" not in row:
        return "-"
    s = row["skipped_share"]
    return f"{row['sparsity']} ({100 * s['input_cycles']:.0f} %, {100 * s['adc_conversions']:.0f} %)"


def _shown(rows: list[dict], key: str, reloads: bool) -> list[dict]:
    """``rows`` without the off-chip components of a design that does not reload (they are 0)."""
    return [r for r in rows if reloads or r["component"] not in OFFCHIP_COMPONENTS or r[key]]


def _vs(m: dict, ref: dict) -> list:
    if "tops_per_watt" not in ref or not ref["feasible"]:
        return ["-", "-"]
    return [f"{m['tops_per_watt'] / ref['tops_per_watt']:.2f}x", f"{m['throughput_ips'] / ref['throughput_ips']:.2f}x"]


def _params(t: FrozenTrial) -> str:
    p = t.params
    return f"{p.get('rram_ratio', 0):g} / {p.get('cell_bits')} / {p.get('xbar_size')}"
