"""Strategy comparison: every sampler K times with the same trial budget, side by side.

:func:`run_compare` runs each (sampler, seed) pair — seeds 0..K-1 — as a flat search
(:func:`search.flat.flat_search.run_search`, objective TOPS/W: ``tops_per_watt`` of a stream by
default, or ``tops_per_watt_single``, one inference alone) in its own in-memory study, the
pairs in parallel worker processes. Each worker rebuilds the design space from a
:class:`SpaceSpec` (network, budgets, technology, options, densities), all cheap to pickle. It writes
to ``out_dir``:

- ``traces.npz``: per sampler, a (K, n_trials) array of the best feasible TOPS/W after
  each trial (key = sampler name), ``seconds_<sampler>`` (K,) wall seconds of each run,
  ``seeds`` (K,);
- ``summary.csv`` and ``summary.md``: per sampler the best and the median final TOPS/W
  over the seeds, their interquartile range, the trials to reach 95 % of the best
  TOPS/W any run found (median over seeds, a seed that never reaches it counting as
  infinite: "never" when the median is), and the median wall seconds;
- ``convergence.png``: best-so-far TOPS/W against trials (log axis), the median line and
  the 25-75 % band of each sampler.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.budgets import budget_text
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology, load_technology
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from search import atomic_files, lifecycle
from search.lifecycle import init_worker, stop_pool
from search.samplers.sampler_factory import SAMPLERS, make_sampler
from space import DesignSpace, SpaceOptions

#: Fraction of the overall best TOPS/W whose first crossing is reported.
REACH = 0.95
#: Samplers whose runs take longest (history-based), started first.
SLOW_FIRST = ("gp", "tpe")


@dataclass(frozen=True)
class SpaceSpec:
    """What a worker needs to rebuild a :class:`space.DesignSpace` (``densities``: the
    zeros of ``--sparsity``, None: dense)."""

    network: Network
    power_w: float | None
    tech: Technology
    options: SpaceOptions
    area_mm2: float | None = None
    densities: Densities | None = None

    @classmethod
    def of(cls, space: DesignSpace) -> "SpaceSpec":
        return cls(space.network, space.power_w, space.tech, space.options, space.area_mm2, space.densities)

    def build(self) -> DesignSpace:
        return DesignSpace.for_network(self.network, load_technology(self.tech), self.power_w, self.options,
                                       area_mm2=self.area_mm2, densities=self.densities)


def run_one(spec: SpaceSpec, sampler: str, seed: int, n_trials: int, objective: str = "tops_per_watt") -> dict:
    """One flat search in an in-memory study: its trace, best and wall time."""
    import warnings

    import optuna

    from search.flat.flat_search import run_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = spec.build()
    s, batch = make_sampler(sampler, space, seed, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(sampler=s, direction="maximize")
        stats = run_search(space, study, batch, n_trials, (objective,))
    return {"sampler": sampler, "seed": int(seed), "trace": stats.trace, "seconds": stats.seconds,
            "trials_per_second": stats.trials_per_second,
            "best": float(stats.trace[-1]) if len(stats.trace) else 0.0}


def run_compare(space: DesignSpace | SpaceSpec, samplers: Sequence[str], n_trials: int, seeds: int | Sequence[int],
                out_dir: str | Path, jobs: int = 2,
                progress: Callable[[int, int, dict], None] | None = None, objective: str = "tops_per_watt") -> dict:
    """Run every sampler once per seed, write the summary files, return the summary.

    Args:
        space: the design space (or its :class:`SpaceSpec`).
        samplers: names from :data:`search.samplers.sampler_factory.SAMPLERS` (single objective).
        n_trials: trials of every run.
        seeds: K (seeds 0..K-1) or the seeds themselves.
        out_dir: folder of the output files (created).
        jobs: worker processes (1: every run in this process).
        progress: called as each run finishes with (runs done, runs, that run's record).
        objective: one of :data:`COMPARED` (both TOPS/W, maximised).

    Returns:
        ``{"network", "power_w", "tech", "trials", "seeds", "overall_best", "threshold",
        "samplers": {name: summary row}, "runs": [...], "files": {...}, "seconds"}``.
    """
    spec = space if isinstance(space, SpaceSpec) else SpaceSpec.of(space)
    if objective not in COMPARED:
        raise PimtuneError(f"compare optimises one TOPS/W; unknown objective {objective!r}, choose from {', '.join(COMPARED)}")
    samplers = list(dict.fromkeys(samplers))
    if not samplers:
        raise PimtuneError("compare needs at least one sampler")
    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        raise PimtuneError(f"unknown sampler {unknown[0]!r}; choose from {', '.join(SAMPLERS)}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise PimtuneError("compare needs at least one seed")
    if n_trials < 1 or jobs < 1:
        raise PimtuneError(f"trials and jobs must be >= 1, got {n_trials} and {jobs}")
    built = spec.build()
    for s in samplers:                      # missing packages and bad names fail here, at once
        make_sampler(s, built, 0, 1)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PimtuneError(f"{out}: cannot create the output folder ({exc.strerror})") from None

    order = sorted(samplers, key=lambda s: SLOW_FIRST.index(s) if s in SLOW_FIRST else len(SLOW_FIRST))
    tasks = [(s, seed) for s in order for seed in seed_list]
    start = time.perf_counter()
    runs: list[dict] = []

    def finished(record):
        runs.append(record)
        if progress is not None:
            progress(len(runs), len(tasks), record)

    if jobs == 1:
        for s, seed in tasks:
            finished(run_one(spec, s, seed, n_trials, objective))
    else:
        ctx = multiprocessing.get_context("spawn")     # no fork of a process with threads
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=init_worker,
                                   initargs=(os.getpid(),))
        try:
            pending = {pool.submit(run_one, spec, s, seed, n_trials, objective) for s, seed in tasks}
            while pending:
                lifecycle.raise_if_signalled()
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    finished(f.result())
        except BaseException:
            stop_pool(pool)                 # Ctrl-C or SIGTERM: the runs in flight end now
            raise
        pool.shutdown()
    seconds = time.perf_counter() - start

    traces = {s: np.stack([r["trace"] for r in sorted((r for r in runs if r["sampler"] == s), key=lambda r: r["seed"])])
              for s in samplers}
    times = {s: np.array([r["seconds"] for r in sorted((r for r in runs if r["sampler"] == s), key=lambda r: r["seed"])])
             for s in samplers}
    rates = {s: np.array([r["trials_per_second"] for r in runs if r["sampler"] == s]) for s in samplers}
    overall = max(float(t[:, -1].max()) for t in traces.values())
    threshold = REACH * overall
    rows = {s: summarise(traces[s], times[s], rates[s], threshold) for s in samplers}
    result = {
        "network": spec.network.name, "power_w": spec.power_w,
        **({} if spec.area_mm2 is None else {"area_mm2": spec.area_mm2}), "tech": load_technology(spec.tech).name,
        **({} if spec.densities is None else {"sparsity": spec.densities.source}),
        "trials": n_trials, "seeds": seed_list, "overall_best": overall, "threshold": threshold,
        "objective": objective,
        "samplers": rows,
        "runs": [{k: v for k, v in r.items() if k != "trace"} for r in sorted(runs, key=lambda r: (r["sampler"], r["seed"]))],
        "seconds": seconds,
        "files": {k: str(out / f) for k, f in (("csv", "summary.csv"), ("md", "summary.md"),
                                               ("traces", "traces.npz"), ("plot", "convergence.png"))},
    }
    with atomic_files.replacing(out / "traces.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, seeds=np.array(seed_list), **traces, **{f"seconds_{s}": t for s, t in times.items()})
    write_csv(out / "summary.csv", rows, objective)
    write_markdown(out / "summary.md", result)
    plot_convergence(out / "convergence.png", traces, result)
    return result


def trials_to_reach(trace: np.ndarray, threshold: float) -> float:
    """1-based trial count at which ``trace`` first reaches ``threshold`` (inf: never)."""
    hit = np.flatnonzero(trace >= threshold)
    return float(hit[0] + 1) if len(hit) else math.inf


def summarise(traces: np.ndarray, seconds: np.ndarray, rates: np.ndarray, threshold: float) -> dict:
    """One sampler's row from its (K, T) traces."""
    final = traces[:, -1]
    q25, q75 = np.percentile(final, [25, 75])
    reach = np.array([trials_to_reach(t, threshold) for t in traces])
    med_reach = float(np.median(reach))        # inf when at least half the seeds never reach it
    return {
        "runs": int(len(final)),
        "best": float(final.max()),
        "median": float(np.median(final)),
        "q25": float(q25), "q75": float(q75), "iqr": float(q75 - q25),
        "trials_to_95": None if math.isinf(med_reach) else med_reach,
        "reached_95": int(np.isfinite(reach).sum()),
        "median_seconds": float(np.median(seconds)),
        "median_trials_per_second": float(np.median(rates)),
        "finals": [float(v) for v in final],
    }


#: The objectives a comparison may optimise, and how tables and plots name them.
COMPARED = {"tops_per_watt": "TOPS/W", "tops_per_watt_single": "single-inference TOPS/W"}


def csv_columns(objective: str = "tops_per_watt") -> tuple[str, ...]:
    return ("sampler", "runs", f"best_{objective}", f"median_{objective}", f"q25_{objective}", f"q75_{objective}",
            f"iqr_{objective}", "trials_to_95pct", "runs_reaching_95pct", "median_seconds", "median_trials_per_second")


def write_csv(path: Path, rows: dict, objective: str = "tops_per_watt") -> None:
    with atomic_files.open_text(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(csv_columns(objective))
        for s, r in rows.items():
            w.writerow([s, r["runs"], repr(r["best"]), repr(r["median"]), repr(r["q25"]), repr(r["q75"]),
                        repr(r["iqr"]), "never" if r["trials_to_95"] is None else f"{r['trials_to_95']:g}",
                        r["reached_95"], f"{r['median_seconds']:.3f}", f"{r['median_trials_per_second']:.1f}"])


def markdown_table(result: dict) -> str:
    unit = COMPARED[result.get("objective", "tops_per_watt")]
    lines = [f"| sampler | best {unit} | median {unit} | IQR {unit} | trials to 95 % (median) | runs reaching 95 % "
             "| median wall s | median trials/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s, r in result["samplers"].items():
        reach = "never" if r["trials_to_95"] is None else f"{r['trials_to_95']:g}"
        lines.append(f"| {s} | {r['best']:.4f} | {r['median']:.4f} | {r['iqr']:.4f} | {reach} | "
                     f"{r['reached_95']}/{r['runs']} | {r['median_seconds']:.1f} | {r['median_trials_per_second']:.0f} |")
    return "\n".join(lines)


def write_markdown(path: Path, result: dict) -> None:
    unit = COMPARED[result["objective"]]
    head = (f"# Sampler comparison: {result['network']} at {_budgets(result)}\n\n"
            f"Technology {result['tech']}{_sparsity_words(result)}; {result['trials']} trials per run; seeds "
            f"{', '.join(map(str, result['seeds']))}; objective {result['objective']} ({unit}, maximised). Best of "
            f"all runs: {result['overall_best']:.4f} {unit}; 95 % of it: {result['threshold']:.4f} {unit}. "
            f"\"Trials to 95 %\" is the median over seeds of the first trial reaching that value "
            f"(\"never\" when at least half the seeds do not). Wall time {result['seconds']:.1f} s.\n\n")
    atomic_files.write_text(path, head + markdown_table(result) + "\n")


def plot_convergence(path: Path, traces: dict[str, np.ndarray], result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for s, t in traces.items():
        x = np.arange(1, t.shape[1] + 1)
        lo, med, hi = np.percentile(t, [25, 50, 75], axis=0)
        line, = ax.plot(x, med, label=f"{s} (median of {t.shape[0]})", lw=1.6)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.axhline(result["threshold"], color="0.4", ls="--", lw=0.8,
               label=f"{REACH:.0%} of the best of all runs ({result['threshold']:.3g})")
    ax.set_xscale("log")
    ax.set_xlim(1, max(t.shape[1] for t in traces.values()))
    ax.set_xlabel("trials")
    unit = COMPARED[result["objective"]]
    ax.set_ylabel(f"best feasible energy efficiency so far ({unit})")
    ax.set_title(f"{result['network']} at a {_budgets(result)} budget: best-so-far {unit} over "
                 f"{len(result['seeds'])} seeds\n(median line, 25-75 % band; {result['trials']} trials per run)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    atomic_files.save_figure(fig, path)
    plt.close(fig)


def _sparsity_words(result: dict) -> str:
    """``; sparsity SOURCE (every layer's mode searched)`` of a sparsity-aware comparison, else empty."""
    return f"; sparsity {result['sparsity']} (every layer's mode searched)" if "sparsity" in result else ""


def _budgets(result: dict) -> str:
    return budget_text(result["power_w"], result.get("area_mm2"))


__all__ = ["COMPARED", "SpaceSpec", "run_compare", "run_one", "summarise", "trials_to_reach", "REACH"]
