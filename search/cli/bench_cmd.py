"""``pimtune bench``: designs per second of the evaluator, seconds per design of the
reference scheduler, per zoo network (``--sparsity``: the evaluator with random
sparsity modes and the densities the spec names)."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from costmodel.technology import require_network_family
from costmodel import load_technology
from costmodel.benchmark import bench_evaluator, bench_reference, thread_info
from costmodel.fidelity import feasible_random_designs
from space import DesignSpace
from onnx_frontend import load_network
from onnx_frontend.errors import PimtuneError
from onnx_frontend.zoo import NETWORKS, build_model
from costmodel.budgets import budget_text
from costmodel.sparsity.source import DENSE, MEASURED, sparsity_densities
from onnx_frontend.zoo.random_weights import with_random_weights
from search.cli.common import (add_budget_args, add_epitomes_arg, add_json_arg, add_sparsity_arg, add_tech_arg,
                               budgets_of, console, jsonable, load_model_arg, positive_int, require_sparsity_support)

REFERENCE_DESIGNS = 3
REFERENCE_LIMIT_S = 20.0

DESCRIPTION = f"""\
Time the vectorised evaluator (median over --repeats calls on --batch random designs, after
one warm-up) and the exact reference scheduler (median over {REFERENCE_DESIGNS} random
feasible designs; a design predicted to take more than {REFERENCE_LIMIT_S:g} s is skipped) on
zoo networks. The figures are per core: every pimtune command limits numpy's BLAS/OpenMP
pools to one thread (the thread settings are reported). With --sparsity other than dense the
evaluator's designs take a random sparsity mode per layer and are scored with the densities
(measured: each zoo network first gets random He-normal weights, seed 0; a profile needs
--network NAME); the reference scheduler keeps timing dense designs. With --epitomes
PLAN.yaml every network gets the plan (its layer names must exist in each network timed: a
global compression ratio fits any), its designs a random epitome per conv layer, and the
reference scheduler runs every crossbar pass of those layers."""


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time the evaluator and the reference scheduler on zoo networks",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", default="all", metavar="NAME",
                   help=f"a zoo network or 'all' (default): {', '.join(NETWORKS)}")
    p.add_argument("--batch", type=positive_int, default=4096, metavar="N",
                   help="designs per evaluate call (default 4096)")
    p.add_argument("--repeats", type=positive_int, default=7, metavar="R", help="timed calls (default 7)")
    add_budget_args(p, default_power=49.0)
    add_tech_arg(p)
    add_sparsity_arg(p)
    add_epitomes_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.network != "all" and args.network not in NETWORKS:
        raise PimtuneError(f"bench: unknown network {args.network!r}; choose 'all' or one of: {', '.join(NETWORKS)}")
    names = list(NETWORKS) if args.network == "all" else [args.network]
    power, area = budgets_of(args)
    tech = require_network_family(load_technology(args.tech))
    if args.sparsity != DENSE:
        require_sparsity_support(args.sparsity, tech)
        if args.sparsity != MEASURED and len(names) > 1:
            raise PimtuneError(f"bench: --sparsity {args.sparsity}: a profile names one network's layers; pass "
                               "--network NAME (the profile's network), or use --sparsity measured")
    rows = []
    status = None if args.json else console(stderr=True)
    for name in names:
        if status is not None:
            status.print(f"bench: {name} ...", style="dim")
        rows.append(bench_network(name, tech, power, args.batch, args.repeats, area, args.sparsity, args.epitomes))
    report = {"power_w": power, **({} if area is None else {"area_mm2": area}), "batch": args.batch,
              "repeats": args.repeats, **({} if args.sparsity == DENSE else {"sparsity": args.sparsity}),
              **({"epitomes": args.epitomes} if args.epitomes else {}),
              "threads": thread_info(), "networks": rows}
    if args.json:
        print(json.dumps(jsonable(report), indent=2))
    else:
        out = console()
        out.print(bench_table(report))
        out.print(threads_line(report["threads"]))
    return 0


def bench_network(name: str, tech, power_w: float | None, batch: int, repeats: int,
                  area_mm2: float | None = None, sparsity: str = DENSE, epitomes: str | None = None) -> dict:
    """Evaluator and reference timings of one zoo network (see ``costmodel.benchmark``)
    under ``power_w`` W and/or ``area_mm2`` mm^2, the evaluator's with the densities
    ``sparsity`` names (:func:`bench_densities`); with the epitome plan file ``epitomes``,
    of the network with the plan (its designs draw random epitomes)."""
    network = load_model_arg(name, epitomes)
    densities = bench_densities(sparsity, name, tech)
    # the designs a search would score: segmented where the network fits nowhere in the space
    segmented = DesignSpace.for_network(network, tech, power_w, area_mm2=area_mm2, densities=densities).segmented
    row = {"network": name, "layers": len(network.layers), "weighted_layers": len(network.weighted_layers),
           "segmented_space": segmented,
           **({} if densities is None else {"sparsity": densities.source}),
           "evaluator": bench_evaluator(network, tech, power_w, batch, repeats, area_mm2=area_mm2, segmented=segmented,
                                        densities=densities)}
    try:
        designs = feasible_random_designs(network, tech, power_w, REFERENCE_DESIGNS, seed=0, max_rounds=10,
                                          area_mm2=area_mm2, segmented=segmented)
    except PimtuneError as exc:
        row["reference"] = {"designs": 0, "skipped": REFERENCE_DESIGNS, "median_s": None, "note": str(exc)}
        return row
    row["reference"] = bench_reference(network, tech, power_w, designs, max_seconds=REFERENCE_LIMIT_S,
                                       area_mm2=area_mm2)
    return row


def bench_densities(sparsity: str, name: str, tech):
    """The densities of ``--sparsity`` for zoo network ``name`` (None: dense): ``measured``
    runs the network with random He-normal weights (seed 0), since the zoo's models hold
    none; a profile is read against the network's layers."""
    if sparsity == DENSE:
        return None
    model = with_random_weights(build_model(name)) if sparsity == MEASURED else build_model(name)
    return sparsity_densities(sparsity, load_network(model, name=name), tech, model)


