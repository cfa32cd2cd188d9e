"""The AIMC-vs-DIMC comparison at the network level: the best synthesised design of each
(family, network, budget) as TOPS/W against TOPS/mm^2, and a table of AIMC / DIMC ratios.

A *record* is one synthesised best design, a dict with the keys of :data:`RECORD_KEYS`:

- ``family``: "sram_aimc" / "sram_dimc" (or "AIMC" / "DIMC"; any other family is plotted
  and listed but has no ratio),
- ``network``: the network's name, ``budget``: the budget's label (e.g. "20 mm2"),
- ``tops_per_w`` (TOPS/W over the inference), ``tops_per_mm2`` (TOPS per mm^2 of chip),
  ``throughput_ips`` (inferences/s), ``area_mm2`` (mm^2), ``energy_j`` (J per inference);
  a figure may be None or NaN (no feasible design): it is shown as "-" and not plotted.

:func:`network_study` writes the plot and the tables of a list of records;
:func:`plot_family_fronts` draws the plot alone, :func:`comparison_rows` builds the ratio
table. ``pimtune aimc-vs-dimc network SWEEP_FILE`` (:mod:`search.cli.aimc_vs_dimc_cmd`) builds the
records from a sweep's best designs (``studies/aimc-vs-dimc.yaml``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from costmodel.pareto import pareto_front
from search import atomic_files
from search.reports.style import LINESTYLES, MARKERS, family_colour, front_steps, pyplot

RECORD_KEYS = ("family", "network", "budget", "tops_per_w", "tops_per_mm2", "throughput_ips", "area_mm2", "energy_j")
#: the figures compared, with their table headings
METRICS = (("tops_per_w", "TOPS/W"), ("tops_per_mm2", "TOPS/mm^2"), ("throughput_ips", "inferences/s"),
           ("area_mm2", "area mm^2"), ("energy_j", "energy J"))


def label_of(family: str) -> str:
    """"sram_aimc", "aimc", "AIMC" -> "AIMC" (likewise DIMC); other families unchanged."""
    return {"aimc": "AIMC", "dimc": "DIMC"}.get(str(family).lower().removeprefix("sram_"), str(family))


def _value(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def check_records(records: list[dict]) -> list[dict]:
    """``records`` with the family as its label ("AIMC"/"DIMC") and the figures as floats
    (None when missing or not finite); ValueError on an empty list or a missing key."""
    if not records:
        raise ValueError("no records: pass one dict per synthesised best design")
    out = []
    for i, r in enumerate(records):
        missing = [k for k in RECORD_KEYS if k not in r]
        if missing:
            raise ValueError(f"record {i} lacks {', '.join(missing)} (a record has {', '.join(RECORD_KEYS)})")
        out.append({**r, "family": label_of(r["family"]), "network": str(r["network"]), "budget": str(r["budget"]),
                    **{k: _value(r[k]) for k, _ in METRICS}})
    return out


def _ordered(values) -> list:
    """Distinct values in the order they first appear."""
    return list(dict.fromkeys(values))


def plot_family_fronts(records: list[dict], path: Path, fronts: str = "network",
                       title: str = "AIMC vs DIMC: best design per network and budget") -> None:
    """TOPS/W (y) against TOPS/mm^2 (x), log axes: one marker per network, one colour per
    family, each point labelled with its budget; each family's Pareto front drawn as a step
    line per network (``fronts="network"``) or over all networks (``fronts="all"``)."""
    if fronts not in ("network", "all"):
        raise ValueError(f"fronts must be 'network' or 'all', got {fronts!r}")
    every = check_records(records)
    recs = [r for r in every if r["tops_per_w"] is not None and r["tops_per_mm2"] is not None
            and r["tops_per_w"] > 0 and r["tops_per_mm2"] > 0]
    plt = pyplot()
    fams = _ordered(r["family"] for r in every)
    nets = _ordered(r["network"] for r in every)
    marker = {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(nets)}
    style = {n: LINESTYLES[i % len(LINESTYLES)] if fronts == "network" else "-" for i, n in enumerate(nets)}
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for fam in fams:
        colour = family_colour(fam, fams)
        groups = [(n, [r for r in recs if r["family"] == fam and r["network"] == n]) for n in nets] \
            if fronts == "network" else [(None, [r for r in recs if r["family"] == fam])]
        for net, group in groups:
            if not group:
                continue
            x = np.array([r["tops_per_mm2"] for r in group])
            y = np.array([r["tops_per_w"] for r in group])
            f = pareto_front(x, y)
            front_steps(ax, x[f], y[f], color=colour, lw=1.4, alpha=0.8, ls=style[net] if net else "-")
        for r in (r for r in recs if r["family"] == fam):
            ax.scatter([r["tops_per_mm2"]], [r["tops_per_w"]], marker=marker[r["network"]], s=50, color=colour,
                       edgecolors="k", lw=0.5, zorder=3)
    handles = [ax.scatter([], [], marker="s", color=family_colour(f, fams), label=f) for f in fams]
    handles += [ax.plot([], [], marker=marker[n], ls=style[n], color="k", mfc="w", label=n)[0] for n in nets]
    ax.set_xscale("log")
    ax.set_yscale("log")
    _label_budgets(fig, ax, recs)
    ax.set_xlabel("TOPS/mm$^2$")
    ax.set_ylabel("TOPS/W")
    ax.set_title(title + ("\n(step lines: each family's Pareto front per network)" if fronts == "network"
                          else "\n(step lines: each family's Pareto front over all networks)"), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=130)
    plt.close(fig)


#: where a point's budget label may go, in points from the point, in order of preference
LABEL_OFFSETS = ((4, 3), (4, -9), (-4, 3), (-4, -9), (4, 10), (-4, 10), (4, -16), (-4, -16))
#: the label's font size (points) and its text width per character (points, about)
LABEL_FONT, LABEL_CHAR = 6, 3.6
#: half the width of a point's marker (points; the markers are 50 pt^2)
LABEL_MARKER = 3.5


def _label_budgets(fig, ax, recs: list[dict]) -> None:
    """Label each point with its budget, at the first of :data:`LABEL_OFFSETS` where the
    label overlaps no marker and no label placed before it (the first offset when every one
    does): points close together, as a family's budgets often are, stay readable."""
    fig.canvas.draw()                                       # the final limits and transforms
    scale = 72.0 / fig.dpi                                  # display pixels -> points
    at = [tuple(v * scale for v in ax.transData.transform((r["tops_per_mm2"], r["tops_per_w"]))) for r in recs]
    m = LABEL_MARKER
    placed = [(x - m, y - m, x + m, y + m) for x, y in at]     # labels keep off every marker too
    for r, (px, py) in zip(recs, at):
        w, h = LABEL_CHAR * len(r["budget"]), LABEL_FONT

        def box(dx: float, dy: float) -> tuple[float, float, float, float]:
            x0 = px + dx if dx >= 0 else px + dx - w
            return x0, py + dy, x0 + w, py + dy + h

        def free(b) -> bool:
            return all(b[2] <= o[0] or o[2] <= b[0] or b[3] <= o[1] or o[3] <= b[1] for o in placed)

        dx, dy = next((o for o in LABEL_OFFSETS if free(box(*o))), LABEL_OFFSETS[0])
        placed.append(box(dx, dy))
        ax.annotate(r["budget"], (r["tops_per_mm2"], r["tops_per_w"]), textcoords="offset points",
                    xytext=(dx, dy), ha="left" if dx >= 0 else "right", fontsize=LABEL_FONT)


