"""``pimtune sweep FILE``: run every synthesis of a sweep file on Ray, or summarise it.

Cells (:mod:`search.sweeps.sweep`) that the storage already holds as done are skipped; the
others run as Ray Tune trials (:mod:`search.sweeps.sweep_ray`) on a new local Ray, or on the
cluster at ``--address`` / ``RAY_ADDRESS``. ``--summary`` runs nothing and writes the
table and plot of :mod:`search.sweeps.sweep_summary`. Exit status: 0 when every cell is done,
1 when some are not (rerun to resume), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
from rich.table import Table

from onnx_frontend.errors import PimtuneError
from search.cli.common import console, output_dir, positive_int
from search.storage.storage_urls import resolve_storage
from search.storage.studies import open_storage, storage_label
from search.sweeps.sweep import Cell, cell_states, cells_of, load_inputs
from search.sweeps.sweep_spec import load_sweep
from search.sweeps.sweep_summary import cell_text, columns, summary_rows, write_summary

DESCRIPTION = """\
Run the syntheses a sweep file declares (networks x power budgets x area budgets x
technologies x options x seeds; see studies/*.yaml) as Ray Tune trials, each writing its outer-level
study into the sweep's Optuna storage: SQLite on one machine, PostgreSQL
(postgresql://USER:PASSWORD@HOST/DB) or a journal file on a shared folder for several.
Rerunning (or --resume) skips the cells that are done and redoes the cut-off ones.
--summary prints and writes the table of every cell's best design (CSV, Markdown) and a
plot of TOPS/W against power budget (area budget without power budgets). Exit status: 0
when every cell is done, 1 when some are not, 2 on bad input."""


def register(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run a sweep file's syntheses on Ray, or summarise them",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="sweep file (YAML), e.g. studies/quick-sweep.yaml")
    p.add_argument("--address", metavar="ADDR",
                   help="Ray cluster to run on, e.g. 127.0.0.1:6379 (default: RAY_ADDRESS, else a new local Ray)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage, overriding the file's `storage` (an RDB URL or a journal file *.log)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep; refuses a storage that holds none of its cells")
    p.add_argument("--max-concurrent", type=positive_int, metavar="N",
                   help="cells running at once (default: the cluster's CPU count)")
    p.add_argument("--summary", action="store_true",
                   help="run nothing: print the cells' best designs and write summary.csv, summary.md and "
                        "tops_per_watt.png into --out")
    p.add_argument("--out", metavar="DIR", help="folder of the summary files (default: sweep-NAME)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_sweep(args.file)
    cells = cells_of(spec)
    # --storage is relative to the working directory, the file's storage to the file (load_sweep);
    # absolute either way, as trials run in other working directories
    url = resolve_storage(args.storage, Path.cwd()) if args.storage else spec.storage
    storage = open_storage(url, resumable=True, existing=args.summary or args.resume)
    con = console()
    states = cell_states(storage, cells)
    if (args.summary or args.resume) and all(s == "new" for s in states.values()):
        what, fix = ("summarise", "run the sweep first") if args.summary else ("resume", "drop --resume to start it")
        raise PimtuneError(f"nothing to {what}: {storage_label(url)} holds no study of sweep {spec.name!r}; "
                           f"check --storage, or {fix}")
    if args.summary:
        return summarise(storage, cells, output_dir(args.out or f"sweep-{spec.name}"), spec.name)
    todo = [c for c in cells if states[c.study_name] != "done"]
    con.print(f"sweep {spec.name!r}: {len(cells)} cells, {len(cells) - len(todo)} done, "
              f"{sum(s == 'partial' for s in states.values())} cut off, "
              f"{sum(s == 'new' for s in states.values())} new; storage {storage_label(url)}")
    if todo:
        run_cells(todo, url, args, len(cells) - len(todo), len(cells))
    states = cell_states(storage, cells)
    missing = [c for c in cells if states[c.study_name] != "done"]
    if missing:
        con.print(f"[bold red]{len(missing)} of {len(cells)} cells not done[/]; run the same command again "
                  f"(or with --resume) to continue")
        return 1
    con.print(f"all {len(cells)} cells done; the same command with --summary tabulates them")
    return 0


def run_cells(todo: list[Cell], url: str, args: argparse.Namespace, done: int, total: int) -> None:
    """Run the cells on Ray, printing a line per finished or failed cell."""
    from search.sweeps import sweep_ray   # Ray is imported only for a run

    inputs = load_inputs(todo)
    err = console(stderr=True)
    count = done

    def report(cell: Cell, result: dict | None, error: str | None, seconds: float) -> None:
        nonlocal count
        name = cell.study_name.split("/", 1)[-1]
        if error:
            err.print(f"[red]failed[/] {name}: {error}")
            return
        count += 1
        best = "no feasible design" if result["best"] is None else f"best {result['best']:.4g}"
        err.print(f"[{count}/{total}] {name}: {best}, {result['searched']} points in {result['seconds']:.1f} s "
                  f"on node {result['node']} ({seconds:.0f} s into the run)")

    sweep_ray.connect(args.address)
    try:
        orphans = sweep_ray.wait_for_orphans()
        if orphans:
            err.print(f"waited for {orphans} trials of an interrupted run to stop")
        sweep_ray.run_on_ray(todo, inputs, url, args.max_concurrent, report)
    finally:
        sweep_ray.shutdown()


def summarise(storage, cells: list[Cell], out: Path, name: str) -> int:
    rows = summary_rows(storage, cells)
    files = write_summary(rows, out, f"sweep {name}")
    table = Table(title=f"sweep {name}: best design per cell")
    varying = ("tech", "macros", "sharing", "seed")          # shown when they vary
    hidden = ("study", "latency_s", "energy_j", "power_avg_w")    # in the files only
    shown = [c for c in columns(rows)
             if c[0] not in hidden and (c[0] not in varying or len({r[c[0]] for r in rows}) > 1)]
    for key, heading, fmt in shown:
        table.add_column(heading, justify="left" if fmt == "{}" else "right")
    for r in rows:
        table.add_row(*(cell_text(fmt, r[key]) for key, _, fmt in shown))
    con = console()
    con.print(table)
    con.print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0 if all(r["state"] == "done" for r in rows) else 1
