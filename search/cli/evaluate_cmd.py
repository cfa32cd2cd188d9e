"""``pimtune evaluate MODEL --power W | --area MM2 --design NAME|FILE``: score one design and explain it.

Exit codes: 0 feasible, 1 infeasible (the report still prints, with the reason),
2 bad input (missing model, malformed design file, unknown technology, ...).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rich.table import Table

from costmodel.technology import require_network_family
from costmodel import REFERENCE_DESIGNS, evaluate, load_design, load_technology, reference_design
from costmodel.design import EPITOME_KEYS, DesignError
from costmodel.summary import design_summary, layer_span, weights_text
from search.cli.common import (
    MODEL_HELP, add_budget_args, add_epitomes_arg, add_json_arg, add_sparsity_arg, add_tech_arg, budgets_of, console,
    densities_of, jsonable, load_model_arg, si, warn_if_beyond_one_die,
)

DESCRIPTION = """\
Evaluate one accelerator design of MODEL under a power budget (--power), an area budget
(--area) or both with the analytical cost model and print its metrics, per-layer
allocation, breakdowns and bottleneck layer. DESIGN is a reference design (isaac, no-dup,
heuristic: sized for MODEL and the budgets) or a
design JSON file (the "design" of `pimtune search --json`, or costmodel.save_design). With
--sparsity the design's per-layer sparsity modes (its "sparsity" key; none without it) exploit
the zeros it names: dense (the default) counts every weight and input as non-zero, so a
mode pays its overheads and saves nothing. With --epitomes PLAN.yaml, MODEL's conv layers
store the plan's epitomes at its precisions (a design file's "epitome" and "weight_bits"
keys override them per layer); --json then gives each layer's epitome, crossbar passes
and weight bits. Exit status: 0 if the design is
feasible, 1 if it is infeasible (the report says why), 2 on bad input."""


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate one design of a model with the cost model",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_budget_args(p)
    p.add_argument("--design", required=True, metavar="DESIGN",
                   help=f"one of {', '.join(REFERENCE_DESIGNS)} or a design JSON file")
    p.add_argument("--index", type=int, default=0, metavar="I",
                   help="which design of a JSON file holding a list of designs (default 0)")
    add_tech_arg(p)
    add_sparsity_arg(p)
    add_epitomes_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def load_design_arg(arg: str, network, tech, power_w: float | None, index: int = 0, area_mm2: float | None = None,
                    densities=None):
    """``(batch, n)``: a reference design by name (sized for the budgets and, with
    ``densities``, for the weights without their structured zeros), or design ``index``
    of a JSON file."""
    if arg in REFERENCE_DESIGNS and not Path(arg).exists():
        return reference_design(arg, network, tech, power_w, area_mm2=area_mm2, densities=densities), 0
    batch = load_design(arg, network)
    if not 0 <= index < len(batch):
        raise DesignError(f"{arg}: holds {len(batch)} design(s); --index must be 0..{len(batch) - 1}")
    return batch, index


def run(args: argparse.Namespace) -> int:
    power, area = budgets_of(args)
    network = load_model_arg(args.model, args.epitomes)
    tech = require_network_family(load_technology(args.tech))
    densities = densities_of(args.sparsity, args.model, network, tech)
    batch, n = load_design_arg(args.design, network, tech, power, args.index, area, densities)
    batch = batch.subset(n)
    results = evaluate(network, tech, batch, power, area_mm2=area, densities=densities)
    summary = design_summary(network, results, 0, batch)
    warn_if_beyond_one_die(summary["metrics"]["area_mm2"]["total"], power, area)
    if args.json:
        out = dict(summary["metrics"])
        out.update(network=network.name, design=batch.to_dict(0, network), globals=summary["globals"],
                   layers=summary["layers"], bottleneck=summary["bottleneck"])
        print(json.dumps(jsonable(out), indent=2))
    else:
        render(summary, args.design)
    return 0 if summary["metrics"]["feasible"] else 1


def render(summary: dict, design_name: str) -> None:
    """Print the report of one design summary (``costmodel.summary.design_summary``)."""
    out = console()
    g, m = summary["globals"], summary["metrics"]
    title = f"{summary['network']}: design {design_name} at {budgets_text(g)}"
    out.print(headline_table(summary, title))
    out.print(globals_line(g))
    out.print(weights_text(m))
    if "sparsity" in m:
        out.print(f"sparsity: {m['sparsity']}")
    if summary["segments"]:
        out.print(segment_table(summary["segments"], g["batch"]))
    out.print(layer_table(summary["layers"], reloads=g["reloads"], weight_bits=g["weight_bits"]))
    out.print(breakdown_table(summary))
    b = summary["bottleneck"]
    if b is not None:
        out.print(f"bottleneck: layer {b['index']} {b['name']} ({b['kind']}), busy {si(b['busy_us'] * 1e-6, 's')} "
                  f"= {b['busy_share_pct']:.1f} % of the interval {si(m['interval_s'], 's')}")
    if not m["feasible"]:
        out.print(f"[bold red]INFEASIBLE[/]: {m['reason']} ({g['reason_text']})")


def budgets_text(g: dict) -> str:
    """The budgets of a design summary's globals: ``49 W`` (a power budget alone, as
    always), ``20 mm^2`` or ``49 W and 20 mm^2``."""
    area = g.get("area_budget_mm2")
    if area is None:
        return si(g["power_budget_w"], "W")
    if g["power_budget_w"] is None or not math.isfinite(g["power_budget_w"]):
        return f"{area:g} mm^2"
    return f"{si(g['power_budget_w'], 'W')} and {area:g} mm^2"


def headline_table(summary: dict, title: str) -> Table:
    m = summary["metrics"]
    p = m["power_w"]
    table = Table(title=title, show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    feasible = "yes" if m["feasible"] else f"[bold red]no[/]: {m['reason']}"
    rows = [
        ("feasible", feasible),
        ("TOPS/W (stream: static over the interval)", f"{m['tops_per_watt']:.4g}"),
        ("TOPS/W (one inference: static over the latency)", f"{m['tops_per_watt_single']:.4g}"),
        ("peak TOPS/W", f"{m['peak_tops_per_watt']:.4g}"),
        ("throughput", f"{m['throughput_ips']:.4g} inferences/s"),
        ("TOPS", f"{m['tops']:.4g}"),
        ("latency", si(m["latency_s"], "s")),
        ("interval", si(m["interval_s"], "s")),
        ("energy per inference", si(m["energy_j"]["total"], "J")),
        ("power avg / peak / budget", f"{si(p['average'], 'W')} / {si(p['peak'], 'W')} / {si(p['budget'], 'W')}"),
        ("area", f"{m['area_mm2']['total']:.4g} mm^2") if m["area_mm2"].get("budget") is None else
        ("area / budget", f"{m['area_mm2']['total']:.4g} mm^2 / {m['area_mm2']['budget']:.4g} mm^2"),
        ("EDP", f"{m['edp_js']:.4g} J*s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def globals_line(g: dict) -> str:
    head = f"{g['arrays']}, rram_ratio {g['rram_ratio']:.3f}, "
    if g["segments"] > 1:
        # the chip holds its largest segment; the layers' sums run over every segment
        return head + (f"crossbars {g['chip_crossbars']} / {g['crossbar_budget']} on the chip "
                       f"({g['crossbars_used']} over {g['segments']} segments), {g['chip_macros']} macros on the "
                       f"chip ({g['macros']} in {g['macro_sets']} sets over the segments) on a "
                       f"{g['mesh_width']}-wide mesh ({g['macro_mode']})")
    return head + (f"crossbars {g['crossbars_used']} / {g['crossbar_budget']}, {g['macros']} macros in "
                   f"{g['macro_sets']} sets on a {g['mesh_width']}-wide mesh ({g['macro_mode']})")


#: Short names of the dataflows in tables.
DATAFLOW_SHORT = {"weight_stationary": "WS", "input_stationary": "IS", "output_stationary": "OS"}


def segment_table(rows: list[dict], batch: int) -> Table:
    """The segments of a design that reloads weights (``summary["segments"]``), times per batch."""
    table = Table(title=f"segments (times per batch of {batch})")
    for c in ("segment", "layers", "xbars", "macros", "reload (us)", "compute (us)", "DRAM port (us)", "total (us)"):
        table.add_column(c, justify="left" if c == "layers" else "right")
    for row in rows:
        table.add_row(str(row["segment"]), layer_span(row["layers"]), str(row["crossbars"]), str(row["macros"]),
                      f"{row['reload_us']:.4g}", f"{row['compute_us']:.4g}", f"{row['dram_us']:.4g}",
                      f"{row['total_us']:.4g}")
    return table


def layer_table(rows: list[dict], reloads: bool = False, weight_bits: int | None = None) -> Table:
    """One row per layer; a design that reloads weights adds each layer's segment, weight
    tiles and dataflow (WS / IS / OS: weight-, input-, output-stationary), a design
    evaluated with sparsity each weighted layer's mode and the share of its input cycles
    it skips (every skipped share is in ``--json``), a design with epitomes each one's
    shape and crossbar passes, and a layer at other weight bits than the technology's
    ``weight_bits`` every weighted layer's bits."""
    table = Table(title="per-layer allocation and timing")
    cols = ("#", "layer", "kind", "dup", "xbars", "set", "shares with", "set macros", "set ADCs",
            "set VUs", "steps", "busy/step (ns)", "busy (us)", "busy of interval (%)", "bottleneck")
    if reloads:
        cols += ("seg", "tiles", "dataflow")
    sparse = any("sparsity" in row for row in rows)
    if sparse:
        cols += ("sparsity",)
    epitomes = any(row.get("epitome") for row in rows)
    bits = any(row.get("weight_bits") not in (None, weight_bits) for row in rows)
    cols += ("epitome (passes)",) * epitomes + ("w bits",) * bits
    for c in cols:
        table.add_column(c, justify="left" if c in ("layer", "kind", "set", "shares with", "bottleneck", "dataflow",
                                                     "sparsity", "epitome (passes)") else "right")
    for row in rows:
        cells = [
            str(row["index"]), row["name"], row["kind"], str(row["dup"]), str(row["crossbars"]),
            row["macro_set"], row["shares_with"], str(row["set_macros"]), str(row["set_adcs"]),
            str(row["set_vector_units"]), str(row["steps"]), f"{row['busy_per_step_ns']:.4g}",
            f"{row['busy_us']:.4g}", f"{row['busy_share_pct']:.1f}", "[bold]<-[/]" if row["bottleneck"] else "",
        ]
        if reloads:
            cells += [str(row["segment"]), "-" if row["tiles"] is None else str(row["tiles"]),
                      DATAFLOW_SHORT.get(row["dataflow"], "-")]
        if sparse:
            skipped = row.get("skipped_share")
            cells.append("-" if skipped is None else
                         f"{row['sparsity']} (-{100 * skipped['input_cycles']:.0f} % cycles)")
        if epitomes:
            e = row.get("epitome")
            cells.append("-" if e is None else "x".join(str(e[k]) for k in EPITOME_KEYS) + f" ({row['passes']})")
        if bits:
            cells.append("-" if row.get("weight_bits") is None else str(row["weight_bits"]))
        table.add_row(*cells)
    return table


