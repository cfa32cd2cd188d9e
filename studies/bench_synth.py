"""Wall time of `pimtune synth` on the five PIMSYN benchmarks (the README's synthesis table).

    python studies/bench_synth.py [--power 49] [--effort default] [--jobs N] [--repeats 1]
                                  [--networks alexnet,vgg13,vgg16,msra-a,resnet18]

Runs the command as a user would (a fresh process, a fresh SQLite study, the report
written) and prints a Markdown table: the median wall time over the repeats, the outer
points searched and skipped, the designs the EAs scored, the best TOPS/W and its gain over
the `heuristic` reference design at the same budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

NETWORKS = ("alexnet", "vgg13", "vgg16", "msra-a", "resnet18")


def run_once(network: str, power: float, effort: str, jobs: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "search.cli.main", "synth", network, "--power", f"{power:g}", "--effort", effort,
               "--jobs", str(jobs), "--out", out, "--json"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{network}: pimtune synth failed: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--power", type=float, default=49.0)
    p.add_argument("--effort", default="default")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--networks", default=",".join(NETWORKS))
    args = p.parse_args()
    print(f"`pimtune synth NETWORK --power {args.power:g} --effort {args.effort} --jobs {args.jobs}`, "
          f"median of {args.repeats} run(s), {os.cpu_count()} CPUs\n")
    print("| network | wall s | outer points searched / skipped | designs scored | designs/s | best TOPS/W "
          "| vs heuristic |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for net in args.networks.split(","):
        runs = [run_once(net, args.power, args.effort, args.jobs) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in runs)
        summary = runs[-1][1]
        s, best = summary["search"], summary["best"]
        heur = summary["references"]["heuristic"]
        tpw = "-" if best is None else f"{best['tops_per_watt']:.4f}"
        gain = "-" if best is None or "tops_per_watt" not in heur else \
            f"{best['tops_per_watt'] / heur['tops_per_watt']:.2f}x"
        print(f"| {net} | {seconds:.1f} | {s['searched_now']} / {s['skipped_now']} | {s['evaluations_now']:,} | "
              f"{s['evaluations_now'] / seconds:,.0f} | {tpw} | {gain} |", flush=True)


if __name__ == "__main__":
    main()
