"""The synthesis flow: SA filter, inner search, the outer study (resume, interrupt, foreign
studies, workers) and `pimtune synth` with its output files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest

from costmodel.design import load_design
from costmodel.evaluator import evaluate
from search.synth import effort as effort_module
from search.synth import inner_search, synthesis
from search.operators.annealing import duplication_energy, energy_terms
from search.cli.main import main
from search.synth.dup_filter import filter_duplication
from search.synth.effort import Effort
from search.synth.inner_search import point_rows, search_points, unfit_reasons
from search.storage.studies import open_storage
from search.synth.synthesis import SynthesisInterrupted, SynthesisPlan, synthesize
from space import DesignSpace, repair

optuna.logging.set_verbosity(optuna.logging.WARNING)
COMPLETE, PRUNED, FAIL, RUNNING = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                                   optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)

#: a small effort: 2 x 3 x 3 = 18 outer points, a few hundred designs each
TINY = Effort(name="tiny", sa_chains=2, sa_steps=30, candidates=2, population=6, generations=3,
              rram_ratios=(0.2, 0.3), points_per_batch=2)


@pytest.fixture(scope="module")
def space(alexnet, tech):
    return DesignSpace.for_network(alexnet, tech, 20.0)


def outcomes(study) -> dict:
    """{outer point: (state, value)} of the finished trials (one per point)."""
    out = {}
    for t in study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED)):
        key = synthesis.point_key(t.params)
        assert key not in out, f"point {key} finished twice"
        out[key] = (t.state, t.value)
    return out


def fail_on_call(monkeypatch, call: int, exc: BaseException) -> None:
    """Make the ``call``-th inner search of this test raise ``exc`` (earlier ones run)."""
    real = synthesis.search_points
    calls = {"n": 0}

    def failing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == call:
            raise exc
        return real(*args, **kw)

    monkeypatch.setattr(synthesis, "search_points", failing)


# --- SA filter ---------------------------------------------------------------------------------
def test_filter_keeps_distinct_budget_filling_candidates_best_first(space):
    X, owner, dacs = point_rows(space, [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 256},
                                        {"rram_ratio": 0.2, "cell_bits": 1, "xbar_size": 128}])
    ok = np.array([r is None for r in unfit_reasons(space, X)])
    X = repair(space, X[ok])
    res = filter_duplication(space, X, chains=3, steps=60, keep=5, rng=np.random.default_rng(0))
    assert res.dup.shape == (len(X), 5, int(space.conv.sum())) and res.best_energy.shape == (61, len(X))
    pixels, access = energy_terms(space)
    sets = space.crossbar_sets(X)[:, space.conv]
    fc = (space.crossbar_sets(X))[:, ~space.conv].sum(1)
    limit = space.crossbar_limit(X) - fc
    for e in range(len(X)):
        real = res.found()[e]
        assert real.sum() >= 2
        d = res.dup[e][real]
        assert len({tuple(v) for v in d}) == len(d)                           # distinct
        np.testing.assert_allclose(res.energy[e][real], duplication_energy(d, pixels, access))
        assert (np.diff(res.energy[e][real]) >= 0).all()                      # best first
        assert ((d * sets[e]).sum(1) <= limit[e]).all()                       # within the budget
        assert (d <= space.dup_max[space.conv]).all() and (d >= 1).all()
        assert (np.diff(res.best_energy[:, e]) <= 1e-9).all()                 # best so far never rises
        assert res.energy[e, 0] == pytest.approx(res.best_energy[-1, e])


def test_unfit_points_get_a_reason(space):
    X, owner, dacs = point_rows(space, [{"rram_ratio": 0.2, "cell_bits": 1, "xbar_size": 512}])
    reasons = unfit_reasons(space, X)
    assert len(reasons) == 3 and all("crossbars" in r for r in reasons if r)


# --- inner search ------------------------------------------------------------------------------
def test_inner_search_values_match_a_fresh_evaluation(space):
    points = [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 256}, {"rram_ratio": 0.2, "cell_bits": 1, "xbar_size": 512}]
    out = search_points(space, points, TINY, "tops_per_watt", np.random.default_rng(1))
    good, bad = out
    assert bad.value is None and "crossbars" in bad.reason
    assert good.reason is None and good.value > 0
    res = space.evaluate(good.row[None, :])
    assert res.feasible[0] and res.tops_per_watt[0] == pytest.approx(good.value)
    g = space.globals_of(good.row[None, :])
    assert g["rram_ratio"][0] == pytest.approx(0.3) and g["cell_bits"][0] == 2 and g["xbar_size"][0] == 256
    s = good.stats
    assert len(s["best_per_generation"]) == TINY.generations + 1
    assert max(v for v in s["best_by_dac_bits"].values() if v is not None) == pytest.approx(good.value)
    assert s["best_per_generation"][-1] == pytest.approx(good.value)
    assert s["evaluations"] == s["candidates"] * TINY.population * (TINY.generations + 1)


def test_inner_search_minimises_edp(space):
    p = [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 256}]
    edp = search_points(space, p, TINY, "edp", np.random.default_rng(2))[0]
    assert edp.value == pytest.approx(edp.metrics["edp_js"])
    # minimised: the best EDP per generation never rises and ends at the value reported
    per_gen = edp.stats["best_per_generation"]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(per_gen, per_gen[1:]))
    assert per_gen[-1] == pytest.approx(edp.value)


# --- the outer study ----------------------------------------------------------------------------
def run(space, effort=TINY, storage=None, name="s", **plan_kw):
    plan = SynthesisPlan(effort=effort, **plan_kw)
    return synthesize(space, plan, storage or optuna.storages.InMemoryStorage(), name)


def test_grid_study_covers_every_point_once(space):
    study, stats = run(space)
    got = outcomes(study)
    assert len(got) == 18 and stats.searched + stats.skipped == 18
    done = [t for t in study.trials if t.state == COMPLETE]
    assert done and all(t.value == pytest.approx(t.user_attrs["metrics"]["tops_per_watt"]) for t in done)
    for t in study.trials:
        if t.state == PRUNED:
            assert t.user_attrs["reason"]
    best = synthesis.best_trial(study, "tops_per_watt")
    assert best.value == max(t.value for t in done)
    # rerunning a finished study searches nothing
    again, stats2 = run(space, storage=study._storage)
    assert stats2.searched == 0 and outcomes(again) == got


def test_resume_after_a_crash_gives_the_uninterrupted_study(space, monkeypatch, tmp_path):
    whole, _ = run(space)
    real = synthesis.search_points
    storage = open_storage(f"sqlite:///{tmp_path / 'crash.db'}")
    fail_on_call(monkeypatch, 3, SystemExit("killed"))     # like a kill: the batch's trials stay RUNNING
    with pytest.raises(SystemExit):
        run(space, storage=storage)
    monkeypatch.setattr(synthesis, "search_points", real)
    cut = optuna.load_study(study_name="s", storage=storage)
    running = [t for t in cut.trials if t.state == RUNNING]
    assert len(running) == TINY.points_per_batch
    before = outcomes(cut)
    # a kill between enqueueing a point and asking for it leaves a WAITING trial behind
    finished = next(t for t in cut.trials if t.state == COMPLETE)
    cut.enqueue_trial(finished.params, skip_if_exists=False)
    running.append(cut.trials[-1])
    resumed, stats = run(space, storage=storage)
    assert stats.retried == len(running)
    after = outcomes(resumed)
    assert after == outcomes(whole)
    assert all(after[k] == v for k, v in before.items())                          # nothing lost
    assert [t.number for t in resumed.trials if t.state == FAIL] == [t.number for t in running]


def test_workers_give_the_same_study_as_one_process(space):
    one, _ = run(space, jobs=1)
    two, _ = run(space, jobs=2)
    assert outcomes(two) == outcomes(one)


def test_interrupt_keeps_finished_points_and_fails_the_rest(space, monkeypatch):
    fail_on_call(monkeypatch, 2, KeyboardInterrupt())
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(SynthesisInterrupted, match="resume"):
        run(space, storage=storage)
    study = optuna.load_study(study_name="s", storage=storage)
    assert not [t for t in study.trials if t.state == RUNNING]
    assert len([t for t in study.trials if t.state == FAIL]) == TINY.points_per_batch
    assert [t for t in study.trials if t.state == COMPLETE]


@pytest.mark.parametrize("outer", ["tpe", "random"])
def test_sampled_outer_runs_the_requested_trials(space, outer):
    study, stats = run(space, outer=outer, trials=5, seed=3)
    finished = study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED))
    assert len(finished) == 5 == stats.searched
    ratios = {round(t.params["rram_ratio"], 6) for t in finished}
    assert all(0.1 - 1e-9 <= r <= 0.4 + 1e-9 for r in ratios)


def test_foreign_study_is_refused_and_left_alone(space, resnet18_cifar, tech, tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'f.db'}")
    study, _ = run(space, storage=storage)
    n = len(study.trials)
    other = DesignSpace.for_network(resnet18_cifar, tech, 20.0)
    with pytest.raises(synthesis.PimtuneError, match="network"):
        run(other, storage=storage)
    with pytest.raises(synthesis.PimtuneError, match="power budget"):
        run(DesignSpace.for_network(space.network, tech, 25.0), storage=storage)
    with pytest.raises(synthesis.PimtuneError, match="objective|directions"):
        run(space, storage=storage, objective="throughput")
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == n


# --- the command -------------------------------------------------------------------------------
@pytest.fixture
def tiny_effort(monkeypatch):
    """`--effort quick` runs the TINY effort (in this process)."""
    monkeypatch.setitem(effort_module.EFFORTS, "quick", TINY.model_copy(update={"name": "quick"}))


def test_synth_command_writes_parseable_outputs(alexnet, tech, tmp_path, capsys, tiny_effort):
    out = tmp_path / "out"
    code = main(["synth", "alexnet-cifar", "--power", "20", "--effort", "quick", "--jobs", "1",
                 "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    for name in ("design.json", "report.md", "pareto.png", "energy.png", "convergence.png", "pimcomp.json",
                 "study.db"):
        assert (out / name).exists(), name
    for png in ("pareto.png", "energy.png", "convergence.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    batch = load_design(out / "design.json", alexnet)
    res = evaluate(alexnet, tech, batch, 20.0)
    assert res.feasible[0] and res.tops_per_watt[0] == pytest.approx(summary["best"]["tops_per_watt"])
    report = (out / "report.md").read_text()
    for heading in ("## Best design", "## Against the reference designs", "## Layers", "## Energy per inference",
                    "## Area", "## Outer points"):
        assert heading in report
    assert report.count("\n| conv") + report.count("\n| fc") >= len(alexnet.weighted_layers)
    pim = json.loads((out / "pimcomp.json").read_text())
    sets = {l["macro_set"]: l["set_macros"] for l in pim["layers"]}
    assert pim["chip_config"]["core_cnt"] >= sum(sets.values()) >= 1
    assert [l["duplication"] for l in pim["layers"]] == batch.dup[0].tolist()
    assert pim["chip_config"]["core_config"]["matrix_config"]["xbar_size"] == [int(batch.xbar_size[0])] * 2
    assert set(summary["references"]) == {"isaac", "heuristic", "no-dup"}
    # the study is readable by plain Optuna and holds the best design
    study = optuna.load_study(study_name="alexnet-cifar-20W-synth-tops_per_watt-quick",
                              storage=f"sqlite:///{out / 'study.db'}")
    assert study.best_trial.user_attrs["design"] == json.loads((out / "design.json").read_text())


def test_synth_command_refuses_a_foreign_study(tmp_path, capsys, tiny_effort):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    args = ["--effort", "quick", "--jobs", "1", "--storage", db, "--study-name", "shared", "--json"]
    assert main(["synth", "alexnet-cifar", "--power", "20", "--out", str(tmp_path / "a"), *args]) == 0
    capsys.readouterr()
    before = sqlite3.connect(tmp_path / "x.db").execute("select count(*) from trials").fetchone()[0]
    assert main(["synth", "resnet18-cifar", "--power", "20", "--out", str(tmp_path / "b"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "shared" in err and "network" in err
    assert sqlite3.connect(tmp_path / "x.db").execute("select count(*) from trials").fetchone()[0] == before


def test_synth_survives_a_real_kill(tmp_path):
    """SIGKILL a running `pimtune synth`, rerun it: the study completes with one finished
    trial per outer point and the values of an uninterrupted run."""
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "search.cli.main", "synth", "resnet18-cifar", "--power", "20", "--effort", "quick",
           "--jobs", "1", "--storage", f"sqlite:///{db}", "--study-name", "k", "--out", str(tmp_path / "o"), "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and proc.poll() is None:
        try:
            states = [r[0] for r in sqlite3.connect(db).execute("select state from trials")]
        except sqlite3.Error:
            states = []
        if "RUNNING" in states and ("COMPLETE" in states or "PRUNED" in states):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait()
    assert killed, "the run finished before it could be killed"
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    resumed = optuna.load_study(study_name="k", storage=f"sqlite:///{db}")
    ref = subprocess.run([*cmd[:cmd.index("--storage")], "--storage", f"sqlite:///{tmp_path / 'r.db'}",
                          "--study-name", "k", "--out", str(tmp_path / "r"), "--json"], env=env, capture_output=True)
    assert ref.returncode == 0
    whole = optuna.load_study(study_name="k", storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert outcomes(resumed) == outcomes(whole)
    assert [t for t in resumed.trials if t.state == FAIL]


# --- duplication sources and the ablations ----------------------------------------------------
def test_duplication_sources(space):
    X, owner, dacs = point_rows(space, [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 256}])
    X = X[[r is None for r in unfit_reasons(space, X)]]
    rng = np.random.default_rng(0)
    heur = inner_search.duplication_candidates(space, X, TINY, rng, "heuristic").dup[:, 0]
    none = inner_search.duplication_candidates(space, X, TINY, rng, "none").dup[:, 0]
    sa = inner_search.duplication_candidates(space, X, TINY, rng, "sa")
    assert (none == 1).all()
    assert ((sa.dup == heur[:, None, :]).all(-1).any(1)).all()          # the baseline is always a candidate
    pixels = space.workload.out_pixels[space.workload.layer_of_w[space.conv]]
    big, small = np.argmax(pixels), np.argmin(pixels)
    assert (heur[:, big] >= heur[:, small]).all()                        # proportional to H_out x W_out
    p = [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 256}]
    row = search_points(space, p, TINY, "tops_per_watt", rng, duplication="none")[0].row
    assert (space.dup_values(row[None, :]) == 1).all()
    with pytest.raises(synthesis.PimtuneError, match="duplication source"):
        SynthesisPlan(effort=TINY, duplication="magic").check()


ABLATION = """
networks: [alexnet-cifar]
power_w: 20
effort: {name: tiny, sa_chains: 2, sa_steps: 30, candidates: 2, population: 6, generations: 3,
         rram_ratios: [0.3]}