def comparison_rows(records: list[dict]) -> list[dict]:
    """One row per (network, budget), in the order they first appear: for every metric of
    :data:`METRICS` the AIMC and DIMC figures (``aimc_<metric>``, ``dimc_<metric>``) and
    ``<metric>_ratio`` = AIMC / DIMC (None when either is missing or DIMC's is 0). When a
    family has several records for one network and budget, its highest-TOPS/W one counts."""
    recs = check_records(records)
    rows = []
    for net, budget in _ordered((r["network"], r["budget"]) for r in recs):
        row = {"network": net, "budget": budget}
        for fam in ("AIMC", "DIMC"):
            mine = [r for r in recs if (r["network"], r["budget"], r["family"]) == (net, budget, fam)]
            best = max(mine, key=lambda r: -math.inf if r["tops_per_w"] is None else r["tops_per_w"], default=None)
            for k, _ in METRICS:
                row[f"{fam.lower()}_{k}"] = None if best is None else best[k]
        for k, _ in METRICS:
            a, d = row[f"aimc_{k}"], row[f"dimc_{k}"]
            row[f"{k}_ratio"] = a / d if a is not None and d else None
        rows.append(row)
    return rows


def comparison_columns() -> list[tuple[str, str]]:
    """(key, heading) of the comparison table, in order."""
    cols = [("network", "network"), ("budget", "budget")]
    for k, h in METRICS:
        cols += [(f"aimc_{k}", f"AIMC {h}"), (f"dimc_{k}", f"DIMC {h}"), (f"{k}_ratio", f"{h} AIMC/DIMC")]
    return cols


