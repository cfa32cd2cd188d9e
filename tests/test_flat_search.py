"""Flat search (search.flat.flat_search), the sampler factory, the strategy comparison and
their commands (`pimtune search`, `pimtune compare`)."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import optuna
import pytest

from onnx_frontend.errors import PimtuneError
from search.cli.main import main
from search.flat.compare import run_compare
from search.flat.flat_search import (INFEASIBLE_MINIMISED, OBJECTIVES, best_so_far, directions_of, run_search)
from search.points import REPAIRED_KEY
from search.samplers.sampler_factory import SAMPLERS, make_sampler
from space import DesignSpace, repair

optuna.logging.set_verbosity(optuna.logging.WARNING)

COMPLETE = optuna.trial.TrialState.COMPLETE
HAS_CMAES = importlib.util.find_spec("cmaes") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def space(alexnet, tech):
    return DesignSpace.for_network(alexnet, tech, 20.0)


def search(space, name, n, seed=0, objectives=("tops_per_watt",), storage=None, study_name=None):
    sampler, batch = make_sampler(name, space, seed, len(objectives))
    study = optuna.create_study(sampler=sampler, directions=directions_of(objectives), storage=storage,
                                study_name=study_name, load_if_exists=True)
    return study, run_search(space, study, batch, n, objectives)


def assert_told_designs_valid(space, study):
    """Every COMPLETE trial stored its repaired row, which is repaired, scores as recorded
    and breaks no structural rule (reasons 1-3: partition, ADC, weights fit)."""
    trials = study.get_trials(deepcopy=False, states=(COMPLETE,))
    X = np.array([t.system_attrs[REPAIRED_KEY] for t in trials])
    assert (repair(space, X) == X).all()
    res = space.evaluate(X)
    assert not np.isin(res.reason, (1, 2, 3)).any()
    for i, t in enumerate(trials):
        assert t.user_attrs["feasible"] == bool(res.feasible[i])
        assert t.user_attrs["tops_per_watt"] == pytest.approx(res.tops_per_watt[i])
        assert set(t.constraints) == {"crossbar_budget", "other"}
        assert (max(t.constraints.values()) <= 0) == bool(res.feasible[i])


# --- samplers --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,n", [("sa", 100), ("ea", 120), ("random", 100), ("tpe", 64)])
def test_each_sampler_searches_valid_designs(space, name, n):
    study, stats = search(space, name, n)
    assert stats.trials == stats.complete == n
    assert len(study.get_trials(states=(COMPLETE,))) == n
    assert_told_designs_valid(space, study)
    assert stats.trace.shape == (n,)
    assert (np.diff(stats.trace) >= 0).all()
    assert stats.best["tops_per_watt"] == pytest.approx(stats.trace[-1]) and stats.trace[-1] > 0
    assert stats.best_trial.user_attrs["feasible"]


def test_cmaes(space):
    if not HAS_CMAES:
        with pytest.raises(PimtuneError, match="pip install cmaes"):
            make_sampler("cmaes", space, 0, 1)
        return
    study, stats = search(space, "cmaes", 60)
    assert stats.complete == 60
    assert_told_designs_valid(space, study)


def test_gp_needs_torch(space):
    if HAS_TORCH:
        pytest.skip("torch installed; the GP search itself is slow and Optuna's")
    with pytest.raises(PimtuneError, match=r"pip install 'pimtune\[gp\]'") as e:
        make_sampler("gp", space, 0, 1)
    assert "\n" not in str(e.value)


def test_factory_refuses_what_samplers_cannot_do(space):
    for name in ("sa", "ea"):
        with pytest.raises(PimtuneError, match="one objective"):
            make_sampler(name, space, 0, 2)
        with pytest.raises(PimtuneError, match="maximises"):
            make_sampler(name, space, 0, 1, maximize=False)
    with pytest.raises(PimtuneError, match="unknown sampler"):
        make_sampler("bayes", space, 0, 1)
    assert make_sampler("sa", space, 0, 1)[1] == 10
    assert make_sampler("ea", space, 0, 1)[1] == 40
    assert make_sampler("random", space, 0, 1)[1] == 256
    assert make_sampler("nsga2", space, 0, 3)[1] == 50
    assert make_sampler("tpe", space, 0, 1)[1] == 16
    assert set(SAMPLERS) == {"sa", "ea", "tpe", "cmaes", "random", "nsga2", "gp"}


@pytest.mark.parametrize("name", ["sa", "ea", "random"])
def test_same_seed_same_best(space, name):
    a = search(space, name, 80, seed=7)[1]
    b = search(space, name, 80, seed=7)[1]
    assert a.best == b.best
    np.testing.assert_array_equal(a.trace, b.trace)


# --- studies: resume, killed runs, several objectives -------------------------------------------
def test_resume_sqlite_continues_to_the_same_total(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study, first = search(space, "sa", 60, seed=3, storage=url, study_name="resume")
    assert first.complete == 60
    before = [(t.number, t.params, t.values, t.user_attrs) for t in study.get_trials(states=(COMPLETE,))]
    study2, second = search(space, "sa", 120, seed=3, storage=url, study_name="resume")
    assert second.trials == 60 and second.complete == 120
    done = optuna.load_study(study_name="resume", storage=url).get_trials(states=(COMPLETE,))
    assert len(done) == 120
    assert [(t.number, t.params, t.values, t.user_attrs) for t in done[:60]] == before
    assert second.trace.shape == (120,)
    np.testing.assert_array_equal(second.trace[:60], first.trace)


def test_running_trial_of_a_killed_run_is_failed(space):
    sampler, batch = make_sampler("ea", space, 0, 1)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    run_search(space, study, batch, 40)
    zombie = study.ask(fixed_distributions=space.to_optuna())      # the "killed" run's trial
    stats = run_search(space, study, batch, 100)
    assert stats.failed_stale == 1
    assert study._storage.get_trial(zombie._trial_id).state == optuna.trial.TrialState.FAIL
    assert stats.complete == 100
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))


def test_nsga2_pareto_front_is_non_dominated(space):
    objectives = ("tops_per_watt", "throughput", "area")
    study, stats = search(space, "nsga2", 100, objectives=objectives)
    assert stats.trace is None and stats.pareto
    sign = np.array([1 if OBJECTIVES[o][1] == "maximize" else -1 for o in objectives])
    V = np.array([t.values for t in stats.pareto]) * sign            # all maximised
    for i in range(len(V)):
        dominated = (V >= V[i]).all(1) & (V > V[i]).any(1)
        assert not dominated.any()
    assert all(t.user_attrs["feasible"] for t in stats.pareto)
    assert max(t.values[2] for t in stats.pareto) < INFEASIBLE_MINIMISED
    assert_told_designs_valid(space, study)


def test_best_so_far_is_a_running_max_of_feasible_values(space):
    study, stats = search(space, "random", 50, seed=1)
    trials = study.get_trials(states=(COMPLETE,))
    v = [t.user_attrs["tops_per_watt"] if t.user_attrs["feasible"] else 0.0 for t in trials]
    np.testing.assert_allclose(best_so_far(trials), np.maximum.accumulate(v))


# --- comparison --------------------------------------------------------------------------------
def test_compare_writes_summary_traces_and_plot(space, tmp_path):
    out = tmp_path / "cmp"
    seen = []
    result = run_compare(space, ["sa", "random"], 80, 2, out, jobs=2, progress=lambda d, n, r: seen.append((d, n)))
    assert seen[-1] == (4, 4)
    traces = np.load(out / "traces.npz")
    assert traces["sa"].shape == traces["random"].shape == (2, 80)
    png = (out / "convergence.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    rows = {r["sampler"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    md = (out / "summary.md").read_text()
    overall = max(traces[s][:, -1].max() for s in ("sa", "random"))
    for s in ("sa", "random"):
        final = traces[s][:, -1]
        assert float(rows[s]["best_tops_per_watt"]) == final.max() == result["samplers"][s]["best"]
        assert float(rows[s]["median_tops_per_watt"]) == pytest.approx(np.median(final), rel=1e-12)
        assert f"| {s} | {final.max():.4f} | {np.median(final):.4f} |" in md
        reach = [np.flatnonzero(t >= 0.95 * overall) for t in traces[s]]
        if all(len(h) for h in reach):
            assert float(rows[s]["trials_to_95pct"]) == np.median([h[0] + 1 for h in reach])
    assert result["overall_best"] == overall


# --- commands ----------------------------------------------------------------------------------
def test_cli_search_json_and_resume(tmp_path, capsys):
    url = str(tmp_path / "s.log")            # an Optuna journal file (SQLite: see the resume test)
    args = ["search", "alexnet-cifar", "--power", "20", "--sampler", "ea", "--seed", "1",
            "--storage", url, "--study-name", "s", "--json"]
    assert main(args + ["--trials", "40"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["trials"] == 40 and first["trials_run"] == 40 and first["seconds"] > 0
    assert first["trials_per_second"] > 0
    assert main(args + ["--trials", "80"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials"] == 80 and out["trials_run"] == 40
    best = out["best"]
    assert best["metrics"]["feasible"] and best["design"]["network"] == "alexnet-cifar"
    assert best["metrics"]["tops_per_watt"] == pytest.approx(best["values"]["tops_per_watt"])
    assert best["values"]["tops_per_watt"] >= first["best"]["values"]["tops_per_watt"]

    # the same name for another network, budget or sampler: refused in one line, exit 2
    for other in (["alexnet-cifar", "--power", "30", "--sampler", "ea"],
                  ["resnet18-cifar", "--power", "20", "--sampler", "ea"],
                  ["alexnet-cifar", "--power", "20", "--sampler", "sa"]):
        assert main(["search", *other, "--trials", "80", "--storage", url, "--study-name", "s"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pimtune: error: study 's'") and "\n" not in err


def test_cli_search_table_and_pareto(capsys):
    assert main(["search", "alexnet-cifar", "--power", "20", "--sampler", "random", "--trials", "60",
                 "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "best design" in out and "TOPS/W" in out and "60 trials" in out
    assert main(["search", "alexnet-cifar", "--power", "20", "--sampler", "nsga2", "--trials", "60",
                 "--objectives", "tops_per_watt,area", "--no-sharing", "--macros", "identical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objectives"] == ["tops_per_watt", "area"] and out["pareto"]
    assert out["best"]["values"]["tops_per_watt"] == max(p["values"]["tops_per_watt"] for p in out["pareto"])


@pytest.mark.parametrize("extra,message", [
    (["--storage", "sqlite:////proc/no/such/dir/x.db"], "cannot open"),
    (["--storage", "not-a-url.db"], "sqlite:///"),
    (["--storage", "bogus://x"], "cannot open"),
    (["--sampler", "sa", "--objectives", "tops_per_watt,area"], "one objective"),
    (["--objectives", "speed"], "unknown objective"),
])
def test_cli_search_bad_input_is_one_line(capsys, extra, message):
    args = ["search", "alexnet-cifar", "--power", "20", "--sampler", "random", "--trials", "10", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimtune: error:") and message in err and "\n" not in err


def test_cli_compare(tmp_path, capsys):
    out_dir = tmp_path / "c"
    assert main(["compare", "alexnet-cifar", "--power", "20", "--samplers", "ea,random", "--trials", "50",
                 "--seeds", "2", "--jobs", "1", "--out", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert "ea" in text and "random" in text and "trials to 95%" in text
    for f in ("summary.csv", "summary.md", "traces.npz", "convergence.png"):
        assert (out_dir / f).stat().st_size > 0
    assert main(["compare", "alexnet-cifar", "--power", "20", "--samplers", "sa,annealing", "--trials", "5",
                 "--out", str(out_dir)]) == 2
    assert "unknown sampler 'annealing'" in capsys.readouterr().err
