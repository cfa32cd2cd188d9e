"""Wall time and TOPS/W of `pimtune synth --epitomes search` against the dense synthesis.

    python studies/bench_epitome_search.py [--network resnet18] [--power 49] [--effort default]
                                           [--repeats 3] [--jobs N] [--epitome-args "--min-ratio 2"]

Runs, as a user would (a fresh process, a fresh SQLite study, the report written), the
dense synthesis and the epitome search of the same network, budget, effort and seed,
``--repeats`` times each, alternating, and prints each run's wall time and /proc/loadavg
before and after, then a Markdown table: the median wall time of each, the best TOPS/W of
each, the dense synthesis' TOPS/W as the epitome run's report gives it (the first stage of
the same run: equal to the dense run's, by construction), and the epitome layers chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_once(argv: list[str]) -> tuple[float, dict, str, str]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "search.cli.main", "synth", *argv, "--out", out, "--json"]
        before = loadavg()
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = loadavg()
    if done.returncode not in (0, 1):
        raise SystemExit(f"pimtune synth {' '.join(argv)} failed: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout), before, after


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", default="resnet18")
    p.add_argument("--power", type=float, default=49.0)
    p.add_argument("--effort", default="default")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epitome-args", default="--min-ratio 2")
    args = p.parse_args()
    base = [args.network, "--power", f"{args.power:g}", "--effort", args.effort, "--jobs", str(args.jobs)]
    variants = {"dense": base, "epitomes": base + ["--epitomes", "search", *shlex.split(args.epitome_args)]}
    runs: dict[str, list] = {k: [] for k in variants}
    for i in range(args.repeats):
        for name, argv in variants.items():
            seconds, summary, before, after = run_once(argv)
            runs[name].append((seconds, summary))
            print(f"{name} run {i + 1}: {seconds:.1f} s, TOPS/W {summary['best']['tops_per_watt']:.4f}, "
                  f"load before {before}, after {after}", flush=True)
    print(f"\n`pimtune synth {' '.join(base)}` with and without `--epitomes search {args.epitome_args}`, "
          f"median of {args.repeats} runs, {os.cpu_count()} CPUs\n")
    print("| synthesis | wall s (median) | wall s (runs) | best TOPS/W | dense TOPS/W in the report | epitome layers |")
    print("|---|---:|---|---:|---:|---:|")
    for name, rs in runs.items():
        summary = rs[-1][1]
        comp = summary.get("epitome_comparison")
        dense = "-" if comp is None else f"{comp['designs']['dense synthesis']['tops_per_watt']:.4f}"
        layers = "-" if comp is None else f"{comp['epitome_layers']} of {len(comp['layers'])}"
        print(f"| {name} | {statistics.median(s for s, _ in rs):.1f} | {', '.join(f'{s:.1f}' for s, _ in rs)} | "
              f"{summary['best']['tops_per_watt']:.4f} | {dense} | {layers} |")


if __name__ == "__main__":
    main()
