"""Cost of running a sweep's cells on Ray rather than in-process.

    python studies/bench_sweep.py [--sweep studies/quick-sweep.yaml] [--storage sqlite|journal|URL]

Four runs of every cell of the sweep, each into a fresh storage (a file in a temporary
folder, or a new database on the PostgreSQL server of URL, dropped afterwards). Ray starts
as ``pimtune sweep`` starts it (:func:`search.sweeps.sweep_ray.connect`) and runs the cells
longest expected first.

1. in-process, one cell after the other: each cell's time (s);
2. on a local Ray, one trial at a time: a cell's Ray time is the gap between its
   completion and the previous one's (the first counted from the Tuner's start); its
   overhead is that minus its in-process time, and (less sensitive to other load on the
   machine) minus the time the cell's synthesis took inside its Ray trial. Prints the
   medians per cell (the target is < 2 s) and Ray's start-up, which a sweep pays once;
3. on a local Ray with 2 CPUs, 2 trials at a time: the sweep's wall time against the sum
   of the in-process times / 1.6 (the target), with and without Ray's start-up (and
   its shut-down, for information);
4. without Ray, two processes side by side, each running every other cell in-process:
   what 2 workers gain on this machine and storage at all, Ray or not.

Last, the CPU time other processes took meanwhile (:class:`OtherLoad`): run it under
``flock /tmp/pimtune-cpu.lock`` on a shared machine, and trust figures only when that
is near 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.sweeps import sweep_ray  # noqa: E402
from search.storage.studies import open_storage  # noqa: E402
from search.sweeps.sweep import cells_of, load_inputs, run_in_process  # noqa: E402
from search.sweeps.sweep_spec import load_sweep  # noqa: E402


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


def ray_run(cells, inputs, url: str, concurrent: int) -> tuple[float, float, float, list[tuple[float, str, float]]]:
    """(Ray start-up s, Tuner wall s, shut-down s, [(completion time s since the Tuner
    started, the cell's study, its seconds inside its trial)] in order of completion).
    Ray starts as ``pimtune sweep`` starts it (:func:`search.sweeps.sweep_ray.connect`)."""
    t0 = time.perf_counter()
    sweep_ray.connect(None, num_cpus=concurrent)
    startup = time.perf_counter() - t0
    done: list[tuple[float, str, float]] = []
    try:
        t1 = time.perf_counter()
        results = sweep_ray.run_on_ray(cells, inputs, url, concurrent,
                                       report=lambda cell, result, error, s: done.append(
                                           (time.perf_counter() - t1, cell.study_name,
                                            result["seconds"] if result else 0.0)))
        wall = time.perf_counter() - t1
    finally:
        t2 = time.perf_counter()
        sweep_ray.shutdown()
        stop = time.perf_counter() - t2
    errors = [r["error"] for r in results if r.get("error")]
    if errors:
        raise SystemExit(f"cells failed on Ray: {errors[0]}")
    return startup, wall, stop, sorted(done)


class OtherLoad:
    """CPU-seconds used while the block runs by processes outside this one's tree (which
    holds its Ray processes and pool workers), sampled from /proc every second, and the
    names of the busiest: the figures are comparable only when this stays near 0 (a
    database server on the machine counts here too). A process that starts and ends
    between two samples is missed."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.busiest = ""
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._mine = {os.getpid()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        started = bool(self._last)              # a process first seen later started in the block
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            pid, cpu = int(entry), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            if int(fields[1]) in self._mine:
                self._mine.add(pid)
            self._first.setdefault(pid, 0.0 if started else cpu)
            self._last[pid] = cpu
            self._names[pid] = stat[stat.find("(") + 1:stat.rfind(")")]

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def __enter__(self) -> OtherLoad:
        if Path("/proc/self/stat").exists():
            self._sample()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()
            used: dict[str, float] = {}
            for pid, cpu in self._last.items():
                if pid not in self._mine:
                    used[self._names[pid]] = used.get(self._names[pid], 0.0) + cpu - self._first[pid]
            self.cpu = sum(used.values())
            self.busiest = ", ".join(f"{name} {cpu:.1f}" for name, cpu in sorted(used.items(), key=lambda x: -x[1])[:3]
                                     if cpu >= 0.1)


def _half(args) -> float:
    cells, inputs, url = args
    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
    with tempfile.TemporaryDirectory() as tmp, OtherLoad() as load:
        folder = Path(tmp)
        with fresh_storage(args.storage, folder, "inproc") as url:
            t0 = time.perf_counter()
            local = [r["seconds"] for r in run_in_process(cells, inputs, url)]
            in_wall = time.perf_counter() - t0
        with fresh_storage(args.storage, folder, "ray1") as url:
            start1, wall1, _, done1 = ray_run(cells, inputs, url, 1)
        with fresh_storage(args.storage, folder, "ray2") as url, OtherLoad() as load2:
            start2, wall2, stop2, done2 = ray_run(cells, inputs, url, 2)
        with fresh_storage(args.storage, folder, "pair") as url:
            open_storage(url)
            pair = side_by_side(cells, inputs, url)
    # one trial at a time: a cell's Ray time is the gap to the previous completion (the cells
    # run longest expected first, not in the order of `cells`)
    by_study = {c.study_name: t for c, t in zip(cells, local)}
    ends = [t for t, _, _ in done1]
    ray_times = [b - a for a, b in zip([0.0, *ends[:-1]], ends)]
    overheads = [r - by_study[study] for r, (_, study, _) in zip(ray_times, done1)]
    inside = [r - s for r, (_, _, s) in zip(ray_times, done1)]
    total = sum(local)
    print(f"in-process: {total:.1f} s in all (wall {in_wall:.1f} s), median cell {statistics.median(local):.2f} s")
    print(f"Ray, 1 at a time: start-up {start1:.1f} s, Tuner {wall1:.1f} s; overhead per cell: median "
          f"{statistics.median(overheads):.2f} s (first cell {overheads[0]:.2f} s, max of the rest "
          f"{max(overheads[1:]):.2f} s); over the same cell's time inside its trial: median "
          f"{statistics.median(inside):.2f} s (first {inside[0]:.2f} s, max of the rest {max(inside[1:]):.2f} s); "
          f"target < 2 s")
    target = total / 1.6
    first = min(t - s for t, _, s in done2)           # the first cell's start, s into the Tuner
    print(f"Ray, 2 at a time: start-up {start2:.1f} s + Tuner {wall2:.1f} s = {wall2 + start2:.1f} s (shut-down "
          f"{stop2:.1f} s more); target sum/1.6 = {target:.1f} s; speed-up over in-process {total / wall2:.2f}x, "
          f"{total / (wall2 + start2):.2f}x with start-up, {total / (wall2 + start2 + stop2):.2f}x with start-up "
          f"and shut-down; {'met' if wall2 + start2 <= target else 'NOT met with start-up'}. First cell started "
          f"{first:.1f} s into the Tuner; one worker idle for the last {done2[-1][0] - done2[-2][0]:.1f} s; "
          f"cells' time inside their trials {sum(s for _, _, s in done2):.1f} s in all "
          f"({sum(s for _, _, s in done2) / total - 1:+.0%} over in-process)")
    print(f"no Ray, 2 processes side by side: {pair:.1f} s, speed-up {total / pair:.2f}x")
    print(f"other processes on the machine: {load.cpu:.1f} CPU-s during the runs ({load.busiest or 'none'}), "
          f"{load2.cpu:.1f} during the 2-worker run ({load2.busiest or 'none'})")


if __name__ == "__main__":
    main()