def _cell(v) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _md_table(columns: list[tuple[str, str]], rows: list[dict]) -> list[str]:
    return ["| " + " | ".join(h for _, h in columns) + " |", "|" + "|".join("---" for _ in columns) + "|",
            *("| " + " | ".join(_cell(r.get(k)) for k, _ in columns) + " |" for r in rows)]


def _write_csv(path: Path, columns: list[tuple[str, str]], rows: list[dict]) -> None:
    with atomic_files.open_text(path, newline="") as f:
        w = csv.writer(f)
        w.writerow([k for k, _ in columns])
        for r in rows:
            w.writerow(["" if r.get(k) is None else r.get(k) for k, _ in columns])


def write_network_tables(records: list[dict], out: Path) -> dict[str, Path]:
    """``network_comparison.csv`` (:func:`comparison_rows`), ``network_records.csv`` (every
    record) and ``network_study.md`` (both tables) in ``out``; returns their paths."""
    recs = check_records(records)
    out.mkdir(parents=True, exist_ok=True)
    files = {"comparison_csv": out / "network_comparison.csv", "records_csv": out / "network_records.csv",
             "markdown": out / "network_study.md"}
    comp, cols = comparison_rows(recs), comparison_columns()
    rec_cols = [(k, k) for k in RECORD_KEYS]
    _write_csv(files["comparison_csv"], cols, comp)
    _write_csv(files["records_csv"], rec_cols, recs)
    lines = ["# AIMC vs DIMC on whole networks", "",
             "The best synthesised design per family, network and budget; ratios are AIMC / DIMC "
             "(above 1: AIMC has more of it).", "", "## AIMC / DIMC per network and budget", ""]
    lines += _md_table(cols, comp)
    lines += ["", "## Every record", ""] + _md_table(
        [("family", "family"), ("network", "network"), ("budget", "budget")] + list(METRICS), recs)
    atomic_files.write_text(files["markdown"], "\n".join(lines) + "\n")
    return files


def network_study(records: list[dict], out_dir: Path | str, fronts: str = "network") -> dict[str, Path]:
    """Write the network-level study of ``records`` (one dict per synthesised best design,
    keys :data:`RECORD_KEYS`) into ``out_dir`` (created if missing): ``network_fronts.png``
    (:func:`plot_family_fronts`), ``network_comparison.csv``, ``network_records.csv`` and
    ``network_study.md`` (:func:`write_network_tables`). Returns the paths by role."""
    out = Path(out_dir)
    files = write_network_tables(records, out)
    files["plot"] = out / "network_fronts.png"
    plot_family_fronts(records, files["plot"], fronts)
    return files
