"""``pimtune search MODEL --power W | --area MM2 --sampler NAME --trials N``: the flat search.

One Optuna study searches the whole design space of MODEL at the budgets (see
:mod:`search.flat.flat_search`). With ``--storage URL --study-name NAME`` the study lives in a
database and a second invocation continues it to the same total ``--trials``; a study of
that name made for another network, budget, technology, space, sampler or objectives is
refused. Exit status: 0 when a feasible design was found, 1 when none was, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import optuna
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from costmodel.technology import require_network_family
from costmodel import load_technology
from costmodel.summary import design_summary
from search.cli.common import (
    MODEL_HELP, add_budget_args, add_epitomes_arg, add_json_arg, add_sparsity_arg, add_tech_arg, budgets_of, console,
    densities_of, epitome_setting, jsonable, load_model_arg, positive_int, warn_if_beyond_one_die,
)
from search.cli.evaluate_cmd import globals_line, headline_table
from search.flat.flat_search import OBJECTIVES, check_objectives, directions_of, run_search
from search.points import trial_point
from search.samplers.sampler_factory import SAMPLERS, TPE_NOTE, make_sampler
from search.storage.studies import open_storage, open_study, tech_fingerprint
from space import DesignSpace, SpaceOptions

DESCRIPTION = """\
Search the design space of MODEL under a power budget (--power W), an area budget
(--area MM2) or both with one Optuna sampler: sa
(simulated annealing), ea (PIMSYN's evolutionary algorithm), tpe, cmaes (needs `pip
install cmaes`), random, nsga2 or gp (needs `pip install 'pimtune[gp]'`). Every trial is
repaired to a valid design and scored by the analytical cost model; the best design (one
objective) or the Pareto front (several) is printed. With --storage and --study-name the
study is kept in a database (e.g. sqlite:///pimtune.db) or an Optuna journal file (a path
ending in .log); either takes ~200-300 trials/s: running the same command again continues it
to the same total --trials. With --sparsity other than dense, every layer's sparsity mode
(none, gate, skip, compact) is a searched parameter too. Exit status: 0 if a feasible design
was found, 1 if none was, 2 on bad input."""

#: ``--trials`` above which a TPE search prints a note on its cost.
TPE_SLOW_TRIALS = 5000


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="search a model's design space with one sampler",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_budget_args(p)
    p.add_argument("--sampler", required=True, choices=SAMPLERS, metavar="NAME",
                   help=f"one of {', '.join(SAMPLERS)}")
    p.add_argument("--trials", required=True, type=positive_int, metavar="N",
                   help="complete trials the study holds at the end (a resumed study continues to N)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the sampler (default: drawn)")
    add_tech_arg(p)
    p.add_argument("--storage", metavar="URL", default=None,
                   help="Optuna storage: a database URL such as sqlite:///pimtune.db, or a journal file "
                        "ending in .log; default: in memory")
    p.add_argument("--study-name", metavar="NAME", default=None,
                   help="study name in --storage (default: MODEL-BUDGETS-SAMPLER-OBJECTIVES, BUDGETS as POWERW, "
                        "AREAmm2 or POWERW-AREAmm2, with -sp-FINGERPRINT of the densities unless --sparsity dense "
                        "and -ep-FINGERPRINT of an epitome plan)")
    p.add_argument("--objectives", default="tops_per_watt", metavar="LIST",
                   help=f"comma-separated objectives from {', '.join(OBJECTIVES)} (default tops_per_watt; "
                        "tops_per_watt and throughput are maximised, area minimised)")
    add_space_args(p)
    add_epitomes_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def add_space_args(p: argparse.ArgumentParser) -> None:
    """``--no-sharing``, ``--macros``, ``--segments``, ``--batch``, ``--batch-max`` and
    ``--sparsity``: the space options a search command takes (read the densities of
    ``--sparsity`` with :func:`search.cli.common.densities_of`)."""
    p.add_argument("--no-sharing", action="store_true", help="layers never share another layer's macros")
    p.add_argument("--macros", choices=("specialised", "identical"), default="specialised",
                   help="each macro set with its own peripherals (specialised, default) or all macros alike")
    p.add_argument("--segments", choices=("auto", "one", "searched"), default="auto",
                   help="run the network in segments that reload their weights: searched when one copy of the "
                        "weights fits nowhere (auto, default), never (one) or always (searched)")
    p.add_argument("--batch", type=batch_size, default=None, metavar="N",
                   help="inferences per segment run, fixed (1 for latency-bound use); default: searched, "
                        "powers of two up to --batch-max")
    p.add_argument("--batch-max", type=power_of_two, default=64, metavar="N",
                   help="largest batch searched, a power of two (default 64)")
    add_sparsity_arg(p)


def batch_size(text: str) -> int:
    """An argparse type: a batch, a whole number 1..4096."""
    value = positive_int(text)
    if value > 4096:
        raise argparse.ArgumentTypeError(f"{text} is above 4096 inferences per batch; use 1..4096")
    return value


def power_of_two(text: str) -> int:
    """An argparse type: a power of two 1..4096."""
    value = batch_size(text)
    if value & (value - 1):
        raise argparse.ArgumentTypeError(f"{text} is not a power of two; use 1, 2, 4, ... 4096")
    return value


def space_options(args: argparse.Namespace) -> SpaceOptions:
    return SpaceOptions(sharing=not args.no_sharing, macro_mode=args.macros, segments=args.segments,
                        batch=args.batch, batch_max=args.batch_max)


def parse_objectives(text: str) -> tuple[str, ...]:
    return check_objectives([o.strip() for o in text.split(",") if o.strip()])


def run(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    power, area = budgets_of(args)
    objectives = parse_objectives(args.objectives)
    network = load_model_arg(args.model, epitome_setting(args)[0])
    tech = require_network_family(load_technology(args.tech))
    densities = densities_of(args.sparsity, args.model, network, tech)
    space = DesignSpace.for_network(network, tech, power, space_options(args), area_mm2=area, densities=densities)
    directions = directions_of(objectives)
    sampler, batch = make_sampler(args.sampler, space, args.seed, len(objectives),
                                  maximize=directions[0] == "maximize")
    identity = study_identity(space, args.sampler, objectives)
    name = args.study_name or (f"{network.name}-{space.budget_label()}-{args.sampler}-{'-'.join(objectives)}"
                               f"{space.options_label()}")
    storage = open_storage(args.storage)
    study = open_study(storage, name, sampler, directions, identity)

    quiet = args.json
    err = console(stderr=True)
    if args.sampler == "tpe" and args.trials > TPE_SLOW_TRIALS:
        err.print(f"note: {TPE_NOTE}; {args.trials} trials may take hours", style="yellow")
    label = f"{args.sampler} on {network.name} at {space.budget_text()}"
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[rate]} trials/s"),
                  TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task(label, total=args.trials, best="-", rate="-")

        def progress(done, total, best, rate):
            bar.update(task, completed=done, best="-" if best is None else f"{best:.4g}", rate=f"{rate:.0f}")

        done = study._storage.get_n_trials(study._study_id, optuna.trial.TrialState.COMPLETE)
        bar.update(task, completed=min(done, args.trials))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            stats = run_search(space, study, batch, args.trials, objectives, progress=progress)

    report = build_report(space, study, stats, args, objectives, name)
    if report["best"] is not None:
        warn_if_beyond_one_die(report["best"]["metrics"]["area_mm2"]["total"], power, area)
    if quiet:
        print(json.dumps(jsonable(report), indent=2))
    else:
        render(space, stats, report, objectives)
    return 0 if report["best"] is not None else 1


def study_identity(space: DesignSpace, sampler: str, objectives) -> dict:
    """What a study searches: stored in its user attrs and checked when it is resumed."""
    return {"command": "search", "network": space.network.name, **space.budget_identity(),
            "tech": space.tech.name, "tech_sha1": tech_fingerprint(space.tech), **space.sparsity_identity(),
            "sharing": space.options.sharing, "macros": space.options.macro_mode, "parameters": space.dims,
            "sampler": sampler,
            "objectives": list(objectives), **space.segment_identity(), **space.epitome_identity()}


# --- report --------------------------------------------------------------------------------
def design_entry(space: DesignSpace, trial: optuna.trial.FrozenTrial, objectives) -> dict:
    """Metrics (re-evaluated) and the design JSON of a told trial."""
    row = trial_point(space, trial)[None, :]
    res = space.evaluate(row)
    return {"trial": trial.number, "values": dict(zip(objectives, trial.values)),
            "metrics": res.metrics(0), "design": space.to_batch(row).to_dict(0, space.network)}


def build_report(space: DesignSpace, study: optuna.Study, stats, args, objectives, name: str) -> dict:
    report = {
        "network": space.network.name, **space.budget_identity(), "tech": space.tech.name,
        **({} if space.densities is None else {"sparsity": space.densities.source}),
        "sampler": args.sampler, "seed": args.seed, "objectives": list(objectives),
        "study": name, "storage": args.storage,
        "trials": stats.complete, "trials_run": stats.trials, "failed_stale": stats.failed_stale,
        "seconds": stats.seconds, "trials_per_second": stats.trials_per_second,
        "best": None,
    }
    if stats.best_trial is not None:
        report["best"] = design_entry(space, stats.best_trial, objectives)
    if len(objectives) > 1:
        report["pareto"] = [{"trial": t.number, "values": dict(zip(objectives, t.values)),
                             "design": space.to_batch(trial_point(space, t)[None, :]).to_dict(0, space.network)}
                            for t in unique_front(stats.pareto, objectives)]
    return report


def unique_front(trials, objectives) -> list:
    """Pareto trials with distinct values, best first objective first."""
    seen, out = set(), []
    sign = -1 if OBJECTIVES[objectives[0]][1] == "maximize" else 1
    for t in sorted(trials, key=lambda t: (sign * t.values[0], t.number)):
        key = tuple(t.values)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def render(space: DesignSpace, stats, report: dict, objectives) -> None:
    out = console()
    run = (f"{report['trials']} trials ({report['trials_run']} run now in {stats.seconds:.1f} s, "
           f"{stats.trials_per_second:.0f} trials/s), sampler {report['sampler']}, study {report['study']!r}")
    if len(objectives) > 1:
        out.print(pareto_table(space, stats, objectives))
    best = report["best"]
    if best is None:
        out.print(f"[bold red]no feasible design[/] in {run}")
        return
    row = np.asarray(trial_point(space, stats.best_trial))[None, :]
    batch = space.to_batch(row)
    summary = design_summary(space.network, space.evaluate(row), 0, batch)
    which = "best design" if len(objectives) == 1 else f"best {objectives[0]} of the front"
    out.print(headline_table(summary, f"{space.network.name} at {space.budget_text()}: {which}, trial {best['trial']}"))
    out.print(globals_line(summary["globals"]))
    if "sparsity" in report:
        out.print(f"sparsity: {report['sparsity']}")
    out.print(run)


def pareto_table(space: DesignSpace, stats, objectives) -> Table:
    front = unique_front(stats.pareto, objectives)
    table = Table(title=f"Pareto front: {len(front)} designs ({len(stats.pareto)} trials)")
    table.add_column("trial", justify="right")
    for c in ("TOPS/W", "throughput (inf/s)", "area (mm^2)"):
        table.add_column(c, justify="right")
    for c in ("xbar", "cell bits", "DAC bits", "rram ratio"):
        table.add_column(c, justify="right")
    for t in front:
        a = t.user_attrs
        g = space.globals_of(trial_point(space, t)[None, :])
        table.add_row(str(t.number), f"{a.get('tops_per_watt', float('nan')):.4g}",
                      f"{a.get('throughput_ips', float('nan')):.4g}", f"{a.get('area_mm2') or float('nan'):.4g}",
                      str(int(g["xbar_size"][0])), str(int(g["cell_bits"][0])), str(int(g["dac_bits"][0])),
                      f"{float(g['rram_ratio'][0]):.2f}")
    return table