isaac_power_w: {alexnet-cifar: 65.8}
"""


def test_ablations_run_and_resume(tmp_path, zoo_net):
    from search.synth.ablations import COMPARISONS, load_ablation_file, ratio_rows, run_ablations

    path = tmp_path / "a.yaml"
    path.write_text(ABLATION)
    spec = load_ablation_file(path)
    storage = open_storage(f"sqlite:///{tmp_path / 'a.db'}")
    results = run_ablations(spec, zoo_net, storage)
    rows = ratio_rows(results)
    assert [r["comparison"] for r in rows] == list(COMPARISONS)
    by = {r["comparison"]: r for r in rows}
    assert by["dup vs no dup"]["tops_per_watt_ratio"] > 1.5                 # duplication matters
    full = results["alexnet-cifar"]["full"].tops_per_watt
    assert by["sharing vs none"]["a_tops_per_watt"] == pytest.approx(full)
    assert results["alexnet-cifar"]["isaac"].tops_per_watt > 0
    names = optuna.get_all_study_names(storage)
    assert len(names) == 7
    n_trials = {n: len(optuna.load_study(study_name=n, storage=storage).trials) for n in names}
    again = run_ablations(spec, zoo_net, storage)                            # resumes: nothing new
    assert ratio_rows(again) == rows
    assert {n: len(optuna.load_study(study_name=n, storage=storage).trials) for n in names} == n_trials


@pytest.mark.parametrize("text,match", [
    ("power_w: 20\n", "networks"),
    ("networks: [alexnet]\npower_w: -3\n", "power_w"),
    ("networks: [alexnet]\npower_w: 20\nbogus: 1\n", "bogus"),
    ("networks: [alexnet]\npower_w: 20\nisaac_power_w: {vgg16: 300}\n", "isaac_power_w.vgg16"),
    ("networks: [alexnet\n", "not valid YAML"),
    ("networks: [alexnet]\npower_w: 20\neffort: {name: x, sa_chains: 0, sa_steps: 1, candidates: 1, population: 2, "
     "generations: 1, rram_ratios: [0.2]}\n", "'effort.sa_chains'"),
])
def test_ablation_file_errors_name_the_key(tmp_path, text, match):
    from search.synth.ablations import load_ablation_file

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(synthesis.PimtuneError, match=match) as err:
        load_ablation_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_shipped_ablation_file_is_valid():
    from pathlib import Path

    from search.synth.ablations import load_ablation_file

    spec = load_ablation_file(Path(__file__).parent.parent / "studies" / "ablations.yaml")
    assert spec.networks == ["alexnet", "vgg13", "vgg16", "msra-a", "resnet18"]


def test_synth_command_ctrl_c_exits_130_and_keeps_the_study(tmp_path, capsys, monkeypatch, tiny_effort):
    real = synthesis.search_points
    fail_on_call(monkeypatch, 2, KeyboardInterrupt())
    out = tmp_path / "o"
    assert main(["synth", "alexnet-cifar", "--power", "20", "--effort", "quick", "--jobs", "1", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("pimtune: error: interrupted") and "resume" in err
    monkeypatch.setattr(synthesis, "search_points", real)
    study = optuna.load_study(study_name="alexnet-cifar-20W-synth-tops_per_watt-quick", storage=f"sqlite:///{out / 'study.db'}")
    kept = outcomes(study)
    assert any(state == COMPLETE for state, _ in kept.values())
    assert main(["synth", "alexnet-cifar", "--power", "20", "--effort", "quick", "--jobs", "1", "--out", str(out)]) == 0
    resumed = outcomes(optuna.load_study(study_name="alexnet-cifar-20W-synth-tops_per_watt-quick",
                                         storage=f"sqlite:///{out / 'study.db'}"))
    assert all(resumed[k] == v for k, v in kept.items()) and len(resumed) == 18
