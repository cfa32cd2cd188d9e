"""The summary of a sweep: every cell's best design, as a table (CSV, Markdown) and a plot.

:func:`summary_rows` reads the cells' studies from the storage (a cell not run yet has
state ``new`` and empty metrics); :func:`write_summary` writes ``summary.csv``,
``summary.md`` and ``tops_per_watt.png`` (best TOPS/W against power budget, one line per
network and variant, the best over seeds; single seeds as dots).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import optuna
from optuna.trial import TrialState

from search import atomic_files
from search.sweeps.sweep import Cell, cell_states, short
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


def summary_rows(storage, cells: list[Cell]) -> list[dict]:
    """One dict per cell with the keys of :data:`COLUMNS` (metrics None without a
    feasible design). ``points`` counts the study's finished outer points."""
    states = cell_states(storage, cells)
    rows = []
    for cell in cells:
        row = {k: None for k, _, _ in COLUMNS}
        row.update(network=short(cell.network), power_w=cell.power_w, tech=short(cell.tech), macros=cell.macros,
                   sharing=cell.sharing, seed=cell.seed, state=states[cell.study_name], study=cell.study_name)
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
            "segments": m.get("segments"), "batch": m.get("batch"),
            "throughput_ips": m["throughput_ips"],
            "latency_s": m["latency_s"], "energy_j": m["energy_j"]["total"], "area_mm2": m["area_mm2"]["total"],
            "power_avg_w": m["power_w"]["average"], "rram_ratio": design["rram_ratio"],
            "cell_bits": design["cell_bits"], "xbar_size": design["xbar_size"], "dac_bits": design["dac_bits"]}


def cell_text(fmt: str, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def markdown(rows: list[dict]) -> str:
    """The table as GitHub Markdown."""
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "|".join("---:" if f != "{}" else "---" for _, _, f in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell_text(f, r[k]) for k, _, f in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def write_summary(rows: list[dict], out: Path, title: str) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.md`` and ``tops_per_watt.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "summary.csv", "markdown": out / "summary.md", "plot": out / "tops_per_watt.png"}
    with atomic_files.open_text(files["csv"], newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k, _, _ in COLUMNS])
        writer.writeheader()
        writer.writerows({k: ("" if r[k] is None else r[k]) for k, _, _ in COLUMNS} for r in rows)
    atomic_files.write_text(files["markdown"], f"# {title}\n\n" + markdown(rows))
    plot(rows, files["plot"], title)
    return files


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Best TOPS/W (over seeds) against power budget, one line per network and variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    variants = sorted({(r["network"], r["tech"], r["macros"], r["sharing"]) for r in rows}, key=str)
    several = {i: len({v[i] for v in variants}) > 1 for i in (1, 2, 3)}
    for variant in variants:
        mine = [r for r in rows if (r["network"], r["tech"], r["macros"], r["sharing"]) == variant
                and r["tops_per_watt"] is not None]
        if not mine:
            continue
        budgets = sorted({r["power_w"] for r in mine})
        best = [max(r["tops_per_watt"] for r in mine if r["power_w"] == b) for b in budgets]
        name = variant[0] + "".join(f", {v if i != 3 else ('sharing' if v else 'no sharing')}"
                                    for i, v in enumerate(variant) if i and several[i])
        (line,) = ax.plot(budgets, best, marker="o", label=name)
        ax.scatter([r["power_w"] for r in mine], [r["tops_per_watt"] for r in mine], s=12, alpha=0.4,
                   color=line.get_color())
    ax.set_xlabel("power budget (W)")
    ax.set_ylabel("best TOPS/W")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_files.save_figure(fig, path, dpi=120)
    plt.close(fig)