def bench_table(report: dict) -> Table:
    sparsity = f", sparsity {report['sparsity']} (random modes)" if "sparsity" in report else ""
    sparsity += f", epitomes {report['epitomes']} (random epitomes)" if "epitomes" in report else ""
    table = Table(title=f"pimtune bench: {report['batch']} designs x {report['repeats']} calls, "
                        f"{budget_text(report['power_w'], report.get('area_mm2'))} budget{sparsity}")
    for c in ("network", "layers", "evaluator designs/s", "ms per batch", "reference s/design",
              "reference designs (steps)"):
        table.add_column(c, justify="left" if c == "network" else "right")
    for row in report["networks"]:
        ev, ref = row["evaluator"], row["reference"]
        if ref["median_s"] is None:
            ref_s = "skipped"
        else:
            ref_s = f"{ref['median_s']:.3g}"
        detail = ", ".join(str(s) for s in ref.get("steps", []))
        if ref.get("skipped"):
            why = "no feasible design" if "note" in ref else f"> {ref['max_seconds']:g} s"
            detail = (detail + "; " if detail else "") + f"{ref['skipped']} skipped ({why})"
        table.add_row(row["network"], f"{row['layers']} ({row['weighted_layers']} w)",
                      f"{ev['designs_per_s']:,.0f}", f"{ev['ms_per_batch']:.1f}", ref_s, detail)
    return table


def threads_line(info: dict) -> str:
    pools = ", ".join(f"{p['api']} {p['threads']}" for p in info.get("pools", [])) or "none"
    return f"threads: numpy pools limited to 1 (pools: {pools}); {info['cpus']} CPUs"
