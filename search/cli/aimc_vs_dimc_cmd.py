"""``pimtune aimc-vs-dimc``: the analog-vs-digital SRAM in-memory-computing study.

``pimtune aimc-vs-dimc macro --out DIR`` costs a grid of macro geometries of each family
(:mod:`costmodel.families.sram.macro_space`, one vectorised call per family) and writes
``macro_space.png``, ``macro_space.csv`` and ``macro_fronts.md`` into DIR
(:mod:`search.reports.macro_space_report`).

``pimtune aimc-vs-dimc network SWEEP_FILE --out DIR`` is the network-level half: it reads
the best design of every cell of a sweep (``studies/aimc-vs-dimc.yaml``; run it first with
``pimtune sweep``) whose techs are one ``sram_aimc`` and one ``sram_dimc`` file, keeps the
highest-TOPS/W design per family, network and budget (over seeds and space options), and
hands them to :func:`search.reports.family_fronts.network_study`: ``network_fronts.png``
(TOPS/W against TOPS/mm^2, each family's Pareto front per network),
``network_comparison.csv``, ``network_records.csv`` and ``network_study.md`` (AIMC / DIMC
ratios). It runs no synthesis itself.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import optuna
from rich.table import Table

from costmodel.families.sram.macro_space import ADC_BITS, COLS, INPUT_BITS, ROWS, MacroGrid, evaluate_space
from costmodel.technology import TechnologyError, load_technology
from onnx_frontend.errors import PimtuneError
from search.cli.common import add_json_arg, console, jsonable, output_dir
from search.cli.macro_cmd import sram_technology
from search.reports.family_fronts import comparison_rows, network_study
from search.reports.macro_space_report import summary, write_macro_study
from search.storage.storage_urls import file_of, resolve_storage
from search.storage.studies import open_storage, storage_label
from search.sweeps.sweep import Cell, cell_states, cells_of, short
from search.sweeps.sweep_spec import load_sweep
from search.sweeps.sweep_summary import summary_rows

#: the two families a network study compares, as their technology files name them
FAMILIES = ("sram_aimc", "sram_dimc")
#: design figures a network record carries beside :data:`search.reports.family_fronts.RECORD_KEYS`
DESIGN_KEYS = ("tech", "state", "segments", "batch", "xbar_size", "dac_bits", "adc_bits", "buffer_kib", "tops",
               "seed", "macros", "sharing", "study")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers (e.g. 32,64,128), got {text!r}") \
            from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1, got {text!r}")
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "aimc-vs-dimc", help="the AIMC-vs-DIMC study: peak TOPS/W against TOPS/mm^2 over the macro space",
        description="Compare analog (AIMC) and digital (DIMC) SRAM in-memory macros. `macro`: every geometry "
                    "of a grid of each family, its Pareto front of peak TOPS/W and TOPS/mm^2, plot and tables. "
                    "`network`: the best synthesised design of each family per network and budget of a sweep "
                    "(run with `pimtune sweep` first), TOPS/W against TOPS/mm^2 and AIMC/DIMC ratios.")
    sub = p.add_subparsers(dest="mode", required=True, metavar="MODE")
    m = sub.add_parser(
        "macro", help="peak TOPS/W and TOPS/mm^2 over a grid of macro geometries of each family",
        description="Cost every macro of a grid (rows x cols x input bits per cycle, x ADC bits for AIMC; "
                    "8-bit weights and activations, one bank) of each family in one vectorised call; write "
                    "macro_space.png, macro_space.csv and macro_fronts.md into --out.")
    m.add_argument("--out", metavar="DIR", required=True, help="folder for the plot and tables (created if missing)")
    m.add_argument("--aimc-tech", metavar="FILE", default="sram-aimc",
                   help="the analog family's technology (sram_aimc; default: sram-aimc)")
    m.add_argument("--dimc-tech", metavar="FILE", default="sram-dimc",
                   help="the digital family's technology (sram_dimc; default: sram-dimc)")
    m.add_argument("--cell-area-um2", type=float, metavar="X",
                   help="one bitcell's area in um^2 for both grids (default: each file's)")
    for flag, default, what in (("rows", ROWS, "rows"), ("cols", COLS, "cols"),
                                ("input-bits", INPUT_BITS, "input bits per cycle"),
                                ("adc-bits", ADC_BITS, "AIMC ADC bits")):
        m.add_argument(f"--{flag}", type=_int_list, metavar="N,N,...", default=default,
                       help=f"the grid's {what} (default: {','.join(map(str, default))})")
    m.add_argument("--no-chips", action="store_true", help="do not mark the bundled published chips")
    add_json_arg(m)
    m.set_defaults(func=run_macro)
    n = sub.add_parser(
        "network", help="the best synthesised AIMC and DIMC design per network and budget of a sweep",
        description="Read the best design of every cell of SWEEP_FILE (e.g. studies/aimc-vs-dimc.yaml; its "
                    "techs: one sram_aimc and one sram_dimc file) from the sweep's storage, keep each family's "
                    "highest-TOPS/W design per network and budget, and write network_fronts.png (TOPS/W "
                    "against TOPS/mm^2, each family's Pareto front), network_comparison.csv, "
                    "network_records.csv and network_study.md (AIMC/DIMC ratios) into --out. Runs no "
                    "synthesis: run `pimtune sweep SWEEP_FILE` first.")
    n.add_argument("file", metavar="SWEEP_FILE", help="sweep file (YAML), e.g. studies/aimc-vs-dimc.yaml")
    n.add_argument("--out", metavar="DIR", required=True, help="folder for the plot and tables (created if missing)")
    n.add_argument("--storage", metavar="URL",
                   help="Optuna storage the sweep ran into, overriding the file's `storage` (as for pimtune sweep)")
    add_json_arg(n)
    n.set_defaults(func=run_network)


def _family_tech(source: str, family: str, flag: str):
    tech = sram_technology(source)
    if tech.family != family:
        raise TechnologyError(f"{flag} {source}: family {tech.family}, expected {family}")
    return tech


def run_macro(args: argparse.Namespace) -> int:
    if args.cell_area_um2 is not None and not args.cell_area_um2 >= 0:
        raise TechnologyError(f"--cell-area-um2 must be a number >= 0, got {args.cell_area_um2}")
    techs = [_family_tech(args.aimc_tech, "sram_aimc", "--aimc-tech"),
             _family_tech(args.dimc_tech, "sram_dimc", "--dimc-tech")]
    grid = MacroGrid(rows=args.rows, cols=args.cols, input_bits_per_cycle=args.input_bits, adc_bits=args.adc_bits)
    try:
        for t in techs:
            grid.check(t.is_analog)
    except ValueError as exc:
        raise TechnologyError(f"aimc-vs-dimc macro: {exc}") from None
    out = output_dir(args.out)
    spaces = [evaluate_space(t, grid, args.cell_area_um2) for t in techs]
    files = write_macro_study(spaces, techs, out, grid, args.cell_area_um2, chips=not args.no_chips)
    sm = summary(spaces)
    if args.json:
        print(json.dumps(jsonable({**sm, "files": {k: str(v) for k, v in files.items()}}), indent=2))
        return 0
    con = console()
    table = Table(title="AIMC vs DIMC over the macro space: each family's best peak figures (rows x cols)")
    for col in ("family", "designs", "front", "best", "TOPS/W", "TOPS/mm^2", "geometry"):
        table.add_column(col, justify="right" if col in ("designs", "front", "TOPS/W", "TOPS/mm^2") else "left")
    for label, e in sm["families"].items():
        for key, what in (("best_tops_per_w", "TOPS/W"), ("best_tops_per_mm2", "TOPS/mm^2")):
            r = e[key]
            table.add_row(label, str(e["designs"]), str(e["front_points"]), what, f"{r['tops_per_w']:.4g}",
                          f"{r['tops_per_mm2']:.4g}", r["geometry"])
    con.print(table)
    for name, comp in sm["comparisons"].items():
        runs = ", ".join(f"{r['family']} from {r['tops_per_mm2'][0]:.3g} to {r['tops_per_mm2'][1]:.3g} TOPS/mm^2"
                         for r in comp["joint_front"])
        con.print(f"joint front ({name}): {runs}")
    con.print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


# --- the network-level study ------------------------------------------------------------------
def sweep_families(techs: list[str], file: str) -> dict[str, str]:
    """The family of each of a sweep's techs; PimtuneError (one line) unless they are one
    ``sram_aimc`` and one ``sram_dimc`` file."""
    fams = {t: load_technology(t).family for t in techs}
    if sorted(fams.values()) != list(FAMILIES):
        got = ", ".join(f"{short(t)} ({f})" for t, f in fams.items())
        raise PimtuneError(f"aimc-vs-dimc network: sweep {file} has techs {got}; it needs exactly two, one "
                           f"sram_aimc and one sram_dimc technology file (e.g. techs: [sram-aimc, sram-dimc])")
    return fams


def budget_of(cell: Cell) -> str:
    """A cell's budgets as a record's label: ``20 mm2``, ``10 W`` or ``10 W, 20 mm2``."""
    return ", ".join(f"{v:g} {unit}" for v, unit in ((cell.power_w, "W"), (cell.area_mm2, "mm2")) if v is not None)


def _figure(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def network_records(storage, cells: list[Cell], families: dict[str, str]) -> list[dict]:
    """One record (:data:`search.reports.family_fronts.RECORD_KEYS` plus :data:`DESIGN_KEYS`)
    per family, network and budget, in the sweep's order: the cells' best designs
    (:func:`search.sweeps.sweep_summary.summary_rows`), the highest TOPS/W one where seeds
    or space options give several (figures None where no cell has a feasible design).
    TOPS/mm^2 is the design's TOPS over its chip area."""
    best: dict[tuple, dict] = {}
    for cell, row in zip(cells, summary_rows(storage, cells)):
        tops, area = _figure(row["tops"]), _figure(row["area_mm2"])
        rec = {"family": families[cell.tech], "network": row["network"], "budget": budget_of(cell),
               "tops_per_w": _figure(row["tops_per_watt"]),
               "tops_per_mm2": tops / area if tops is not None and area else None,
               "throughput_ips": _figure(row["throughput_ips"]), "area_mm2": area,
               "energy_j": _figure(row["energy_j"]), **{k: row.get(k) for k in DESIGN_KEYS}}
        key = (rec["network"], rec["budget"], rec["family"])
        held = best.get(key)
        if held is None or (rec["tops_per_w"] is not None
                            and (held["tops_per_w"] is None or rec["tops_per_w"] > held["tops_per_w"])):
            best[key] = rec
    return list(best.values())


