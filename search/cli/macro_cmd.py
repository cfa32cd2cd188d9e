"""``pimtune macro``: one SRAM in-memory macro's clock, area, energy and peak figures."""

from __future__ import annotations

import argparse
import json

from pydantic import ValidationError
from rich.table import Table

from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.families.sram.technology import SramTechnology, check_geometry_family
from costmodel.technology import TechnologyError, load_technology
from search.cli.common import add_json_arg, console, jsonable

GEOMETRY = (("rows", "rows"), ("cols", "cols"), ("banks", "banks"), ("weight_bits", "weight-bits"),
            ("activation_bits", "act-bits"), ("input_bits_per_cycle", "input-bits"), ("adc_bits", "adc-bits"))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "macro", help="one SRAM in-memory macro's clock period, area, energy per cycle and peak TOPS/W",
        description="Model one analog (AIMC) or digital (DIMC) SRAM in-memory macro. Geometry options "
                    "override the technology file's macro block.")
    p.add_argument("--tech", metavar="FILE", default="sram-aimc",
                   help="sram-aimc, sram-dimc, chips/NAME or a YAML path (default: sram-aimc)")
    for field, flag in GEOMETRY:
        p.add_argument(f"--{flag}", dest=field, type=int, metavar="N", help=f"{field} (default: the file's)")
    p.add_argument("--cell-area-um2", type=float, metavar="X",
                   help="one bitcell's area in um^2 (default: the file's; 0 leaves the array out)")
    add_json_arg(p)
    p.set_defaults(func=run)


def sram_technology(source: str) -> SramTechnology:
    tech = load_technology(source)
    if not isinstance(tech, SramTechnology):
        raise TechnologyError(f"{source}: family {tech.family} is not an SRAM in-memory macro; "
                              "pass sram-aimc, sram-dimc, chips/NAME or an sram_aimc/sram_dimc file")
    return tech


def run(args: argparse.Namespace) -> int:
    tech = sram_technology(args.tech)
    update = {f: getattr(args, f) for f, _ in GEOMETRY if getattr(args, f) is not None}
    if not tech.is_analog and "adc_bits" in update:
        raise TechnologyError(f"{args.tech}: a digital macro (sram_dimc) has no ADC; drop --adc-bits")
    if args.cell_area_um2 is not None and not args.cell_area_um2 >= 0:
        raise TechnologyError(f"--cell-area-um2 must be a number >= 0, got {args.cell_area_um2}")
    try:
        geom = type(tech.macro).model_validate(tech.macro.model_dump() | update)
        check_geometry_family(geom, tech.family)
    except (ValidationError, ValueError) as exc:
        err = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
        flag = dict(GEOMETRY).get(str(err["loc"][0]) if err["loc"] else "", "")
        msg = err["msg"].removeprefix("Value error, ")
        raise TechnologyError(f"macro{' --' + flag if flag else ''}: {msg}") from None
    costs = macro_costs(tech, MacroBatch.from_geometries(tech, [geom], args.cell_area_um2))
    out = {"tech": tech.name, "family": tech.family, "geometry": geom.model_dump(),
           "cell_area_um2": tech.cell.area_um2 if args.cell_area_um2 is None else args.cell_area_um2,
           **costs.summary(0)}
    if args.json:
        print(json.dumps(jsonable(out), indent=2))
    else:
        render(out)
    return 0


def render(out: dict) -> None:
    con = console()
    g = out["geometry"]
    adc = f", {g['adc_bits']}-bit ADC" if g.get("adc_bits") else ""
    con.print(f"{out['tech']} ({out['family']}): {g['rows']} rows x {g['cols']} cols x {g['banks']} banks, "
              f"{g['weight_bits']}-bit weights, {g['activation_bits']}-bit activations, "
              f"{g['input_bits_per_cycle']} input bit(s) per cycle{adc}, bitcell {out['cell_area_um2']:g} um^2")
    table = Table(title="per component")
    for col in ("component", "area mm^2", "area %", "energy/cycle pJ", "energy %", "delay ns"):
        table.add_column(col, justify="left" if col == "component" else "right")
    area, energy = out["area_mm2"], out["energy_per_cycle_pj"]
    for name, a in out["area_breakdown_mm2"].items():
        e, d = out["energy_breakdown_pj"][name], out["tclk_breakdown_ns"][name]
        table.add_row(name, f"{a:.4g}", f"{100 * a / area:.1f}" if area else "-", f"{e:.4g}",
                      f"{100 * e / energy:.1f}" if energy else "-", f"{d:.4g}")
    table.add_row("total", f"{area:.4g}", "100", f"{energy:.4g}", "100", f"{out['tclk_ns']:.4g} (clock)")
    con.print(table)
    con.print(f"MACs per cycle {out['macs_per_cycle']:g}; peak {out['peak_tops']:.4g} TOPS, "
              f"{out['peak_tops_per_w']:.4g} TOPS/W, {out['peak_tops_per_mm2']:.4g} TOPS/mm^2")
