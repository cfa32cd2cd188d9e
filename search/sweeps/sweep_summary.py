"""The summary of a sweep: every cell's best design, as a table (CSV, Markdown) and a plot.

:func:`summary_rows` reads the cells' studies from the storage (a cell not run yet has
state ``new`` and empty metrics; a row also carries the best design's ``tops``,
``adc_bits`` and ``buffer_kib``, which the table leaves out); :func:`write_summary` writes ``summary.csv``,
``summary.md`` and ``tops_per_watt.png`` (best TOPS/W against power budget, or against
area budget in a sweep without power budgets, one line per network and variant, the
best over seeds; single seeds as dots). A sweep with area budgets has an ``area budget
(mm^2)`` column beside the power budget's (:func:`columns`); a budget a cell does not
have reads ``-`` (empty in the CSV). A sweep with a cell other than dense has a
``sparsity`` column after the technology (``dense``, ``measured`` or a profile's stem),
and one with epitomes an ``epitomes`` column after it (``none``, ``search`` or a plan's stem).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import optuna
from optuna.trial import TrialState

from costmodel.sparsity.source import DENSE
from search import atomic_files
from search.sweeps.sweep import Cell, cell_states, short
from search.sweeps.sweep_spec import NO_EPITOMES
from search.synth.synthesis import best_trial

#: (column, heading, format) of the summary table, in order.
COLUMNS = (
    ("network", "network", "{}"), ("power_w", "power (W)", "{:g}"), ("tech", "tech", "{}"),
    ("macros", "macros", "{}"), ("sharing", "sharing", "{}"), ("seed", "seed", "{}"), ("state", "state", "{}"),
    ("points", "outer points", "{}"), ("tops_per_watt", "TOPS/W", "{:.4f}"),
    ("segments", "segments", "{}"), ("batch", "batch", "{}"),
    ("tops_per_watt_single", "TOPS/W one inference", "{:.4f}"),
    ("throughput_ips", "throughput (inf/s)", "{:.4g}"), ("latency_s", "latency (s)", "{:.4g}"),
    ("energy_j", "energy (J)", "{:.4g}"), ("area_mm2", "area (mm^2)", "{:.1f}"),
    ("power_avg_w", "avg power (W)", "{:.3g}"), ("rram_ratio", "rram ratio", "{:g}"),
    ("cell_bits", "cell bits", "{}"), ("xbar_size", "xbar", "{}"), ("dac_bits", "DAC bits", "{}"),
    ("study", "study", "{}"),
)
#: Keys of a summary row beyond the table's columns (:func:`summary_rows`; ``sparsity`` is a
#: column only in a sweep with a cell other than dense).
EXTRA_KEYS = ("tops", "adc_bits", "buffer_kib", "sparsity", "epitomes")
#: The column of the area budget, after the power budget's in a sweep that has area budgets.
AREA_COLUMN = ("area_budget_mm2", "area budget (mm^2)", "{:g}")
#: The column of the sparsity spec, after the technology's in a sweep with a cell other than dense.
SPARSITY_COLUMN = ("sparsity", "sparsity", "{}")
#: The column of the epitome setting, after the technology's (and sparsity's) in a sweep with epitomes.
EPITOMES_COLUMN = ("epitomes", "epitomes", "{}")


def columns(rows: list[dict]) -> tuple:
    """:data:`COLUMNS`, with :data:`AREA_COLUMN` after the power budget when a row has an
    area budget and :data:`SPARSITY_COLUMN` after the technology when a row is not dense."""
    cols = COLUMNS
    if any(r.get("epitomes", NO_EPITOMES) != NO_EPITOMES for r in rows):
        at = [c[0] for c in cols].index("tech") + 1
        cols = cols[:at] + (EPITOMES_COLUMN,) + cols[at:]
    if any(r.get("sparsity", DENSE) != DENSE for r in rows):
        at = [c[0] for c in cols].index("tech") + 1
        cols = cols[:at] + (SPARSITY_COLUMN,) + cols[at:]
    if any(r.get("area_budget_mm2") is not None for r in rows):
        at = [c[0] for c in cols].index("power_w") + 1
        cols = cols[:at] + (AREA_COLUMN,) + cols[at:]
    return cols


def summary_rows(storage, cells: list[Cell]) -> list[dict]:
    """One dict per cell with the keys of :data:`COLUMNS` (metrics None without a
    feasible design), the cell's ``sparsity`` (``dense``, ``measured`` or a profile's stem)
    and the best design's ``tops`` (TOPS over the inference stream),
    ``adc_bits`` (the ADC resolution it uses; None on a digital design) and ``buffer_kib`` (None where the design has
    no searched buffer), which the tables leave out. ``points`` counts the study's
    finished outer points."""
    states = cell_states(storage, cells)
    rows = []
    for cell in cells:
        row = {k: None for k in (*(c[0] for c in COLUMNS), *EXTRA_KEYS)}
        row.update(network=short(cell.network), power_w=cell.power_w, tech=short(cell.tech), macros=cell.macros,
                   sharing=cell.sharing, seed=cell.seed, state=states[cell.study_name], study=cell.study_name)
        if cell.area_mm2 is not None:
            row["area_budget_mm2"] = cell.area_mm2
        row["sparsity"] = short(cell.sparsity)
        row["epitomes"] = short(cell.epitomes)
        if row["state"] != "new":
            study = optuna.load_study(study_name=cell.study_name, storage=storage)
            finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            row["points"] = len(finished)
            best = best_trial(study, cell.objective)
            if best is not None:
                row.update(_metrics(best))
        rows.append(row)
    return rows


def _metrics(trial: optuna.trial.FrozenTrial) -> dict:
    m = trial.user_attrs["metrics"]
    design = trial.user_attrs["design"]
    return {"tops_per_watt": m["tops_per_watt"], "tops_per_watt_single": m.get("tops_per_watt_single"),
            "tops": m.get("tops"), "segments": m.get("segments"), "batch": m.get("batch"),
            "throughput_ips": m["throughput_ips"],
            "latency_s": m["latency_s"], "energy_j": m["energy_j"]["total"], "area_mm2": m["area_mm2"]["total"],
            "power_avg_w": m["power_w"]["average"], "rram_ratio": design["rram_ratio"],
            "cell_bits": design["cell_bits"], "xbar_size": design["xbar_size"], "dac_bits": design["dac_bits"],
            "adc_bits": m.get("adc_bits"), "buffer_kib": design.get("buffer_kib")}


def cell_text(fmt: str, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def markdown(rows: list[dict]) -> str:
    """The table as GitHub Markdown."""
    cols = columns(rows)
    lines = ["| " + " | ".join(h for _, h, _ in cols) + " |",
             "|" + "|".join("---:" if f != "{}" else "---" for _, _, f in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell_text(f, r.get(k)) for k, _, f in cols) + " |")
    return "\n".join(lines) + "\n"


def write_summary(rows: list[dict], out: Path, title: str) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.md`` and ``tops_per_watt.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "summary.csv", "markdown": out / "summary.md", "plot": out / "tops_per_watt.png"}
    cols = columns(rows)
    with atomic_files.open_text(files["csv"], newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k, _, _ in cols])
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k, _, _ in cols} for r in rows)
    atomic_files.write_text(files["markdown"], f"# {title}\n\n" + markdown(rows))
    plot(rows, files["plot"], title)
    return files


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Best TOPS/W (over seeds) against power budget (area budget in a sweep without
    power budgets), one line per network and variant (technology, macros, sharing,
    sparsity; and area budget, in a sweep with both)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_power = any(r["power_w"] is not None for r in rows)
    x_key = "power_w" if by_power else "area_budget_mm2"
    areas = by_power and any(r.get("area_budget_mm2") is not None for r in rows)

    def variant_of(r: dict) -> tuple:
        return ((r["network"], r["tech"], r["macros"], r["sharing"], r.get("sparsity", DENSE),
                 r.get("epitomes", NO_EPITOMES)) + ((r.get("area_budget_mm2"),) if areas else ()))

    variants = sorted({variant_of(r) for r in rows}, key=str)
    several = {i: len({v[i] for v in variants}) > 1 for i in range(1, len(variants[0]) if variants else 1)}
    for variant in variants:
        mine = [r for r in rows if variant_of(r) == variant and r["tops_per_watt"] is not None
                and r.get(x_key) is not None]
        if not mine:
            continue
        budgets = sorted({r[x_key] for r in mine})
        best = [max(r["tops_per_watt"] for r in mine if r[x_key] == b) for b in budgets]
        name = variant[0] + "".join(f", {_variant_word(i, v)}" for i, v in enumerate(variant) if i and several[i])
        (line,) = ax.plot(budgets, best, marker="o", label=name)
        ax.scatter([r[x_key] for r in mine], [r["tops_per_watt"] for r in mine], s=12, alpha=0.4,
                   color=line.get_color())
    ax.set_xlabel("power budget (W)" if by_power else "area budget (mm^2)")
    ax.set_ylabel("best TOPS/W")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=120)
    plt.close(fig)


def _variant_word(i: int, value) -> str:
    """How element ``i`` of a plot's variant (network, tech, macros, sharing, sparsity,
    epitomes, area budget) reads."""
    if i == 3:
        return "sharing" if value else "no sharing"
    if i == 4:
        return f"sparsity {value}"
    if i == 5:
        return f"epitomes {value}"
    if i == 6:
        return "no area budget" if value is None else f"{value:g} mm^2"
    return str(value)
