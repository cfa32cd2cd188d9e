"""``pimtune sweep`` on real Ray: the same results as in-process, and a two-node cluster
writing into PostgreSQL whose driver is killed part-way and resumed.

The PostgreSQL tests need ``PIMTUNE_TEST_POSTGRES_URL`` (a role allowed to create
databases; ``.ci/run`` starts a server and sets it): without it they are skipped on a
developer's machine and fail in CI (``CI`` set).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.sweeps import sweep_ray
from search.storage.studies import open_storage
from search.sweeps.sweep import (CELL_FIXED, DONE_KEY, RETRY_DELAYS_S, cell_states, cells_of, expected_cost, load_inputs,
                          longest_first, run_cell, run_in_process)
from search.sweeps.sweep_spec import SweepSpec, load_sweep
from search.synth.inner_search import OUTER_PARAMS
from search.synth.synthesis import point_key

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "studies" / "quick-sweep.yaml"
#: outer points of the quick effort's grid: 4 rram ratios x cell bits x crossbar sizes
GRID_POINTS = 36


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def tiny_spec(name: str = "tiny") -> SweepSpec:
    return SweepSpec(name=name, networks=["alexnet-cifar"], power_budgets_w=[10, 20], effort="quick")


def trials_by_point(study: optuna.Study) -> dict[tuple, list]:
    """Trials by outer point; a trial cut off before its point was wholly set (the
    parameters are written one by one) must have FAILed."""
    out: dict[tuple, list] = {}
    for t in study.get_trials(deepcopy=False):
        if not all(k in t.params for k in OUTER_PARAMS):
            assert t.state == TrialState.FAIL, t
            continue
        out.setdefault(point_key(t.params), []).append(t)
    return out


def outcome(study: optuna.Study) -> dict:
    """Point -> (state, value, design) of its finished trial: what a synthesis found."""
    return {k: [(t.state, t.value, t.user_attrs.get("design")) for t in ts if t.state != TrialState.FAIL]
            for k, ts in trials_by_point(study).items()}


# --- the order cells run in -----------------------------------------------------------------------
def test_cells_run_longest_expected_first():
    spec = load_sweep(QUICK)
    cells = cells_of(spec)
    inputs = load_inputs(cells)
    order = longest_first(cells, inputs)
    assert sorted(c.study_name for c in order) == sorted(c.study_name for c in cells)
    costs = [expected_cost(c, inputs) for c in order]
    assert costs == sorted(costs, reverse=True)
    for network in spec.networks:                # a higher budget fits more of the grid's points
        mine = [expected_cost(c, inputs) for c in cells if c.network == network and c.seed == 0]
        assert mine == sorted(mine) and mine[0] < mine[-1]
    first, last = order[0], order[-1]
    assert (first.network, first.power_w, last.network, last.power_w) == ("vgg16-cifar", 40, "alexnet-cifar", 10)
    assert [c.seed for c in order[:2]] == [0, 1]                # equal costs keep the sweep's order
    tpe = dataclasses.replace(first, outer="tpe", outer_trials=18)
    assert CELL_FIXED < expected_cost(tpe, inputs) < costs[0]   # 18 of the 36 points, all of which fit
    assert expected_cost(dataclasses.replace(first, power_w=-1.0), inputs) == CELL_FIXED   # its trial says why


# --- Ray against in-process, SQLite ----------------------------------------------------------------
def test_ray_runs_give_the_in_process_results(tmp_path):
    from ray._private import services
    from ray._private.node import Node
    from ray.tune.execution import class_cache

    cells = cells_of(tiny_spec())
    inputs = load_inputs(cells)
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    run_in_process(cells, inputs, local)
    seen = []
    ray_private = (Node.__init__, Node.start_api_server, services.get_node, dict(class_cache.DEFAULT_ENV_VARS))
    sweep_ray.connect(None)
    try:
        import ray

        # started lean: no dashboard API server, autoscaler monitor or log monitor
        assert not {"dashboard", "monitor", "log_monitor"} & set(ray._private.worker._global_node.all_processes)
        results = sweep_ray.run_on_ray(cells, inputs, remote, max_concurrent=2,
                                       report=lambda cell, result, error, s: seen.append((cell, error)))
    finally:
        sweep_ray.shutdown()
    assert (Node.__init__, Node.start_api_server, services.get_node, class_cache.DEFAULT_ENV_VARS) == ray_private
    assert [r["error"] for r in results] == [None, None]
    assert sorted(c.study_name for c, _ in seen) == sorted(c.study_name for c in cells)
    a, b = open_storage(local), open_storage(remote)
    assert set(cell_states(b, cells).values()) == {"done"}
    for cell in cells:
        mine = optuna.load_study(study_name=cell.study_name, storage=a)
        theirs = optuna.load_study(study_name=cell.study_name, storage=b)
        assert len(outcome(mine)) == GRID_POINTS
        assert outcome(theirs) == outcome(mine)


def test_cli_skips_done_cells_and_summarises(tmp_path):
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text("name: tiny\nnetworks: [alexnet-cifar]\npower_budgets_w: [10, 20]\neffort: quick\n"
                     f"storage: sqlite:///{tmp_path / 'tiny.db'}\n")
    cells = cells_of(load_sweep(sweep))
    run_in_process(cells[:1], load_inputs(cells), f"sqlite:///{tmp_path / 'tiny.db'}")
    done = pimtune("sweep", str(sweep), "--resume", "--max-concurrent", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 done, 0 cut off, 1 new" in done.stdout
    assert "[2/2]" in done.stderr and "[1/2]" not in done.stderr       # the done cell did not run again
    summary = pimtune("sweep", str(sweep), "--summary", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    md = (tmp_path / "out" / "summary.md").read_text()
    assert md.count("| alexnet-cifar | ") == 2 and "| done |" in md
    csv = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("network,power_w,")
    assert (tmp_path / "out" / "tops_per_watt.png").stat().st_size > 10_000


def test_resume_refuses_a_storage_without_the_sweep(tmp_path):
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text("name: tiny\nnetworks: [alexnet-cifar]\npower_budgets_w: [10]\neffort: quick\n")
    missing = pimtune("sweep", str(sweep), "--resume", "--storage", f"sqlite:///{tmp_path / 'typo.db'}", cwd=tmp_path)
    assert missing.returncode == 2 and "typo.db: no such file" in missing.stderr and missing.stderr.count("\n") == 1
    assert not (tmp_path / "typo.db").exists()
    open_storage(f"sqlite:///{tmp_path / 'empty.db'}")
    res = pimtune("sweep", str(sweep), "--resume", "--storage", f"sqlite:///{tmp_path / 'empty.db'}", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("pimtune: error: nothing to resume:") and res.stderr.count("\n") == 1


def test_sqlite_storage_is_switched_to_write_ahead_logging_and_stays_readable(tmp_path):
    import sqlite3

    url = f"sqlite:///{tmp_path / 'w.db'}"
    optuna.create_study(storage=open_storage(url), study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1), 3)
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3      # plain Optuna reads it


def test_schema_mismatch_and_refused_connection_are_one_line(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    open_storage(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v2.6.0.a'")
    old = pimtune("sweep", str(QUICK), "--storage", f"sqlite:///{db}", cwd=tmp_path)
    assert old.returncode == 2 and old.stderr.count("\n") == 1
    assert "no longer compatible with the table schema" in old.stderr and "optuna storage upgrade" in old.stderr
    refused = pimtune("sweep", str(QUICK), "--storage", "postgresql://u:secret@127.0.0.1:1/db", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "cannot open the database" in refused.stderr and "secret" not in refused.stderr


def pimtune(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=_env())


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(ROOT)
    return env


# --- PostgreSQL ------------------------------------------------------------------------------------
@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test (dropped after it)."""
    url = os.environ.get("PIMTUNE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("PIMTUNE_TEST_POSTGRES_URL is not set in CI; .ci/run starts PostgreSQL and sets it")
        pytest.skip("PIMTUNE_TEST_POSTGRES_URL not set (see .ci/postgres.sh)")
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"pimtune_test_{uuid.uuid4().hex[:10]}"
    conninfo = dict(host=base.host, port=base.port or 5432, user=base.username, password=base.password,
                    dbname=base.database, autocommit=True)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_wrong_password_is_one_line(pg_url, tmp_path):
    from sqlalchemy.engine import make_url

    bad = make_url(pg_url).set(password="not-the-password").render_as_string(hide_password=False)
    res = pimtune("sweep", str(QUICK), "--storage", bad, cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "cannot open the database" in res.stderr and "authentication failed" in res.stderr
    assert "not-the-password" not in res.stderr


def test_lost_connection_is_retried_without_losing_trials(pg_url):
    """Every backend of the cell's database is terminated while the cell runs; the cell
    reconnects, keeps what was told before and finishes every point once."""
    import threading

    import psycopg
    from sqlalchemy.engine import make_url

    cell = cells_of(SweepSpec(name="lost", networks=["vgg16-cifar"], power_budgets_w=[20], effort="quick"))[0]
    u = make_url(pg_url)
    storage = open_storage(pg_url)
    told_before: dict = {}

    def cut_connections():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                study = optuna.load_study(study_name=cell.study_name, storage=storage)
                done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            except KeyError:
                done = []
            if len(done) >= GRID_POINTS // 2:
                told_before.update({t.number: (t.state, t.value) for t in done})
                break
            time.sleep(0.05)
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (u.database,))

    cutter = threading.Thread(target=cut_connections)
    cutter.start()
    result = run_cell(cell, load_inputs([cell]), pg_url, sleep=lambda s: time.sleep(min(s, 0.5)))
    cutter.join()
    assert told_before, "the cell finished before half of its points were told"
    study = optuna.load_study(study_name=cell.study_name, storage=open_storage(pg_url))
    by_point = trials_by_point(study)
    assert len(by_point) == GRID_POINTS
    assert all(sum(t.state != TrialState.FAIL for t in ts) == 1 for ts in by_point.values())
    now = {t.number: (t.state, t.value) for t in study.trials}
    assert all(now[n] == v for n, v in told_before.items())
    assert study.user_attrs[DONE_KEY]["study"] == result["study"]
    assert 1 <= result["attempts"] <= len(RETRY_DELAYS_S) + 1


def test_two_node_sweep_killed_and_resumed(pg_url, tmp_path):
    """quick-sweep.yaml on a head and a worker node (one CPU each) into PostgreSQL: the
    driver is SIGKILLed part-way, the sweep resumed; every cell ends complete, each outer
    point told once, and nothing stored before the kill is lost."""
    from ray.cluster_utils import Cluster

    spec = load_sweep(QUICK)
    cells = cells_of(spec)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        args = ["sweep", str(QUICK), "--address", cluster.address, "--storage", pg_url]
        log = (tmp_path / "first.log").open("w")
        first = subprocess.Popen([sys.executable, "-m", "search.cli.main", *args], cwd=tmp_path, stdout=log,
                                 stderr=subprocess.STDOUT, env=_env())
        storage = open_storage(pg_url)
        before, cut = _wait_part_way(storage, cells, first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        log.close()

        second = pimtune(*args, "--resume", cwd=tmp_path, timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        cluster.shutdown()

    storage = open_storage(pg_url)
    assert set(cell_states(storage, cells).values()) == {"done"}
    nodes = set()
    for cell in cells:
        study = optuna.load_study(study_name=cell.study_name, storage=storage)
        by_point = trials_by_point(study)
        assert len(by_point) == GRID_POINTS, cell.study_name
        assert all(sum(t.state != TrialState.FAIL for t in ts) == 1 for ts in by_point.values()), cell.study_name
        failed = [t for t in study.trials if t.state == TrialState.FAIL]
        assert not failed or cell.study_name in cut, cell.study_name      # only cut-off cells have FAIL
        assert not any(t.state == TrialState.RUNNING for t in study.trials)
        nodes.add(study.user_attrs[DONE_KEY]["node"])
        for number, (state, value, done_mark) in before.get(cell.study_name, {}).items():
            assert (study.trials[number].state, study.trials[number].value) == (state, value)
            if done_mark is not None:                                      # done before the kill: not rerun
                assert study.user_attrs[DONE_KEY] == done_mark
    assert len(nodes) == 2, nodes


def _wait_part_way(storage, cells, driver: subprocess.Popen, timeout: float = 300):
    """Wait until at least 3 cells are done and another has told some points; return what
    the storage holds then (study -> trial number -> (state, value, done mark or None))
    and the studies not done then (the kill may cut off any of them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be interrupted"
        states = cell_states(storage, cells)
        done = [n for n, s in states.items() if s == "done"]
        partial = [n for n, s in states.items() if s == "partial"]
        started = [n for n in partial if _told(storage, n)]
        if len(done) >= 3 and started:
            before = {}
            for name in done + partial:
                study = optuna.load_study(study_name=name, storage=storage)
                mark = study.user_attrs.get(DONE_KEY)
                before[name] = {t.number: (t.state, t.value, mark) for t in study.trials
                                if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
            return before, {n for n, s in states.items() if s != "done"}
        time.sleep(0.1)
    raise AssertionError("the sweep did not get part-way in time")


def _told(storage, name: str) -> bool:
    study = optuna.load_study(study_name=name, storage=storage)
    return any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