def run_network(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_sweep(args.file)
    families = sweep_families(spec.techs, args.file)
    cells = cells_of(spec)
    url = resolve_storage(args.storage, Path.cwd()) if args.storage else spec.storage
    run_first = f"run `pimtune sweep {args.file}` first"
    path = file_of(url)
    if path is not None and not path.exists():
        raise PimtuneError(f"aimc-vs-dimc network: all {len(cells)} cells of sweep {spec.name!r} are missing "
                           f"({storage_label(url)} does not exist); {run_first}")
    storage = open_storage(url, existing=True)
    states = cell_states(storage, cells)
    missing = [c for c in cells if states[c.study_name] != "done"]
    if missing:
        cut = sum(states[c.study_name] == "partial" for c in missing)
        raise PimtuneError(f"aimc-vs-dimc network: {len(missing)} of {len(cells)} cells of sweep {spec.name!r} "
                           f"are not done in {storage_label(url)} ({len(missing) - cut} not run, {cut} cut off); "
                           f"{run_first}")
    out = output_dir(args.out)
    records = network_records(storage, cells, families)
    files = network_study(records, out)
    rows = comparison_rows(records)
    if args.json:
        print(json.dumps(jsonable({"sweep": spec.name, "records": records, "comparison": rows,
                                   "files": {k: str(v) for k, v in files.items()}}), indent=2))
        return 0
    con = console()
    table = Table(title=f"AIMC vs DIMC on whole networks (sweep {spec.name}): each family's best design per "
                        f"network and budget; ratios AIMC / DIMC")
    heads = ("network", "budget", "AIMC TOPS/W", "DIMC TOPS/W", "TOPS/W AIMC/DIMC", "AIMC TOPS/mm^2",
             "DIMC TOPS/mm^2", "TOPS/mm^2 AIMC/DIMC")
    for h in heads:
        table.add_column(h, justify="left" if h in ("network", "budget") else "right")
    for r in rows:
        table.add_row(r["network"], r["budget"],
                      *(_text(r[k]) for k in ("aimc_tops_per_w", "dimc_tops_per_w", "tops_per_w_ratio",
                                               "aimc_tops_per_mm2", "dimc_tops_per_mm2", "tops_per_mm2_ratio")))
    con.print(table)
    con.print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
