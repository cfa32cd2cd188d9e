"""``pimtune aimc-vs-dimc``: the analog-vs-digital SRAM in-memory-computing study.

``pimtune aimc-vs-dimc macro --out DIR`` costs a grid of macro geometries of each family
(:mod:`costmodel.families.sram.macro_space`, one vectorised call per family) and writes
``macro_space.png``, ``macro_space.csv`` and ``macro_fronts.md`` into DIR
(:mod:`search.reports.macro_space_report`).

The network-level study is :func:`search.reports.family_fronts.network_study` (records of
synthesised best designs in, plot and tables out); its sub-mode (``network``), running the
per-network syntheses, is not wired yet: it needs whole networks on SRAM macros.
"""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from costmodel.families.sram.macro_space import ADC_BITS, COLS, INPUT_BITS, ROWS, MacroGrid, evaluate_space
from costmodel.technology import TechnologyError
from search.cli.common import add_json_arg, console, jsonable, output_dir
from search.cli.macro_cmd import sram_technology
from search.reports.macro_space_report import summary, write_macro_study


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
                    "of a grid of each family, its Pareto front of peak TOPS/W and TOPS/mm^2, plot and tables.")
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
