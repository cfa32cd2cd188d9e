"""``pimtune validate MODEL --power W | --area MM2 --designs N``: evaluator vs exact reference scheduler."""

from __future__ import annotations

import argparse
import json

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from costmodel.technology import require_network_family
from costmodel import load_technology
from costmodel.fidelity import TARGETS, measure_fidelity
from costmodel.budgets import budget_text
from search.cli.common import (
    MODEL_HELP, add_budget_args, add_epitomes_arg, add_json_arg, add_sparsity_arg, add_tech_arg, budgets_of, console,
    densities_of, jsonable, load_model_arg, model_proto_arg, positive_int,
)

DESCRIPTION = """\
Draw N random feasible designs of MODEL (under --power W, --area MM2 or both), score
them with the analytical evaluator and
schedule each one exactly with the reference scheduler; print the relative errors of
latency, energy and interval (|fast/ref - 1|) and the Spearman rank correlation of
TOPS/W, against the targets (latency <= 10 %, energy <= 5 %, Spearman >= 0.95).
Designs whose network does not fit the crossbar budget once are drawn segmented (they
reload weights per batch: MODEL.md section 8) and scheduled batch by batch.

With --sparsity measured or a profile, every design also draws a sparsity mode per
weighted layer (none, gate, skip, compact), the evaluator uses the densities' expected
skips and the reference scheduler counts the zeros of an actual inference: the model's
own weights, and with measured its own activations (ONNX Runtime on the 8 random inputs
the densities were measured on, one per design); else drawn from the densities.

With --epitomes PLAN.yaml (or a model that carries epitomes), every design draws a random
epitome per conv layer (out and in halved 0 to 2 times, the window one row and column
larger or not; the plan's precisions kept), the evaluator takes each layer's mean crossbar
pass and the reference scheduler runs every pass with its own rows and columns."""


def register(subparsers) -> None:
    p = subparsers.add_parser("validate", help="measure the evaluator's error against the reference scheduler",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_budget_args(p)
    p.add_argument("--designs", type=positive_int, default=20, metavar="N",
                   help="random feasible designs to compare (default 20)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    add_tech_arg(p)
    add_sparsity_arg(p)
    add_epitomes_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    power, area = budgets_of(args)
    network = load_model_arg(args.model, args.epitomes)
    tech = require_network_family(load_technology(args.tech))
    densities = densities_of(args.sparsity, args.model, network, tech)
    holds_weights = any(d is not None for d in network.weight_densities)
    sparsity = {} if densities is None else {
        "densities": densities, "model": model_proto_arg(args.model)[0] if holds_weights else None,
        "activations": args.sparsity == "measured"}
    if args.json:
        report = measure_fidelity(network, tech, power, args.designs, seed=args.seed, area_mm2=area, **sparsity)
        print(json.dumps(jsonable(report), indent=2))
        return 0
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulate", total=None)
        report = measure_fidelity(network, tech, power, args.designs, seed=args.seed,
                                  progress=lambda i, n: bar.update(task, completed=i, total=n), area_mm2=area,
                                  **sparsity)
    console().print(fidelity_table(report))
    return 0


def fidelity_table(report: dict) -> Table:
    sparsity = report.get("sparsity")
    zeros = "" if sparsity is None else (f"\nsparsity: {sparsity['densities']}\nreference zeros: "
                                         f"{sparsity['reference']}")
    table = Table(title=f"evaluator vs reference scheduler\n{report['network']} at "
                        f"{budget_text(report['power_w'], report.get('area_mm2'))}, "
                        f"{report['designs']} random designs (seed {report['seed']}){zeros}")
    for c in ("figure", "value", "target", ""):
        table.add_column(c, justify="left" if c in ("figure", "") else "right")
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    for key, label, fmt in (
        ("latency_err_max", "latency error, max", pct),
        ("latency_err_median", "latency error, median", pct),
        ("energy_err_max", "energy error, max", pct),
        ("energy_err_median", "energy error, median", pct),
        ("interval_err_max", "interval error, max", pct),
        ("tops_per_watt_spearman", "TOPS/W Spearman rank correlation", lambda x: f"{x:.4f}"),
        ("reloading_designs", "designs that reload weights (segments, tiles)", lambda x: f"{x:d}"),
        ("epitome_layers", "epitome layers (the reference runs each pass)", lambda x: f"{x:d}"),
        ("sim_seconds_per_design", "reference scheduler time per design", lambda x: f"{x:.3g} s"),
        ("sample_seconds_per_design", "zero counting time per design", lambda x: f"{x:.3g} s"),
    ):
        value = report.get(key)
        if value is None:
            continue
        target, verdict = "", ""
        if key in TARGETS:
            goal = TARGETS[key]
            higher = key.endswith("spearman")
            target = (">= " if higher else "<= ") + fmt(goal)
            ok = value >= goal if higher else value <= goal
            verdict = "[green]ok[/]" if ok else "[bold red]MISSED[/]"
        table.add_row(label, fmt(value), target, verdict)
    return table
