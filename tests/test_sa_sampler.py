"""Simulated annealing: the matrix operators (search/operators/annealing.py) and the Optuna sampler
(search/samplers/sa_sampler.py) on its storages, several workers, resumption and Ray Tune."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.operators.annealing import accept, anneal, pimsyn_energy, propose, temperature
from search.points import REPAIRED_KEY, store_point
from search.samplers.sa_sampler import CHAIN_KEY, STATE_KEY, SimulatedAnnealingSampler
from space import DesignSpace, repair

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def space(alexnet):
    return DesignSpace.for_network(alexnet, "reram", 20.0)


def start_rows(space, n, seed=0):
    return repair(space, space.random(n, np.random.default_rng(seed)))


def tops_per_watt(space):
    def objective(X):
        r = space.evaluate(X)
        return np.where(r.feasible, r.tops_per_watt, -np.inf)
    return objective


def check_valid(space, Y):
    sets, dup = space.crossbar_sets(Y), space.dup_values(Y)
    used = (sets * dup).sum(1)
    assert (used <= space.crossbar_budget(Y)).all()
    assert (repair(space, Y) == Y).all()
    assert (Y >= space.low).all() and (Y <= space.high).all()


# --- operators --------------------------------------------------------------------------
def test_propose_valid_uses_budget_and_moves(space):
    X = start_rows(space, 300)
    rng = np.random.default_rng(1)
    for _ in range(4):
        Y = propose(space, X, rng)
        assert Y.shape == X.shape and Y.dtype == np.int64
        check_valid(space, Y)
        assert (Y != X).any(1).mean() > 0.8
        # the budget stays used: no layer that may still take copies fits in what is left
        sets, dup = space.crossbar_sets(Y)[:, space.conv], space.dup_values(Y)[:, space.conv]
        free = space.crossbar_limit(Y) - (space.crossbar_sets(Y) * space.dup_values(Y)).sum(1)
        fits = (dup < space.dup_max[space.conv]) & (sets <= free[:, None])
        assert not fits.any()
        X = Y


def test_propose_duplication_move_keeps_globals(space):
    X = propose(space, start_rows(space, 200, seed=3), np.random.default_rng(0))
    Y = propose(space, X, np.random.default_rng(2), move_globals=0.0)
    g = [space.index[k] for k in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits")]
    dup_moved = (Y[:, space.dup_cols[space.conv]] != X[:, space.dup_cols[space.conv]]).any(1)
    assert dup_moved.mean() > 0.8
    # only rows without any duplication move (every copy at its limit) step elsewhere
    glob_moved = (Y[:, g] != X[:, g]).any(1)
    assert glob_moved.mean() < 0.1
    stuck = propose(space, X[glob_moved], np.random.default_rng(0), columns=[c for c in space.names if c.startswith("dup_")])
    assert (stuck == X[glob_moved]).all()


@pytest.mark.parametrize("which", ["dup", "macros", "globals"])
def test_propose_respects_columns(space, which):
    names = [n for n in space.names if n.startswith({"dup": "dup_", "macros": "macros_"}.get(which, "~"))]
    if which == "globals":
        names = ["rram_ratio", "cell_bits", "xbar_size", "dac_bits"]
    movable = np.isin(space.names, names)
    X = propose(space, start_rows(space, 200, seed=4), np.random.default_rng(0))
    Y = propose(space, X, np.random.default_rng(5), columns=names, move_globals=0.5)
    check_valid(space, Y)
    # only the movable columns moved; anything else is what repair makes of that move
    Z = X.copy()
    Z[:, movable] = Y[:, movable]
    assert (repair(space, Z) == Y).all()
    assert (Y[:, movable] != X[:, movable]).any(1).mean() > 0.5
    if which == "dup":
        g = [space.index[k] for k in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits")]
        assert (Y[:, g] == X[:, g]).all()
    # a bool mask means the same
    Y2 = propose(space, X, np.random.default_rng(5), columns=movable, move_globals=0.5)
    assert (Y2 == Y).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), move=st.sampled_from([0.0, 0.1, 1.0]))
def test_propose_property(space, seed, move):
    rng = np.random.default_rng(seed)
    X = repair(space, space.random(16, rng))
    Y = propose(space, X, rng, move_globals=move)
    check_valid(space, Y)
    # deterministic in the rng state
    assert (propose(space, X, np.random.default_rng(seed + 1), move_globals=move)
            == propose(space, X, np.random.default_rng(seed + 1), move_globals=move)).all()


def test_accept_rules():
    rng = np.random.default_rng(0)
    n = 10_000
    cur = np.full(n, 1.0)
    assert accept(cur, cur + 0.1, 0.01, rng).all()                  # improvements
    assert accept(cur, cur, 0.0, rng).all()                         # ties
    assert not accept(cur, np.full(n, np.nan), 10.0, rng).any()     # infeasible from feasible
    assert not accept(cur, np.full(n, -np.inf), 10.0, rng).any()
    assert accept(np.full(n, -np.inf), np.full(n, np.nan), 0.1, rng).all()   # from infeasible
    assert accept(np.full(n, np.nan), np.full(n, 0.5), 0.1, rng).all()
    assert not accept(cur, cur - 0.1, 0.0, rng).any()               # zero temperature
    hot = accept(cur, cur - 0.05, 0.1, np.random.default_rng(1)).mean()
    cold = accept(cur, cur - 0.05, 0.02, np.random.default_rng(1)).mean()
    assert hot == pytest.approx(math.exp(-0.5), abs=0.02)           # relative scale
    assert cold == pytest.approx(math.exp(-2.5), abs=0.02)
    assert cold < hot


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.floats(1e-4, 10.0))
def test_accept_property(seed, t):
    rng = np.random.default_rng(seed)
    f_cur = rng.normal(1.0, 0.5, 64)
    f_new = rng.normal(1.0, 0.5, 64)
    f_new[::7] = np.nan
    acc = accept(f_cur, f_new, t, np.random.default_rng(seed))
    assert acc[f_new >= f_cur].all()
    assert not acc[np.isnan(f_new)].any()
    # a lower temperature never accepts what a higher one rejects (same uniforms)
    colder = accept(f_cur, f_new, t / 4, np.random.default_rng(seed))
    assert not (colder & ~acc).any()


def test_temperature_schedule():
    assert temperature(0, 0.05, 0.95, 100) == 0.05
    assert temperature(99, 0.05, 0.95, 100) == 0.05
    assert temperature(250, 0.05, 0.95, 100) == pytest.approx(0.05 * 0.95 ** 2)
    assert np.allclose(temperature(np.array([0, 100]), 1.0, 0.5, 100), [1.0, 0.5])


def test_pimsyn_energy(space):
    X = start_rows(space, 50)
    e = pimsyn_energy(space, X)
    assert e.shape == (50,) and np.isfinite(e).all() and (e >= 0).all()
    # by hand for one row
    wl = space.workload
    li = wl.layer_of_w[space.conv]
    dup = space.dup_values(X[:1])[0, space.conv].astype(float)
    steps = wl.out_pixels[li] / dup
    access = dup * (wl.load_values[li] + wl.cout[li])
    assert pimsyn_energy(space, X[:1], alpha=0.5)[0] == pytest.approx(
        np.std(steps, ddof=1) + 0.5 * np.std(access, ddof=1), rel=1e-9)
    # annealing on the energy (as the SA filter does) never ends above the start
    annealed, _, _ = anneal(space, lambda Y: -pimsyn_energy(space, Y), X[:4], 60, np.random.default_rng(0),
                            move_globals=0.0)
    assert (pimsyn_energy(space, annealed) <= pimsyn_energy(space, X[:4]) + 1e-9).all()


def test_anneal_improves_tops_per_watt(space):
    objective = tops_per_watt(space)
    X0 = start_rows(space, 6, seed=11)
    f0 = objective(X0)
    X_best, f_best, hist = anneal(space, objective, X0, 100, np.random.default_rng(0))
    assert X_best.shape == X0.shape and f_best.shape == (6,)
    assert np.allclose(objective(X_best), f_best)
    assert f_best.max() >= f0.max()
    assert (f_best >= f0).all()
    random = objective(start_rows(space, 1000, seed=12))
    assert f_best.max() > np.median(random)
    assert f_best.max() > np.quantile(random, 0.9)
    assert hist["f_best"].shape == (101, 6) and hist["accepted"].shape == (100, 6)
    fb = hist["f_best"]
    assert ((fb[1:] >= fb[:-1]) | (fb[:-1] == -np.inf)).all()
    assert np.isfinite(f_best).all()          # infeasible starts restart and find designs


def test_anneal_duplication_only(space):
    objective = tops_per_watt(space)
    X0 = start_rows(space, 4, seed=13)
    dups = [c for c in space.names if c.startswith("dup_")]
    X_best, f_best, _ = anneal(space, objective, X0, 30, np.random.default_rng(1), columns=dups)
    g = [space.index[k] for k in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits")]
    assert (X_best[:, g] == X0[:, g]).all()
    assert (f_best >= objective(X0)).all()


# --- the sampler --------------------------------------------------------------------------
def drive(study, space, batches, chains, infeasible="constraint"):
    """Ask ``chains`` trials, repair + evaluate them in one call, store rows, tell."""
    dists = space.to_optuna()
    for _ in range(batches):
        trials = [study.ask(fixed_distributions=dists) for _ in range(chains)]
        X = repair(space, space.encode([t.params for t in trials]))
        r = space.evaluate(X)
        for t, row, v, ok in zip(trials, X, r.tops_per_watt, r.feasible):
            store_point(study, t, row)
            if infeasible == "constraint":
                t.set_constraint("feasible", 0.0 if ok else 1.0)
                study.tell(t, float(v))
            else:
                study.tell(t, float(v) if ok else float("-inf"))
    return study


def states(study, chains):
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return [attrs.get(f"{STATE_KEY}{c}") for c in range(chains)]


def test_ask_with_fixed_distributions(space):
    study = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=3, seed=0))
    trial = study.ask(fixed_distributions=space.to_optuna())
    assert set(trial.params) == set(space.to_optuna())
    X = space.encode(trial.params)
    assert (repair(space, X) == X).all()
    fz = study._storage.get_trial(trial._trial_id)
    assert fz.system_attrs[CHAIN_KEY] == 0


def test_other_parameters_and_define_by_run(space):
    study = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=2, seed=0))

    def objective(trial):
        params = space.suggest(trial)
        lr = trial.suggest_float("not_in_space", 0.0, 1.0)
        assert 0.0 <= lr <= 1.0
        X = repair(space, space.encode(params))
        return float(space.evaluate(X).tops_per_watt[0])

    study.optimize(objective, n_trials=6)
    assert len(study.trials) == 6
    assert all(s is not None and s["steps"] == 3 for s in states(study, 2))


def test_same_seed_same_trials(space):
    def run(seed):
        study = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=5, seed=seed))
        drive(study, space, 6, 5)
        return [t.params for t in study.trials]

    a, b = run(7), run(7)
    assert len(a) == 30 and a == b
    assert run(8) != a


def test_chains_anneal_and_improve(space):
    chains = 4
    study = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=chains, seed=1))
    drive(study, space, 40, chains)
    st_ = states(study, chains)
    assert all(s["steps"] == 40 for s in st_)
    # the chain's current value is the value of its current design
    for s in st_:
        if s["f"] is not None:
            X = np.asarray([s["x"]])
            assert float(space.evaluate(X).tops_per_watt[0]) == pytest.approx(s["f"])
    first = [t.value for t in study.trials[:chains] if t.constraints["feasible"] <= 0]
    best = max(t.value for t in study.trials if t.constraints["feasible"] <= 0)
    assert best >= max(first, default=0.0)
    # chain states only ever hold feasible designs once one was found
    assert sum(s["f"] is not None for s in st_) >= chains - 1


def test_infeasible_values_and_pimsyn_energy(space):
    chains = 3
    study = optuna.create_study(direction="maximize",
                                sampler=SimulatedAnnealingSampler(space, chains=chains, energy="pimsyn", seed=2))
    drive(study, space, 10, chains, infeasible="-inf")
    for s in states(study, chains):
        assert s["steps"] == 10
        if s["f"] is not None:
            assert s["f"] == pytest.approx(-pimsyn_energy(space, np.asarray([s["x"]]))[0])


def test_fail_and_pruned_advance_nothing(space):
    study = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=2, seed=0))
    t0, t1 = study.ask(space.to_optuna()), study.ask(space.to_optuna())
    study.tell(t0, state=optuna.trial.TrialState.FAIL)
    study.tell(t1, state=optuna.trial.TrialState.PRUNED)
    assert states(study, 2) == [None, None]


def test_wrong_direction_is_a_clear_error(space):
    study = optuna.create_study(direction="minimize", sampler=SimulatedAnnealingSampler(space, seed=0))
    with pytest.raises(ValueError, match="maximi"):
        study.ask(space.to_optuna())
    multi = optuna.create_study(directions=["maximize", "maximize"], sampler=SimulatedAnnealingSampler(space, seed=0))
    with pytest.raises(ValueError, match="single-objective"):
        multi.ask(space.to_optuna())


def _storages(tmp_path):
    return {
        "inmemory": lambda: optuna.storages.InMemoryStorage(),
        "sqlite": lambda: f"sqlite:///{tmp_path}/sa.db",
        "journal": lambda: optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "sa.log"))),
    }


@pytest.mark.parametrize("kind", ["inmemory", "sqlite", "journal"])
def test_storages(space, tmp_path, kind):
    chains = 3
    storage = _storages(tmp_path)[kind]()
    study = optuna.create_study(direction="maximize", storage=storage, study_name="sa",
                                sampler=SimulatedAnnealingSampler(space, chains=chains, seed=3))
    drive(study, space, 4, chains)
    st_ = states(study, chains)
    assert all(s is not None and s["steps"] == 4 and len(s["x"]) == space.dims for s in st_)
    assert all(REPAIRED_KEY in t.system_attrs for t in study.trials)


def test_resume_with_new_sampler_continues_chains(space, tmp_path):
    chains = 3
    url = f"sqlite:///{tmp_path}/resume.db"
    study = optuna.create_study(direction="maximize", storage=url, study_name="sa",
                                sampler=SimulatedAnnealingSampler(space, chains=chains, seed=4))
    drive(study, space, 5, chains)
    written = states(study, chains)
    sampler = SimulatedAnnealingSampler(space, chains=chains, seed=4)
    resumed = optuna.load_study(study_name="sa", storage=url, sampler=sampler)
    assert [sampler.chain_state(resumed, c) for c in range(chains)] == written
    # the next trial of each chain is a neighbour of the stored current design ...
    expected = []
    for c in range(chains):
        rng = np.random.default_rng([4, 15 + c])
        x = np.asarray([written[c]["x"]]) if written[c]["f"] is not None else repair(space, space.random(1, rng))
        expected.append(space.decode(propose(space, x, rng, move_globals=0.5))[0])
    drive(resumed, space, 1, chains)
    trials = resumed.trials
    assert [t.params for t in trials[15:]] == expected
    assert [t.system_attrs[CHAIN_KEY] for t in trials[15:]] == list(range(chains))
    assert all(s["steps"] == 6 for s in states(resumed, chains))
    # ... and the resumed study is the uninterrupted one
    straight = optuna.create_study(direction="maximize", sampler=SimulatedAnnealingSampler(space, chains=chains, seed=4))
    drive(straight, space, 6, chains)
    assert [t.params for t in straight.trials] == [t.params for t in trials]
    assert states(straight, chains) == states(resumed, chains)


def test_two_workers_on_one_sqlite_file(space, tmp_path):
    chains = 4
    url = f"sqlite:///{tmp_path}/workers.db"
    optuna.create_study(direction="maximize", storage=url, study_name="sa")
    workers = [optuna.load_study(study_name="sa", storage=url,
                                 sampler=SimulatedAnnealingSampler(space, chains=chains, seed=10 + i))
               for i in range(2)]
    told = {0: [], 1: []}
    for _ in range(6):
        for i, w in enumerate(workers):
            drive(w, space, 1, chains // 2)
            told[i] += [t.number for t in w.trials if t.state.is_finished()][-(chains // 2):]
    trials = workers[0].trials
    assert len(trials) == 24 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len(told[0]) == len(told[1]) == 12 and not set(told[0]) & set(told[1])
    assert [t.system_attrs[CHAIN_KEY] for t in trials] == [t.number % chains for t in trials]
    assert all(s is not None and s["steps"] == 6 for s in states(workers[1], chains))


def test_ray_tune(space, tmp_path):
    ray = pytest.importorskip("ray")
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config):
        X = repair(space, space.encode(config))
        r = space.evaluate(X)
        return {"tops_per_watt": float(r.tops_per_watt[0]) if r.feasible[0] else 0.0}

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        search = OptunaSearch(space=space.to_optuna(), sampler=SimulatedAnnealingSampler(space, seed=0),
                              metric="tops_per_watt", mode="max")
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=search, num_samples=6),
                           run_config=tune.RunConfig(verbose=0, storage_path=str(tmp_path / "ray")))
        results = tuner.fit()
        assert len(results) == 6 and not results.errors
        values = [r.metrics["tops_per_watt"] for r in results]
        assert all(v >= 0 for v in values)
        study = search._ot_study
        assert len(study.trials) == 6
        assert sum(s is not None for s in states(study, 10)) == 6
    finally:
        ray.shutdown()
