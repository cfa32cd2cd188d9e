"""Cost of running a sweep's cells on Ray rather than in-process.

    python studies/bench_sweep.py [--sweep studies/quick-sweep.yaml] [--storage sqlite|journal|URL]

Three runs of every cell of the sweep, each into a fresh storage (a file in a temporary
folder, or a new database on the PostgreSQL server of URL, dropped afterwards):

1. in-process, one cell after the other: each cell's time (s);
2. on a local Ray, one trial at a time: a cell's Ray time is the gap between its
   completion and the previous one's (the first counted from the Tuner's start); its
   overhead is that minus its in-process time, and (less sensitive to other load on the
   machine) minus the time the cell's synthesis took inside its Ray trial. Prints the
   medians per cell (the target is < 2 s) and Ray's start-up, which a sweep pays once;
3. on a local Ray with 2 CPUs, 2 trials at a time: the sweep's wall time against the sum
   of the in-process times / 1.6 (the target), with and without Ray's start-up;
4. without Ray, two processes side by side, each running every other cell in-process:
   what 2 workers gain on this machine and storage at all, Ray or not.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import sweep_ray  # noqa: E402
from search.studies import open_storage  # noqa: E402
from search.sweep import cells_of, load_inputs, run_in_process  # noqa: E402
from search.sweep_spec import load_sweep  # noqa: E402


@contextmanager
def fresh_storage(kind: str, folder: Path, label: str):
    """A storage URL nobody has written to: a file in ``folder`` or a new database."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / (label + '.db')}"
    elif kind == "journal":
        yield str(folder / f"{label}.log")
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(kind)
        name = f"pimtune_bench_{label}_{uuid.uuid4().hex[:8]}"
        info = dict(host=base.host, port=base.port or 5432, user=base.username, password=base.password,
                    dbname=base.database, autocommit=True)
        with psycopg.connect(**info) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(**info) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def ray_run(cells, inputs, url: str, concurrent: int) -> tuple[float, float, list[tuple[float, float]]]:
    """(Ray start-up s, Tuner wall s, [(completion time s since the Tuner started, the
    cell's seconds inside its trial)] in order of completion)."""
    t0 = time.perf_counter()
    import ray

    ray.init(address="local", num_cpus=concurrent, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    startup = time.perf_counter() - t0
    done: list[tuple[float, float]] = []
    try:
        t1 = time.perf_counter()
        results = sweep_ray.run_on_ray(cells, inputs, url, concurrent,
                                       report=lambda cell, result, error, s: done.append(
                                           (time.perf_counter() - t1, result["seconds"] if result else 0.0)))
        wall = time.perf_counter() - t1
    finally:
        sweep_ray.shutdown()
    errors = [r["error"] for r in results if r.get("error")]
    if errors:
        raise SystemExit(f"cells failed on Ray: {errors[0]}")
    return startup, wall, sorted(done)


def _half(args) -> float:
    cells, inputs, url = args
    return sum(r["seconds"] for r in run_in_process(cells, inputs, url))


def side_by_side(cells, inputs, url: str) -> float:
    """Wall time (s) of two processes each running every other cell in-process."""
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_half, [(cells[0::2], inputs, url), (cells[1::2], inputs, url)])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", default=str(ROOT / "studies" / "quick-sweep.yaml"))
    parser.add_argument("--storage", default="sqlite", help="sqlite, journal or a PostgreSQL URL")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cells = cells_of(load_sweep(args.sweep))
    inputs = load_inputs(cells)
    kind = args.storage if args.storage in ("sqlite", "journal") else "postgresql"
    print(f"{len(cells)} cells of {args.sweep}, storage {kind}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with fresh_storage(args.storage, folder, "inproc") as url:
            t0 = time.perf_counter()
            local = [r["seconds"] for r in run_in_process(cells, inputs, url)]
            in_wall = time.perf_counter() - t0
        with fresh_storage(args.storage, folder, "ray1") as url:
            start1, wall1, done1 = ray_run(cells, inputs, url, 1)
        with fresh_storage(args.storage, folder, "ray2") as url:
            start2, wall2, _ = ray_run(cells, inputs, url, 2)
        with fresh_storage(args.storage, folder, "pair") as url:
            open_storage(url)
            pair = side_by_side(cells, inputs, url)
    # completions with one trial at a time come in cell order (a FIFO grid)
    ends = [t for t, _ in done1]
    ray_times = [b - a for a, b in zip([0.0, *ends[:-1]], ends)]
    overheads = [r - c for r, c in zip(ray_times, local)]
    inside = [r - s for r, (_, s) in zip(ray_times, done1)]
    total = sum(local)
    print(f"in-process: {total:.1f} s in all (wall {in_wall:.1f} s), median cell {statistics.median(local):.2f} s")
    print(f"Ray, 1 at a time: start-up {start1:.1f} s, Tuner {wall1:.1f} s; overhead per cell: median "
          f"{statistics.median(overheads):.2f} s (first cell {overheads[0]:.2f} s, max of the rest "
          f"{max(overheads[1:]):.2f} s); over the same cell's time inside its trial: median "
          f"{statistics.median(inside):.2f} s (first {inside[0]:.2f} s, max of the rest {max(inside[1:]):.2f} s); "
          f"target < 2 s")
    target = total / 1.6
    print(f"Ray, 2 at a time: Tuner {wall2:.1f} s, with start-up {wall2 + start2:.1f} s; target sum/1.6 = "
          f"{target:.1f} s; speed-up over in-process {total / wall2:.2f}x ({total / (wall2 + start2):.2f}x "
          f"with start-up); {'met' if wall2 + start2 <= target else 'NOT met with start-up'}")
    print(f"no Ray, 2 processes side by side: {pair:.1f} s, speed-up {total / pair:.2f}x")


if __name__ == "__main__":
    main()