def breakdown_table(summary: dict) -> Table:
    table = Table(title="breakdown by component")
    for c in ("component", "static energy (J)", "dynamic energy (J)", "energy (%)", "peak power (W)",
              "power (%)", "area (mm^2)", "area (%)"):
        table.add_column(c, justify="left" if c == "component" else "right")
    peak = {r["component"]: r for r in summary["peak_power"]}
    area = {r["component"]: r for r in summary["area"]}
    energy = {r["component"]: r for r in summary["energy"]}
    for c in dict.fromkeys(list(energy) + list(peak) + list(area)):
        e, p, a = energy.get(c), peak.get(c), area.get(c)
        table.add_row(
            c,
            f"{e['static_j']:.3e}" if e else "-", f"{e['dynamic_j']:.3e}" if e else "-",
            f"{e['share_pct']:.1f}" if e else "-",
            f"{p['peak_w']:.4g}" if p else "-", f"{p['share_pct']:.1f}" if p else "-",
            f"{a['area_mm2']:.4g}" if a else "-", f"{a['share_pct']:.1f}" if a else "-",
        )
    m = summary["metrics"]
    table.add_row("total", f"{m['energy_j']['static']:.3e}", f"{m['energy_j']['dynamic']:.3e}", "100.0",
                  f"{m['power_w']['peak']:.4g}", "100.0", f"{m['area_mm2']['total']:.4g}", "100.0", style="bold")
    return table
