"""``pimtune chips``: the bundled published SRAM macros, modelled against measured."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.technology import TECH_DIR, load_technology
from search.cli.common import add_json_arg, console, jsonable

CHIPS_DIR = TECH_DIR / "chips"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "chips", help="the published SRAM in-memory macros: modelled against measured area, clock and TOPS/W",
        description="For each bundled chip (costmodel/tech/chips/*.yaml) the macro model against the "
                    "chip's measured figures, with the published model's own ratios.")
    add_json_arg(p)
    p.set_defaults(func=run)


def chip_rows() -> list[dict]:
    """One entry per bundled chip: measured, model, ratio (model / measured; energy per MAC)."""
    rows = []
    for path in sorted(CHIPS_DIR.glob("*.yaml")):
        tech = load_technology(path)
        m = tech.measured
        s = macro_costs(tech, MacroBatch.from_geometries(tech, [tech.macro])).summary(0)
        model = {"area_mm2": s["area_mm2"], "tclk_ns": s["tclk_ns"], "tops_per_w": s["peak_tops_per_w"]}
        rows.append({
            "name": tech.name, "family": tech.family, "citation": m.citation,
            "measured": {"area_mm2": m.area_mm2, "tclk_ns": m.tclk_ns, "tops_per_w": m.tops_per_w},
            "model": model,
            "ratio": {"area": model["area_mm2"] / m.area_mm2, "tclk": model["tclk_ns"] / m.tclk_ns,
                      "energy_per_mac": m.tops_per_w / model["tops_per_w"]},
            "published_model_ratio": {"area": m.published_model_area_vs_measured,
                                      "tclk": m.published_model_tclk_vs_measured,
                                      "energy_per_mac": m.published_model_energy_per_mac_vs_measured},
        })
    return rows


def run(args: argparse.Namespace) -> int:
    rows = chip_rows()
    if args.json:
        print(json.dumps(jsonable({"chips": rows}), indent=2))
        return 0
    table = Table(title="published SRAM macros: model / measured (published model's ratio in brackets)")
    for col in ("chip", "family", "area mm^2 meas", "model", "ratio", "tclk ns meas", "model", "ratio",
                "TOPS/W meas", "model", "energy/MAC ratio"):
        table.add_column(col, justify="left" if col in ("chip", "family") else "right")
    for r in rows:
        me, mo, ra, pub = r["measured"], r["model"], r["ratio"], r["published_model_ratio"]
        table.add_row(r["name"], r["family"],
                      f"{me['area_mm2']:.4g}", f"{mo['area_mm2']:.4g}", f"{ra['area']:.2f} ({pub['area']:.2f})",
                      f"{me['tclk_ns']:.4g}", f"{mo['tclk_ns']:.4g}", f"{ra['tclk']:.2f} ({pub['tclk']:.2f})",
                      f"{me['tops_per_w']:.4g}", f"{mo['tops_per_w']:.4g}",
                      f"{ra['energy_per_mac']:.2f} ({pub['energy_per_mac']:.2f})")
    console().print(table)
    return 0
