"""``pimtune synth MODEL --power W | --area MM2``: the full two-level synthesis, stored and reported.

Runs :func:`search.synth.synthesis.synthesize` into an Optuna study (default: a SQLite file in
``--out``), then writes the outputs of :mod:`search.synth.synth_report` into ``--out``. Running
the same command again resumes the study: finished outer points are kept, cut-off ones
searched again. Exit status: 0 with a feasible design, 1 without, 2 on bad input, 75 when
another process runs the study, 130 / 143 when interrupted by Ctrl-C / SIGTERM (finished
points are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import optuna
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from costmodel.budgets import budget_fix, budget_label, budget_text
from costmodel.summary import weights_text
from costmodel.technology import require_network_family
from costmodel import load_technology
from costmodel.fixes import fix_for
from search.cli.common import (MODEL_HELP, add_budget_args, add_epitomes_arg, add_json_arg, add_tech_arg, budgets_of,
                               console, densities_of, epitome_setting, jsonable, load_model_arg, output_dir,
                               positive_int, si, warn_if_beyond_one_die)
from search.cli.search_cmd import add_space_args, space_options
from search.synth.effort import EFFORTS, effort_named
from search.objectives import OBJECTIVES, SYNTH_OBJECTIVES, maximised
from search.storage.studies import open_storage
from search.synth.synth_report import write_outputs
from search.synth.synthesis import (DEFAULT_OUTER_TRIALS, OUTER_SAMPLERS, SynthesisPlan, default_study_name, run_label,
                                    synthesis_space, synthesize)

DESCRIPTION = """\
Synthesise the accelerator for MODEL under a power budget (--power W), an area budget
(--area MM2) or both with PIMSYN's two-level flow:
an outer Optuna study over (rram_ratio, cell bits, crossbar size) - by default PIMSYN's
grid - and, per outer point, an SA filter over weight duplication at every DAC resolution
followed by an EA over macro partitioning and sharing, scored by the vectorised cost
model. With --sparsity other than dense (the model's measured zeros, or a profile) the
EA also searches every layer's sparsity mode (none, gate, skip, compact), and the reference
designs map the same weights. With --epitomes PLAN.yaml the network stores a plan's
epitomes; with --epitomes search (and --min-ratio R or --accuracy-table FILE, optionally
--weight-bits) the dense synthesis runs first, then an EA from each outer point's best
designs searches every conv layer's epitome shape (and precision) jointly with duplication
and macros; every layer dense stays a candidate, so the result is at least as good in the
objective as the dense synthesis at the same budget, effort and seed, which the report's
Epitomes section compares against (with epitomes.png). The study is stored (default: OUT/study.db); rerunning the
same command resumes it. Writes design.json, report.md, pareto.png, energy.png, convergence.png and
pimcomp.json to OUT. Exit status: 0 if a feasible design was found, 1 if none was, 2 on
bad input, 75 if another process runs the study, 130 (Ctrl-C) or 143 (SIGTERM) when
interrupted."""


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="synthesise the best accelerator for a network and power or area budget",
                              description=DESCRIPTION)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_budget_args(p)
    add_tech_arg(p)
    add_space_args(p)
    add_epitomes_arg(p, search=True)
    p.add_argument("--objective", choices=SYNTH_OBJECTIVES, default="tops_per_watt",
                   help="what the best design maximises (TOPS/W of a stream, TOPS/W of one inference "
                        "alone, inferences/s) or minimises (EDP, J*s); default tops_per_watt")
    p.add_argument("--effort", choices=tuple(EFFORTS), default="default",
                   help="search effort per outer point: quick, default (PIMSYN's: 10 SA candidates x 3 DAC "
                        "resolutions x EA 40 x 200) or thorough")
    p.add_argument("--outer", choices=OUTER_SAMPLERS, default="grid",
                   help="outer sampler: PIMSYN's grid (default), or Optuna's tpe / random over a finer rram_ratio")
    p.add_argument("--trials", type=positive_int, default=DEFAULT_OUTER_TRIALS, metavar="N",
                   help=f"outer trials of --outer tpe/random (default {DEFAULT_OUTER_TRIALS}; the grid runs all its points)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes running outer points in parallel (default: the CPU count)")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (default: synth-MODEL-BUDGETS-EFFORT, BUDGETS as POWERW, AREAmm2 or "
                        "POWERW-AREAmm2, with -sSEED for a seed other than 0, -sp-FINGERPRINT of the densities "
                        "unless --sparsity dense and -ep-FINGERPRINT of the epitome setting with --epitomes)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage: an RDB URL or a journal file *.log (default: sqlite:///OUT/study.db)")
    p.add_argument("--study-name", metavar="NAME",
                   help="study name (default: MODEL-BUDGETS-synth-OBJECTIVE-EFFORT[-sSEED][-sp-FINGERPRINT]"
                        "[-ep-FINGERPRINT])")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    power, area = budgets_of(args)
    plan_file, epitomes = epitome_setting(args)
    network = load_model_arg(args.model, plan_file)
    tech = require_network_family(load_technology(args.tech))
    plan = SynthesisPlan(objective=args.objective, outer=args.outer, effort=effort_named(args.effort),
                         trials=args.trials, seed=args.seed, jobs=args.jobs)
    plan.check()
    densities = densities_of(args.sparsity, args.model, network, tech)
    space = synthesis_space(network, tech, power, space_options(args), plan, area_mm2=area, densities=densities,
                            epitomes=epitomes)
    # the folder is made first only when it holds the default storage: a refused --storage leaves no trace
    default_out = f"synth-{network.name}-{budget_label(power, area)}-{run_label(plan)}{space.options_label()}"
    out = output_dir(args.out or default_out, create=not args.storage)
    url = args.storage or f"sqlite:///{out / 'study.db'}"
    storage = open_storage(url, resumable=True)
    output_dir(out)
    name = args.study_name or default_study_name(space, plan)

    err = console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("left"),
                  TimeRemainingColumn(), console=err, disable=args.json) as bar:
        task = bar.add_task(f"synth {network.name} at {budget_text(power, area)}", total=None, best="-")

        def progress(done, total, best, seconds):
            bar.update(task, completed=done, total=total, best="-" if best is None else f"{best:.4g}")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            study, stats = synthesize(space, plan, storage, name, progress)
    summary = write_outputs(out, space, study, plan, url)
    if summary["best"] is not None:
        warn_if_beyond_one_die(summary["best"]["area_mm2"]["total"], power, area)
    summary["search"] = {"searched_now": stats.searched, "retried": stats.retried, "skipped_now": stats.skipped,
                         "seconds": stats.seconds, "evaluations_now": stats.evaluations}
    if args.json:
        print(json.dumps(jsonable(summary), indent=2))
    else:
        reasons = dict.fromkeys(t.user_attrs.get("reason", "") for t in study.get_trials(deepcopy=False))
        render(summary, out, fix_for((r for r in reasons if r), budget_fix(power, area)))
    return 0 if summary["best"] is not None else 1


def render(summary: dict, out: Path, fix: str) -> None:
    """Print the synthesis' outcome; ``fix`` is what to do when nothing was feasible."""
    con = console()
    s = summary["search"]
    con.print(f"searched {s['searched_now']} outer points now ({s['evaluations_now']:,} designs scored, "
              f"{s['retried']} cut-off retried) in {s['seconds']:.1f} s; study {summary['study']!r}")
    best = summary["best"]
    at = budget_text(summary["power_w"], summary.get("area_mm2"))
    if best is None:
        con.print(f"[bold red]no feasible design at {at}[/]: {fix} (every outer "
                  f"point's reason is in {summary['files']['report']})")
        return
    objective = summary["objective"]
    attr = OBJECTIVES[objective][0]
    table = Table(title=f"best design of {summary['network']} at {at}")
    for col in ("design", "TOPS/W", "1-inf TOPS/W", "throughput", "latency", "energy", "EDP", "area", f"gain in {objective}"):
        table.add_column(col, justify="right" if col != "design" else "left")
    rows = [("synthesised", best)] + list(summary["references"].items())
    for name, m in rows:
        if "tops_per_watt" not in m:
            table.add_row(name, "-", "-", "-", "-", "-", "-", "-", m["reason"])
            continue
        gain = "-"
        if m["feasible"] and m[attr]:
            gain = f"{(best[attr] / m[attr]) ** (1 if maximised(objective) else -1):.2f}x"
        table.add_row(name, f"{m['tops_per_watt']:.4f}", f"{m.get('tops_per_watt_single', float('nan')):.4f}",
                      f"{m['throughput_ips']:.4g} inf/s", si(m["latency_s"], "s"),
                      si(m["energy_j"]["total"], "J"), f"{m['edp_js']:.3g} J*s", f"{m['area_mm2']['total']:.1f} mm^2",
                      gain)
    con.print(table)
    p = best["params"]
    con.print(f"outer point: rram_ratio {p['rram_ratio']:g}, {best['arrays']} (trial {best['trial']})")
    con.print(weights_text(best))
    if "sparsity" in summary:
        con.print(f"sparsity: {summary['sparsity']}; the references exploit no zeros")
    ep = summary.get("epitome_comparison")
    if ep is not None:
        line = (f"epitomes: {ep['epitome_layers']} of {len(ep['layers'])} layers, "
                f"{ep['stored_weight_compression']:.2f}x fewer stored weights, "
                f"{ep['crossbars_one_copy_dense'] / max(ep['crossbars_one_copy'], 1):.2f}x fewer crossbars per copy")
        if "designs" in ep:
            d = ep["designs"]["dense synthesis"]
            line += (f"; the dense synthesis at the same budget: {d['tops_per_watt']:.4f} TOPS/W "
                     f"(epitomes {ep['gain']['tops_per_watt']:.3f}x)")
        con.print(line)
    con.print("wrote " + ", ".join(Path(v).name for v in summary["files"].values()) + f" to {out}/")
