"""Trials/s of a stored flat search (the README's "Stored searches" table).

    python studies/bench_stored_search.py [--network alexnet] [--power 49] [--sampler ea]
                                          [--trials 2048] [--repeats 3] [--postgres URL]

Runs `pimtune search NETWORK --power W --sampler S --trials N --seed R` as a user would (a
fresh process and a fresh storage per run) in memory, into SQLite and into a journal file
in a temporary folder on this machine's disk, and into PostgreSQL when --postgres (or
PIMTUNE_TEST_POSTGRES_URL) names a role that may create databases; prints a Markdown
table of the median trials/s the command reports (its search loop, start-up excluded)
and /proc/loadavg before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def postgres_database(admin_url: str) -> str:
    """A fresh database next to ``admin_url``'s, for one run."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def run_once(args, storage: str | None, seed: int) -> float:
    cmd = [sys.executable, "-m", "search.cli.main", "search", args.network, "--power", f"{args.power:g}", "--sampler",
           args.sampler, "--trials", str(args.trials), "--seed", str(seed), "--json"]
    if storage:
        cmd += ["--storage", storage, "--study-name", "bench"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"pimtune search failed: {done.stderr.strip()}")
    return json.loads(done.stdout)["trials_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", default="alexnet")
    p.add_argument("--power", type=float, default=49.0)
    p.add_argument("--sampler", default="ea")
    p.add_argument("--trials", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--postgres", default=os.environ.get("PIMTUNE_TEST_POSTGRES_URL"))
    args = p.parse_args()
    print(f"load before: {loadavg()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        kinds = {"in memory": lambda i: None, "SQLite": lambda i: f"sqlite:///{tmp}/s{i}.db",
                 "journal file": lambda i: f"{tmp}/j{i}.log"}
        if args.postgres:
            kinds["PostgreSQL"] = lambda i: postgres_database(args.postgres)
        for kind, storage in kinds.items():
            rates = [run_once(args, storage(i), seed=i) for i in range(args.repeats)]
            rows.append((kind, statistics.median(rates), min(rates), max(rates)))
            print(f"{kind}: {', '.join(f'{r:.0f}' for r in rates)} trials/s", file=sys.stderr, flush=True)
    print(f"load after: {loadavg()}\n")
    print(f"| storage ({args.sampler}, {args.network} at {args.power:g} W, {args.trials} trials) | "
          f"median trials/s | min | max |")
    print("|---|---:|---:|---:|")
    for kind, med, lo, hi in rows:
        print(f"| {kind} | {med:.0f} | {lo:.0f} | {hi:.0f} |")


if __name__ == "__main__":
    main()
