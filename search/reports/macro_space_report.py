"""The AIMC-vs-DIMC comparison at the macro level: peak TOPS/W against peak TOPS/mm^2 of
every design of each family's grid (:mod:`costmodel.families.sram.macro_space`), as a plot, a CSV
and a Markdown summary of the fronts.

:func:`write_macro_study` writes, into one folder:

- ``macro_space.png``: TOPS/W (y) against TOPS/mm^2 (x), log axes, one colour per family,
  each family's Pareto front as a step line (AIMC's designs whose ADC is lossless darker,
  their own front dashed), each technology file's own geometry (for the bundled files the
  published regression point) and the seven bundled chips (modelled, each at its own node,
  voltage and activity) marked;
- ``macro_space.csv``: one row per design of both grids (units in the column names);
- ``macro_fronts.md``: each family's best TOPS/W and TOPS/mm^2 and where, the front points,
  which family holds the joint front over which TOPS/mm^2 range, and the marked points.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.pareto import dominated_by, pareto_front
from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.families.sram.macro_space import (MacroGrid, MacroSpace, family_label, geometries_text, geometry_text,
                                        lossless_subset)
from costmodel.families.sram.technology import SramTechnology
from costmodel.technology import TECH_DIR, load_technology
from search import atomic_files
from search.reports.style import family_colour, front_steps, pyplot

CHIPS_DIR = TECH_DIR / "chips"

#: CSV columns with their units
CSV_COLUMNS = (("family", "family"), ("tech", "tech"), ("rows", "rows"), ("cols", "cols"),
               ("input_bits_per_cycle", "input_bits_per_cycle"), ("adc_bits", "adc_bits"),
               ("tops_per_w", "peak_tops_per_w"), ("tops_per_mm2", "peak_tops_per_mm2"),
               ("peak_tops", "peak_tops"), ("area_mm2", "area_mm2"),
               ("energy_per_cycle_pj", "energy_per_cycle_pj"), ("tclk_ns", "tclk_ns"),
               ("macs_per_cycle", "macs_per_cycle"), ("on_front", "on_front"), ("lossless_adc", "lossless_adc"))


@dataclass(frozen=True)
class MarkedPoint:
    """One marked macro: a name, its family label and its peak TOPS/W and TOPS/mm^2."""

    name: str
    family: str          # "AIMC" / "DIMC"
    kind: str            # "chip" (a bundled published chip, modelled) or "file" (a file's own geometry)
    tops_per_w: float
    tops_per_mm2: float
    detail: str = ""


def _point(tech: SramTechnology, kind: str, name: str, cell_area_um2: float | None = None) -> MarkedPoint:
    s = macro_costs(tech, MacroBatch.from_geometries(tech, [tech.macro], cell_area_um2)).summary(0)
    g = tech.macro
    rec = {"rows": g.rows, "cols": g.cols, "input_bits_per_cycle": g.input_bits_per_cycle, "adc_bits": g.adc_bits}
    banks = f" x {g.banks} banks" if g.banks > 1 else ""
    return MarkedPoint(name, family_label(tech.family), kind, s["peak_tops_per_w"], s["peak_tops_per_mm2"],
                       f"{geometry_text(rec)}{banks}, {g.weight_bits}/{g.activation_bits}-bit, "
                       f"{tech.node.node_nm:g} nm, {tech.unit_gates.vdd_v:g} V")


def chip_points() -> list[MarkedPoint]:
    """The bundled published chips (``costmodel/tech/chips/*.yaml``), modelled with their
    own files (node, voltage, activity, bitcell area, structure keys)."""
    return [_point(t, "chip", t.name) for t in map(load_technology, sorted(CHIPS_DIR.glob("*.yaml")))]


def file_points(techs: list[SramTechnology], cell_area_um2: float | None = None) -> list[MarkedPoint]:
    """Each technology file's own ``macro:`` geometry at the grid's bitcell area (for the
    bundled sram-aimc / sram-dimc files: the published regression points' geometries)."""
    return [_point(t, "file", f"{family_label(t.family)} file geometry", cell_area_um2) for t in techs]


# --- CSV ----------------------------------------------------------------------------------
def write_csv(spaces: list[MacroSpace], path: Path) -> int:
    """One row per design of every space; returns the number of rows."""
    n = 0
    with atomic_files.open_text(path, newline="") as f:
        w = csv.writer(f)
        w.writerow([h for _, h in CSV_COLUMNS])
        for space in spaces:
            for rec in space.records():
                w.writerow([f"{rec[k]:.6g}" if isinstance(rec[k], float) else rec[k] for k, _ in CSV_COLUMNS])
                n += 1
    return n


# --- plot ---------------------------------------------------------------------------------
def plot_macro_space(spaces: list[MacroSpace], path: Path, marked: list[MarkedPoint] = (),
                     title: str = "SRAM in-memory macros: peak figures over the macro space") -> None:
    """TOPS/W (y) against TOPS/mm^2 (x) of every design, log axes, fronts as step lines; an
    AIMC space's designs with a lossless ADC drawn darker, with their own front dashed."""
    plt = pyplot()
    labels = [s.label for s in spaces]
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for space in spaces:
        colour = family_colour(space.label, labels)
        lossless = lossless_subset(space)
        lossy = ~space.lossless
        ax.scatter(space.tops_per_mm2[lossy], space.tops_per_w[lossy], s=9, alpha=0.3, color=colour, lw=0,
                   label=f"{space.label} designs ({len(space)})" if lossless is None
                   else f"{space.label} designs, lossy ADC ({int(lossy.sum())})")
        keep = space.lossless
        ax.scatter(space.tops_per_mm2[keep], space.tops_per_w[keep], s=11, alpha=0.85, color=colour, lw=0,
                   label=None if lossless is None else f"{space.label} designs, lossless ADC ({int(keep.sum())})")
        f = space.front
        front_steps(ax, space.tops_per_mm2[f], space.tops_per_w[f], color=colour, lw=1.8,
                    label=f"{space.label} Pareto front")
        ax.scatter(space.tops_per_mm2[f], space.tops_per_w[f], s=22, color=colour, edgecolors="k", lw=0.5, zorder=3)
        if lossless is not None:
            lf = lossless.front
            front_steps(ax, lossless.tops_per_mm2[lf], lossless.tops_per_w[lf], color=colour, lw=1.4, ls="--",
                        label=f"{lossless.label} Pareto front")
    shapes = {"chip": "*", "file": "D"}
    for kind, what in (("file", "file geometry (regression point)"), ("chip", "published chip, modelled")):
        for p in (p for p in marked if p.kind == kind):
            ax.scatter([p.tops_per_mm2], [p.tops_per_w], marker=shapes[kind], s=110 if kind == "chip" else 55,
                       color=family_colour(p.family, labels), edgecolors="k", lw=0.8, zorder=4)
            ax.annotate(p.name if kind == "chip" else p.family, (p.tops_per_mm2, p.tops_per_w),
                        textcoords="offset points", xytext=(5, 4), fontsize=7)
        if any(p.kind == kind for p in marked):
            ax.scatter([], [], marker=shapes[kind], color="w", edgecolors="k", label=what)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("peak TOPS/mm$^2$")
    ax.set_ylabel("peak TOPS/W")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=130)
    plt.close(fig)


# --- summary and Markdown -----------------------------------------------------------------
def _md_table(headers: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|",
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]


def _g(v: float) -> str:
    return f"{v:.4g}"


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return _g(lo) if _g(lo) == _g(hi) else f"{_g(lo)}-{_g(hi)}"


def distinct_front(space: MacroSpace) -> list[dict]:
    """The front of ``space`` with designs of equal (TOPS/W, TOPS/mm^2) merged, ordered by
    TOPS/mm^2 ascending: each entry has both figures, ``designs`` (their records) and
    ``geometry`` (:func:`geometries_text` of them)."""
    out: list[dict] = []
    for rec in space.records(space.front):
        key = (rec["tops_per_w"], rec["tops_per_mm2"])
        if out and (out[-1]["tops_per_w"], out[-1]["tops_per_mm2"]) == key:
            out[-1]["designs"].append(rec)
        else:
            out.append({"tops_per_w": key[0], "tops_per_mm2": key[1], "designs": [rec]})
    for entry in out:
        entry["geometry"] = geometries_text(entry["designs"])
    return out


def joint_front_runs(spaces: list[MacroSpace]) -> list[dict]:
    """The Pareto front of all ``spaces`` together, as runs of one space along TOPS/mm^2
    (ascending): each run has ``family`` (the space's label), ``points`` and the TOPS/mm^2
    and TOPS/W ranges ([first, last]) it spans."""
    x = np.concatenate([s.tops_per_mm2 for s in spaces])
    y = np.concatenate([s.tops_per_w for s in spaces])
    fam = np.concatenate([[s.label] * len(s) for s in spaces])
    runs: list[dict] = []
    for i in pareto_front(x, y):
        if runs and runs[-1]["family"] == fam[i]:
            r = runs[-1]
            r["points"] += 1
            r["tops_per_mm2"][1], r["tops_per_w"][1] = float(x[i]), float(y[i])
        else:
            runs.append({"family": str(fam[i]), "points": 1, "tops_per_mm2": [float(x[i])] * 2,
                         "tops_per_w": [float(y[i])] * 2})
    return runs


def dominance(spaces: list[MacroSpace]) -> dict:
    """For each ordered pair (a, b): how many of a's designs and of a's front points b's
    front dominates, keyed "a by b"."""
    out = {}
    for a in spaces:
        for b in spaces:
            if a is b:
                continue
            x = np.concatenate([a.tops_per_mm2, b.tops_per_mm2])
            y = np.concatenate([a.tops_per_w, b.tops_per_w])
            dom = dominated_by(x, y, len(a) + b.front)[:len(a)]
            out[f"{a.label} by {b.label}"] = {"designs": int(dom.sum()), "of": len(a),
                                              "front_points": int(dom[a.front].sum()), "of_front": len(a.front)}
    return out


def _best(entry: dict) -> dict:
    """A distinct front entry as a flat record: the figures, the first design's scale
    figures and every tied design's geometry."""
    return entry["designs"][0] | {"geometry": entry["geometry"], "tied_designs": len(entry["designs"])}


def summary(spaces: list[MacroSpace]) -> dict:
    """The comparison as plain data: per space (the families and, for AIMC, its designs with
    a lossless ADC) the design count, front size and the best TOPS/W and best TOPS/mm^2
    designs (ties merged); and, for all designs and with AIMC held to a lossless ADC, the
    joint front's runs and the dominance between the fronts."""
    variants = {"all designs": list(spaces)}
    subsets = [lossless_subset(s) for s in spaces]
    if any(s is not None for s in subsets):
        variants["AIMC with a lossless ADC"] = [sub if sub is not None else s for s, sub in zip(spaces, subsets)]
    shown = list(spaces) + [s for s in subsets if s is not None]
    fams = {}
    for s in shown:
        front = distinct_front(s)
        fams[s.label] = {"family": s.family, "tech": s.tech, "designs": len(s), "front_points": len(s.front),
                         "front_distinct": len(front), "best_tops_per_w": _best(front[0]),
                         "best_tops_per_mm2": _best(front[-1])}
    return {"families": fams,
            "comparisons": {name: {"spaces": [s.label for s in group], "joint_front": joint_front_runs(group),
                                   "dominance": dominance(group)} for name, group in variants.items()}}


def _ratios(fams: dict, aimc: str, dimc: str) -> str:
    a, d = fams[aimc], fams[dimc]
    return (f"best TOPS/W {a['best_tops_per_w']['tops_per_w'] / d['best_tops_per_w']['tops_per_w']:.3g}x, "
            f"best TOPS/mm^2 {a['best_tops_per_mm2']['tops_per_mm2'] / d['best_tops_per_mm2']['tops_per_mm2']:.3g}x")


def markdown(spaces: list[MacroSpace], grid: MacroGrid, marked: list[MarkedPoint], cell_area_um2: float | None,
             techs: list[SramTechnology]) -> str:
    """``macro_fronts.md``: the grid, each family's bests, who holds the joint front, the
    fronts, the marked points."""
    sm = summary(spaces)
    cell = ", ".join(f"{t.name} {t.cell.area_um2 if cell_area_um2 is None else cell_area_um2:g} um^2" for t in techs)
    act = "; ".join(f"{t.name} toggle rate {t.activity.input_toggle_rate:g}, weight sparsity "
                    f"{t.activity.weight_sparsity:g}" for t in techs)
    lines = [
        "# AIMC vs DIMC: peak figures over the macro space", "",
        f"Grid: rows {list(grid.rows)}, cols {list(grid.cols)}, input bits per cycle "
        f"{list(grid.input_bits_per_cycle)}, AIMC ADC bits {list(grid.adc_bits)}; {grid.weight_bits}-bit weights, "
        f"{grid.activation_bits}-bit activations, {grid.banks} bank(s), one ADC per weight-bit column, "
        f"no Booth encoding. Bitcell area: {cell}. Activity: {act}. Peak TOPS/W = 2 x MACs per cycle / energy "
        "per cycle; peak TOPS/mm^2 = peak TOPS / macro area (cell array included). Both maximised. "
        "Geometries are rows x cols.", "",
        "The macro model has no accuracy cost: a lower ADC resolution is only cheaper. A *lossless ADC* has at "
        "least log2(rows) + input bits per cycle - 1 bits (one weight bit per cell; the rule of the ReRAM "
        "model, PIMSYN after ISAAC); `AIMC (lossless ADC)` is the AIMC grid held to it.", "",
        "## Best of each family", "",
    ]
    rows = []
    for label, e in sm["families"].items():
        for key, what in (("best_tops_per_w", "best TOPS/W"), ("best_tops_per_mm2", "best TOPS/mm^2")):
            r = e[key]
            rows.append([label, what, _g(r["tops_per_w"]), _g(r["tops_per_mm2"]), r["geometry"]])
    lines += _md_table(["family", "design", "TOPS/W", "TOPS/mm^2", "geometry"], rows)
    fams = sm["families"]
    if {"AIMC", "DIMC"} <= set(fams):
        lines += ["", f"AIMC / DIMC: {_ratios(fams, 'AIMC', 'DIMC')}."]
        if "AIMC (lossless ADC)" in fams:
            lines[-1] += f" With a lossless ADC: {_ratios(fams, 'AIMC (lossless ADC)', 'DIMC')}."
    lines += ["", "## Which family dominates where", ""]
    for name, comp in sm["comparisons"].items():
        lines += [f"The joint Pareto front ({name}: {', '.join(comp['spaces'])}), along TOPS/mm^2 ascending:", ""]
        lines += _md_table(["family", "front points", "TOPS/mm^2 from", "to", "TOPS/W from", "to"],
                           [[r["family"], r["points"], _g(r["tops_per_mm2"][0]), _g(r["tops_per_mm2"][1]),
                             _g(r["tops_per_w"][0]), _g(r["tops_per_w"][1])] for r in comp["joint_front"]])
        lines += [""] + [f"- {k}'s front: {v['designs']} of {v['of']} designs and {v['front_points']} of "
                         f"{v['of_front']} front points dominated." for k, v in comp["dominance"].items()] + [""]
    for s in list(spaces) + [x for x in map(lossless_subset, spaces) if x is not None]:
        front = distinct_front(s)
        lines += [f"## {s.label} Pareto front ({s.tech}; {len(s)} designs, {len(s.front)} on the front, "
                  f"{len(front)} distinct points)", ""]
        lines += _md_table(["TOPS/mm^2", "TOPS/W", "TOPS", "area mm^2", "energy pJ/cycle", "clock ns", "geometries"],
                           [[_g(e["tops_per_mm2"]), _g(e["tops_per_w"]),
                             *(_span([d[k] for d in e["designs"]])
                               for k in ("peak_tops", "area_mm2", "energy_per_cycle_pj", "tclk_ns")),
                             e["geometry"]] for e in front]) + [""]
    if marked:
        lines += ["## Marked points", "",
                  "File geometry: the technology file's own `macro:` block at the grid's bitcell area (for the "
                  "bundled files, the published regression point's geometry). Chips: the bundled published "
                  "chips modelled with their own files (own node, voltage, activity and structure; not the "
                  "grid's conditions, so not directly comparable with the grid).", ""]
        lines += _md_table(["point", "family", "TOPS/W", "TOPS/mm^2", "geometry"],
                           [[p.name, p.family, _g(p.tops_per_w), _g(p.tops_per_mm2), p.detail] for p in marked])
    return "\n".join(lines).rstrip() + "\n"


def write_macro_study(spaces: list[MacroSpace], techs: list[SramTechnology], out: Path, grid: MacroGrid,
                      cell_area_um2: float | None = None, chips: bool = True) -> dict[str, Path]:
    """Write ``macro_space.png``, ``macro_space.csv`` and ``macro_fronts.md`` into ``out``
    (created if missing); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"plot": out / "macro_space.png", "csv": out / "macro_space.csv", "markdown": out / "macro_fronts.md"}
    marked = file_points(techs, cell_area_um2) + (chip_points() if chips else [])
    write_csv(spaces, files["csv"])
    plot_macro_space(spaces, files["plot"], marked)
    atomic_files.write_text(files["markdown"], markdown(spaces, grid, marked, cell_area_um2, techs))
    return files
