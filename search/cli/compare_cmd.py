"""``pimtune compare MODEL --power W | --area MM2 --samplers sa,ea,... --trials N --seeds K --out DIR``:
the samplers side by side (see :mod:`search.flat.compare`)."""

from __future__ import annotations

import argparse
import json

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from costmodel.technology import require_network_family
from costmodel import load_technology
from onnx_frontend.errors import PimtuneError
from costmodel.budgets import budget_text
from search.cli.common import (
    MODEL_HELP, add_budget_args, add_epitomes_arg, add_json_arg, add_tech_arg, budgets_of, console, densities_of,
    epitome_setting, jsonable, load_model_arg, output_dir, positive_int,
)
from search.cli.search_cmd import TPE_SLOW_TRIALS, add_space_args, space_options
from search.flat.compare import COMPARED, REACH, run_compare
from search.samplers.sampler_factory import SAMPLERS, TPE_NOTE
from space import DesignSpace

DEFAULT_SAMPLERS = "sa,ea,tpe,random"

DESCRIPTION = f"""\
Run every sampler K times (seeds 0..K-1) on MODEL's design space (under --power W,
--area MM2 or both) with the same trial budget, objective TOPS/W, the runs in parallel processes (--jobs). Writes to DIR:
summary.csv and summary.md (per sampler: best and median final TOPS/W over the seeds,
interquartile range, trials to reach {REACH:.0%} of the best TOPS/W of all runs, median wall
seconds), traces.npz (best-so-far TOPS/W of every run) and convergence.png, and prints the
table. Samplers: {', '.join(s for s in SAMPLERS if s != 'nsga2')} (cmaes needs `pip install
cmaes`, gp `pip install 'pimtune[gp]'`). With --sparsity other than dense every layer's sparsity
mode is searched too."""


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare samplers over several seeds with one trial budget",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_budget_args(p)
    p.add_argument("--samplers", default=DEFAULT_SAMPLERS, metavar="LIST",
                   help=f"comma-separated samplers (default {DEFAULT_SAMPLERS})")
    p.add_argument("--trials", required=True, type=positive_int, metavar="N", help="trials of every run")
    p.add_argument("--seeds", type=positive_int, default=3, metavar="K", help="runs per sampler, seeds 0..K-1 (default 3)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the summary, traces and plot")
    p.add_argument("--jobs", type=positive_int, default=2, metavar="J", help="parallel worker processes (default 2)")
    p.add_argument("--objective", choices=tuple(COMPARED), default="tops_per_watt",
                   help="tops_per_watt (a stream: static energy over the pipeline interval, default) or "
                        "tops_per_watt_single (one inference alone: static energy over its latency)")
    add_tech_arg(p)
    add_space_args(p)
    add_epitomes_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def parse_samplers(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise PimtuneError(f"--samplers: give at least one of {', '.join(SAMPLERS)}")
    for s in names:
        if s not in SAMPLERS:
            raise PimtuneError(f"--samplers: unknown sampler {s!r}; choose from {', '.join(SAMPLERS)}")
    if "nsga2" in names:
        raise PimtuneError("--samplers: nsga2 is a multi-objective sampler; compare runs one objective (TOPS/W)")
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    power, area = budgets_of(args)
    samplers = parse_samplers(args.samplers)
    network = load_model_arg(args.model, epitome_setting(args)[0])
    tech = require_network_family(load_technology(args.tech))
    densities = densities_of(args.sparsity, args.model, network, tech)
    space = DesignSpace.for_network(network, tech, power, space_options(args), area_mm2=area, densities=densities)
    output_dir(args.out)
    err = console(stderr=True)
    if "tpe" in samplers and args.trials > TPE_SLOW_TRIALS:
        err.print(f"note: {TPE_NOTE}; {args.trials} trials per TPE run may take hours", style="yellow")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task(f"compare on {network.name} at {space.budget_text()}", total=len(samplers) * args.seeds,
                            last="runs")

        def progress(done, total, record):
            bar.update(task, completed=done, last=f"last: {record['sampler']} seed {record['seed']} "
                                                  f"{record['best']:.4g} TOPS/W in {record['seconds']:.0f} s")

        result = run_compare(space, samplers, args.trials, args.seeds, args.out, jobs=args.jobs, progress=progress,
                             objective=args.objective)
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
    else:
        render(result)
    return 0


def render(result: dict) -> None:
    out = console()
    table = Table(title=f"{result['network']} at {budget_text(result['power_w'], result.get('area_mm2'))}: "
                        f"{result['trials']} trials x "
                        f"{len(result['seeds'])} seeds per sampler ({COMPARED[result['objective']]}, higher is better)")
    for c in ("sampler", "best", "median", "IQR", f"trials to {REACH:.0%} of {result['overall_best']:.4g}",
              "reached", "median wall s", "median trials/s"):
        table.add_column(c, justify="left" if c == "sampler" else "right")
    for s, r in result["samplers"].items():
        reach = "never" if r["trials_to_95"] is None else f"{r['trials_to_95']:g}"
        table.add_row(s, f"{r['best']:.4f}", f"{r['median']:.4f}", f"{r['iqr']:.4f}", reach,
                      f"{r['reached_95']}/{r['runs']}", f"{r['median_seconds']:.1f}",
                      f"{r['median_trials_per_second']:.0f}")
    out.print(table)
    if "sparsity" in result:
        out.print(f"sparsity: {result['sparsity']} (every layer's mode searched)")
    out.print(f"wall time {result['seconds']:.1f} s; files: {', '.join(result['files'].values())}")


__all__ = ["register", "run"]
