"""PIMSYN's EA: operators on encoded matrices (search.operators.evolution) and the Optuna sampler."""

from __future__ import annotations

import threading

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from search.samplers.ea_sampler import EvolutionarySampler
from search.operators.evolution import (_pick, crossover, evolve, from_genes, macro_limits, mutate, partition_columns,
                              select_parents, share_matrix, to_genes)
from search.points import REPAIRED_KEY, store_point, trial_point
from space import DesignSpace, repair

optuna.logging.set_verbosity(optuna.logging.WARNING)

SEEDS = st.integers(0, 2**32 - 1)
OPS = settings(max_examples=15, deadline=None)


@pytest.fixture(scope="module")
def space():
    return DesignSpace.for_network(load_network(build_model("resnet18-cifar")), "reram", 20.0)


# --- helpers -----------------------------------------------------------------------------
def random_rows(space, n, seed):
    """(n, D) repaired uniform points."""
    return repair(space, space.random(n, np.random.default_rng(seed)))


def partitions(space, n, seed):
    """(n, D) rows sharing one feasible design's globals and duplication, with random
    macro levels and sharing (what the synthesis engine's EA instance evolves)."""
    rng = np.random.default_rng(seed)
    X = random_rows(space, 64, seed)
    base = X[np.flatnonzero(space.evaluate(X).feasible)[0]]
    R = np.tile(base, (n, 1))
    cols = partition_columns(space)
    R[:, cols] = space.random(n, rng)[:, cols]
    return repair(space, R)


def fits_budget(space, X):
    """(N,) the duplication fits the crossbar budget."""
    return (space.dup_values(X) * space.crossbar_sets(X)).sum(1) <= space.crossbar_budget(X)


def assert_sharing_rules(space, X):
    """Partner earlier, partner shares nobody, each set shared by at most two layers, the
    pair's count max(m_i, m_j) within both layers' limits dup * blocks, and no macro over
    the technology's capacity."""
    share = share_matrix(space, X)
    m, limit = space.macro_values(X), macro_limits(space, X)
    slices = -(-space.tech.precision.weight_bits // space.globals_of(X)["cell_bits"])
    cap = space.tech.macro.max_crossbars
    busiest = -(-limit // m) * slices[:, None]
    assert (busiest <= cap).all(), "a macro above the capacity"
    for r in range(len(X)):
        partners = [(j, int(p)) for j, p in enumerate(share[r]) if p >= 0]
        used = [p for _, p in partners]
        assert len(used) == len(set(used)), "a set shared by more than two layers"
        for j, p in partners:
            assert p < j
            assert share[r, p] < 0, "partner shares another layer itself"
            assert j not in used, "a sharing layer is itself shared"
            pair = max(m[r, j], m[r, p])
            assert pair <= limit[r, j] and pair <= limit[r, p]
            assert (-(-limit[r, j] // pair) - (-limit[r, p] // pair)) * slices[r] <= cap


def valid(space, Y):
    return np.array_equal(repair(space, Y), Y)


# --- gene view ---------------------------------------------------------------------------------
@OPS
@given(seed=SEEDS)
def test_gene_encoding_round_trips(space, seed):
    X = random_rows(space, 32, seed)
    # PIMSYN's base of 1000, or a larger one where a layer may split into 1000 macros or more
    base = 1000 if space.macro_values(X).max() < 1000 else 10 ** 6
    G = to_genes(space, X, base)
    L = len(space.macro_cols)
    assert G.shape == (len(X), L)
    np.testing.assert_array_equal(G % base, space.macro_values(X))
    share = share_matrix(space, X)
    np.testing.assert_array_equal(G // base, np.where(share >= 0, share, np.arange(L)))
    np.testing.assert_array_equal(from_genes(space, X, G, base), X)
    # from a template without partitioning: same counts and sharing back
    T = X.copy()
    T[:, space.macro_cols] = 0
    T[:, space.share_cols[space.share_cols >= 0]] = -1
    np.testing.assert_array_equal(to_genes(space, from_genes(space, T, G, base), base), G)


# --- mutation ------------------------------------------------------------------------------------
@OPS
@given(seed=SEEDS)
def test_mutate_outputs_valid_designs_within_budget(space, seed):
    rng = np.random.default_rng(seed)
    X = random_rows(space, 64, seed)
    for kw in ({}, {"p_other": 0.5}, {"columns": partition_columns(space)}):
        Y = mutate(space, X, rng, **kw)
        assert Y.shape == X.shape
        assert valid(space, Y)
        assert fits_budget(space, Y)[fits_budget(space, X)].all()
        assert_sharing_rules(space, Y)


@OPS
@given(seed=SEEDS)
def test_mutate_changes_most_rows(space, seed):
    rng = np.random.default_rng(seed)
    X = random_rows(space, 64, seed)
    feasible = space.evaluate(X).feasible
    changed = (mutate(space, X, rng) != X).any(1)
    # rows infeasible by peripheral power have every macro level pinned at 0 by repair; a
    # feasible row whose macros' power is at its limit with layers at their capacity
    # floors can only grow a count, which repair takes back (3 of 47 rows of seed 0)
    assert changed.mean() >= 0.6
    assert changed[feasible].mean() >= 0.9
    P = partitions(space, 40, seed)
    moved = (mutate(space, P, rng, columns=partition_columns(space)) != P).any(1)
    # a design whose every layer sits at its capacity floor with no macro power to spare
    # can only change its sharing: no requirement on such a design
    pinned = (space.macro_values(P) == space.floor_counts(P, space.macro_limits(P))).all(1)
    left, per_xbar, per_macro = space.fixed_power(P)
    used = (space.dup_values(P) * space.crossbar_sets(P)).sum(1) * per_xbar
    pinned &= used + (space.macro_values(P).sum(1) + 1) * per_macro > left
    if (~pinned).any():
        assert moved[~pinned].mean() >= 0.95


@OPS
@given(seed=SEEDS)
def test_mutate_respects_columns(space, seed):
    rng = np.random.default_rng(seed)
    X = random_rows(space, 64, seed)
    share_cols = space.share_cols[space.share_cols >= 0]
    for cols, kw in ((partition_columns(space), {"p_other": 1.0}),
                     (space.macro_cols, {"p_share": 0.0}),
                     (share_cols, {"p_macro": 0.0, "p_share": 1.0})):
        Y = mutate(space, X, rng, columns=cols, **kw)
        frozen = np.setdiff1d(np.arange(space.dims), cols)
        np.testing.assert_array_equal(Y[:, frozen], X[:, frozen])
        assert (Y != X).any()
    # globals by name: the operator changes only them; repair then fits what depends on
    # them (duplication, macro levels, sharing) to the new budget
    g = [space.index["rram_ratio"], space.index["dac_bits"]]
    Y = mutate(space, X, rng, columns=["rram_ratio", "dac_bits"], p_macro=0.0, p_share=0.0, p_other=1.0)
    changed = (Y != X).any(1)
    assert changed.mean() >= 0.6           # repair may undo a move (an ADC-less DAC, a ratio too low)
    np.testing.assert_array_equal(changed, (Y[:, g] != X[:, g]).any(1))
    others = [space.index[k] for k in ("cell_bits", "xbar_size")]
    np.testing.assert_array_equal(Y[:, others], X[:, others])


@OPS
@given(seed=SEEDS)
def test_mutated_sharing_obeys_the_rules(space, seed):
    """A sharing toggle changes exactly one partner per row, legally (repair drops nothing)."""
    rng = np.random.default_rng(seed)
    X = random_rows(space, 64, seed)
    Y = mutate(space, X, rng, p_macro=0.0, p_share=1.0, columns=space.share_cols[space.share_cols >= 0])
    S, T = share_matrix(space, X), share_matrix(space, Y)
    diff = S != T
    assert (diff.sum(1) == 1).mean() >= 0.95 and (diff.sum(1) <= 1).all()
    m, limit = space.macro_values(X), macro_limits(space, X)
    for r, j in zip(*np.nonzero(diff)):
        p = T[r, j]
        if p < 0:
            assert S[r, j] >= 0                                   # stopped sharing
            continue
        assert S[r, j] < 0 and p < j                              # started, with an earlier layer
        assert S[r, p] < 0 and p not in S[r] and j not in S[r]    # both unshared and unsharing
        assert max(m[r, j], m[r, p]) <= min(limit[r, j], limit[r, p])
    assert_sharing_rules(space, Y)


# --- crossover ----------------------------------------------------------------------------------------
@OPS
@given(seed=SEEDS)
def test_crossover_valid_and_keeps_first_parents_budget(space, seed):
    rng = np.random.default_rng(seed)
    A, B = random_rows(space, 48, seed), random_rows(space, 48, seed + 1)
    Z = crossover(space, A, B, rng)
    assert valid(space, Z)
    assert_sharing_rules(space, Z)
    globals_and_dup = [space.index[g] for g in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits")]
    globals_and_dup += list(space.dup_cols[space.conv])
    np.testing.assert_array_equal(Z[:, globals_and_dup], A[:, globals_and_dup])
    assert fits_budget(space, Z)[fits_budget(space, A)].all()
    # within one duplication candidate each layer's count comes from one of the parents
    P, Q = partitions(space, 48, seed), partitions(space, 48, seed)[::-1]
    C = crossover(space, P, Q, rng)
    m = space.macro_cols
    from_parent = (C[:, m] == P[:, m]) | (C[:, m] == Q[:, m])
    assert from_parent.all(1).mean() >= 0.75
    # the other rows went over the macros' power and repair lowered all their levels
    assert (C[:, m] <= np.maximum(P[:, m], Q[:, m])).all()
    # (parents of a design whose every layer sits at its capacity floor are alike in them)
    if (P[:, m] != Q[:, m]).any():
        assert (C[:, m] != P[:, m]).any() and (C[:, m] != Q[:, m]).any()


# --- selection -------------------------------------------------------------------------------------------
def test_select_parents_elite_first_then_random_others():
    rng = np.random.default_rng(0)
    f = np.array([0.3, np.nan, 0.9, -np.inf, 0.5, 0.1, 0.7, 0.2, 0.8, 0.4])
    idx = select_parents(f, 5, 0.6, rng)
    assert list(idx[:3]) == [2, 8, 6]                       # the elite, best first
    assert len(set(idx.tolist())) == 5
    assert not {1, 3} & set(idx[3:].tolist())              # NaN / -inf only when nothing else is left
    full = select_parents(f, 20, 1.0, rng)
    assert list(full) == [2, 8, 6, 4, 9, 0, 7, 5, 1, 3]     # k = min(n_parents, n); NaN, -inf last
    # infeasible after feasible, by violation
    v = np.array([0, 0, 2.0, 0, 0, 0, 0.5, 0, 0, 0])
    assert list(select_parents(f, 10, 1.0, rng, v)[:3]) == [8, 4, 9]
    assert list(select_parents(f, 10, 1.0, rng, v)[6:]) == [6, 2, 1, 3]
    # random others differ between draws, the elite does not
    draws = {tuple(select_parents(f, 5, 0.4, np.random.default_rng(s))) for s in range(20)}
    assert len(draws) > 1 and all(d[:2] == (2, 8) for d in draws)
    # one row per EA instance
    F = np.stack([f, f[::-1]])
    I = select_parents(F, 4, 0.5, rng)
    assert I.shape == (2, 4) and list(I[0, :2]) == [2, 8] and list(I[1, :2]) == [7, 1]


# --- the loop ------------------------------------------------------------------------------------------
def tops_per_watt(space):
    def objective(X):
        r = space.evaluate(X)
        return np.where(r.feasible, r.tops_per_watt, -np.inf)
    return objective


def test_evolve_improves_tops_per_watt(space):
    X0 = partitions(space, 40, 7)
    cols = partition_columns(space)
    X_best, f_best, hist = evolve(space, tops_per_watt(space), X0, 30, np.random.default_rng(1), columns=cols)
    frozen = np.setdiff1d(np.arange(space.dims), cols)
    np.testing.assert_array_equal(X_best[frozen], X0[0, frozen])
    assert hist["best"].shape == (31,) and hist["evaluations"][-1] == 40 * 31
    assert np.all(np.diff(hist["best_so_far"]) >= 0)
    assert f_best == hist["best_so_far"][-1] == tops_per_watt(space)(X_best[None])[0]
    assert f_best > 1.03 * hist["best"][0], hist["best"]


def test_evolve_runs_instances_as_one_matrix(space):
    calls = []
    objective = tops_per_watt(space)

    def counted(X):
        calls.append(len(X))
        return objective(X)

    X0 = np.stack([partitions(space, 10, s) for s in (1, 2, 3)])
    X_best, f_best, hist = evolve(space, counted, X0, 5, np.random.default_rng(0), columns=partition_columns(space))
    assert calls == [30] * 6
    assert X_best.shape == (3, space.dims) and f_best.shape == (3,) and hist["best"].shape == (6, 3)
    for e in range(3):   # each instance keeps its own duplication and globals
        frozen = np.setdiff1d(np.arange(space.dims), partition_columns(space))
        np.testing.assert_array_equal(X_best[e, frozen], X0[e, 0, frozen])
        assert f_best[e] >= hist["best"][0, e]


# --- the sampler -------------------------------------------------------------------------------------------
def run_generations(study, space, population, generations):
    """Ask ``population`` trials, repair + evaluate them at once, store points, tell."""
    dists = space.to_optuna()
    for _ in range(generations):
        trials = [study.ask(fixed_distributions=dists) for _ in range(population)]
        X = repair(space, space.encode([t.params for t in trials]))
        r = space.evaluate(X)
        for t, row, value, c in zip(trials, X, r.tops_per_watt, space.constraints(r)):
            store_point(study, t, row)
            for k, v in enumerate(c):
                t.set_constraint(f"c{k}", float(v))
            study.tell(t, float(value))
    return study


def gen_of(trial):
    return trial.system_attrs[EvolutionarySampler._get_generation_key()]


def params_of(study):
    return [t.params for t in study.trials]


def test_sampler_same_seed_same_trials(space):
    runs = [run_generations(optuna.create_study(direction="maximize",
                                                sampler=EvolutionarySampler(space, population_size=8, seed=3)),
                            space, 8, 3) for _ in range(2)]
    assert params_of(runs[0]) == params_of(runs[1])
    other = run_generations(optuna.create_study(direction="maximize",
                                                sampler=EvolutionarySampler(space, population_size=8, seed=4)),
                            space, 8, 1)
    assert params_of(other)[:8] != params_of(runs[0])[:8]
    study = runs[0]
    assert [gen_of(t) for t in study.trials] == [0] * 8 + [1] * 8 + [2] * 8
    # each trial evaluated its child: the cached rows, all valid
    attrs = study._storage.get_study_system_attrs(study._study_id)
    for g in range(3):
        children = np.asarray(attrs[f"EvolutionarySampler:children:{g}"])
        assert children.shape == (8, space.dims) and valid(space, children)
        X = space.encode(params_of(study)[8 * g : 8 * g + 8])
        np.testing.assert_array_equal(X, children)
        np.testing.assert_array_equal(np.stack([trial_point(space, t) for t in study.trials[8 * g : 8 * g + 8]]), children)
    # children differ from their generation's parents (mutation), parents are cached trial ids
    parents = attrs["EvolutionarySampler:parent:1"]
    assert len(parents) == 8 and set(parents) <= {t._trial_id for t in study.trials[:8]}
    gen1 = {tuple(r) for r in attrs["EvolutionarySampler:children:1"]}
    assert len(gen1 - {tuple(r) for r in attrs["EvolutionarySampler:children:0"]}) >= 6


def storages(tmp_path):
    return {
        "inmemory": None,
        "sqlite": f"sqlite:///{tmp_path / 'ea.db'}",
        "journal": optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "ea.log"))),
    }


@pytest.mark.parametrize("kind", ["inmemory", "sqlite", "journal"])
def test_sampler_storages_agree(space, tmp_path, kind):
    ref = run_generations(optuna.create_study(direction="maximize",
                                              sampler=EvolutionarySampler(space, population_size=4, seed=11)),
                          space, 4, 3)
    study = optuna.create_study(storage=storages(tmp_path)[kind], direction="maximize",
                                sampler=EvolutionarySampler(space, population_size=4, seed=11))
    run_generations(study, space, 4, 3)
    assert params_of(study) == params_of(ref)
    assert [gen_of(t) for t in study.trials] == [0] * 4 + [1] * 4 + [2] * 4


def test_sampler_resumes_with_a_new_sampler_object(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    ref = run_generations(optuna.create_study(direction="maximize",
                                              sampler=EvolutionarySampler(space, population_size=3, seed=2)),
                          space, 3, 4)
    study = optuna.create_study(storage=url, study_name="s", direction="maximize",
                                sampler=EvolutionarySampler(space, population_size=3, seed=2))
    run_generations(study, space, 3, 2)
    del study
    resumed = optuna.load_study(study_name="s", storage=url,
                                sampler=EvolutionarySampler(space, population_size=3, seed=2))
    run_generations(resumed, space, 3, 2)
    assert [gen_of(t) for t in resumed.trials] == sum(([g] * 3 for g in range(4)), [])
    assert params_of(resumed) == params_of(ref)


def test_sampler_without_seed_stores_one_in_the_study(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'noseed.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize",
                                sampler=EvolutionarySampler(space, population_size=4))
    run_generations(study, space, 4, 1)
    seed = study._storage.get_study_system_attrs(study._study_id)["EvolutionarySampler:seed"]
    other = optuna.load_study(study_name="s", storage=url, sampler=EvolutionarySampler(space, population_size=4))
    run_generations(other, space, 4, 1)
    assert other._storage.get_study_system_attrs(other._study_id)["EvolutionarySampler:seed"] == seed
    assert [gen_of(t) for t in other.trials] == [0] * 4 + [1] * 4


def test_sampler_two_workers_on_one_sqlite_study(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    optuna.create_study(storage=url, study_name="w", direction="maximize")
    pop = 4
    # interleaved: the two workers split each generation's children between them
    workers = [optuna.load_study(study_name="w", storage=url, sampler=EvolutionarySampler(space, population_size=pop, seed=5))
               for _ in range(2)]
    dists = space.to_optuna()
    for _ in range(3):
        trials = [workers[i % 2].ask(fixed_distributions=dists) for i in range(pop)]
        X = repair(space, space.encode([t.params for t in trials]))
        r = space.evaluate(X)
        for i, (t, row) in enumerate(zip(trials, X)):
            store_point(workers[i % 2], t, row)
            workers[i % 2].tell(t, float(r.tops_per_watt[i]))
    study = optuna.load_study(study_name="w", storage=url)
    assert [gen_of(t) for t in study.trials] == [0] * pop + [1] * pop + [2] * pop
    attrs = study._storage.get_study_system_attrs(study._study_id)
    for g in range(3):
        np.testing.assert_array_equal(space.encode(params_of(study)[pop * g : pop * (g + 1)]),
                                      np.asarray(attrs[f"EvolutionarySampler:children:{g}"]))

    # concurrent: two threads, each its own storage connection and sampler object
    optuna.create_study(storage=url, study_name="t", direction="maximize")
    errors = []

    def worker():
        try:
            s = optuna.load_study(study_name="t", storage=url,
                                  sampler=EvolutionarySampler(space, population_size=3, seed=9))
            for _ in range(5):
                t = s.ask(fixed_distributions=dists)
                X = repair(space, space.encode(t.params))
                store_point(s, t, X[0])
                s.tell(t, float(space.evaluate(X).tops_per_watt[0]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    study = optuna.load_study(study_name="t", storage=url)
    gens = [gen_of(t) for t in study.trials]
    assert len(gens) == 10 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert max(gens) >= 2


def test_sampler_ranks_infeasible_trials_last(space):
    study = optuna.create_study(direction="maximize",
                                sampler=EvolutionarySampler(space, population_size=4, elite_fraction=1.0, seed=0))
    dists = space.to_optuna()
    values = [[1.0, 2.0, 3.0, 4.0], [100.0, 90.0, 5.0, 0.5]]
    infeasible = set()
    for g, vals in enumerate(values):
        for i, v in enumerate(vals):
            t = study.ask(fixed_distributions=dists)
            bad = g == 1 and i < 2
            t.set_constraint("budget", 1.0 if bad else -0.5)
            if bad:
                infeasible.add(t._trial_id)
            study.tell(t, v)
    sampler = study.sampler
    parents = sampler.get_parent_population(study, 2)
    assert sorted(t.value for t in parents) == [2.0, 3.0, 4.0, 5.0]   # from gen 0 (its parents) + gen 1
    assert not infeasible & {t._trial_id for t in parents}


def test_sampler_other_parameters_and_directions(space):
    study = optuna.create_study(direction="maximize", sampler=EvolutionarySampler(space, population_size=4, seed=0))
    dists = {**space.to_optuna(), "extra": optuna.distributions.FloatDistribution(0.0, 1.0)}
    for _ in range(8):
        t = study.ask(fixed_distributions=dists)
        assert 0.0 <= t.params["extra"] <= 1.0
        study.tell(t, 1.0)   # no stored point: the sampler encodes the parameters itself
    assert [gen_of(t) for t in study.trials] == [0] * 4 + [1] * 4
    assert REPAIRED_KEY not in study.trials[0].system_attrs
    study.sampler.reseed_rng()
    for kwargs in ({"direction": "minimize"}, {"directions": ["maximize", "minimize"]}):
        bad = optuna.create_study(sampler=EvolutionarySampler(space, population_size=4, seed=0), **kwargs)
        with pytest.raises(ValueError, match="single-objective study that maximises"):
            bad.ask(fixed_distributions=space.to_optuna())
    with pytest.raises(ValueError):
        EvolutionarySampler(space, population_size=1)


def test_sampler_define_by_run_optimize(space):
    def objective(trial):
        X = repair(space, space.encode(space.suggest(trial)))
        store_point(trial.study, trial, X[0])
        return float(space.evaluate(X).tops_per_watt[0])

    study = optuna.create_study(direction="maximize", sampler=EvolutionarySampler(space, population_size=6, seed=1))
    study.optimize(objective, n_trials=18)
    assert [gen_of(t) for t in study.trials] == [0] * 6 + [1] * 6 + [2] * 6
    assert study.best_value > 0


def test_sampler_under_ray_tune(space, tmp_path):
    ray = pytest.importorskip("ray")
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        def trainable(config):
            X = repair(space, space.encode(config))
            r = space.evaluate(X)
            tune.report({"tops_per_watt": float(r.tops_per_watt[0])})

        search = OptunaSearch(space=space.to_optuna(), sampler=EvolutionarySampler(space, population_size=4, seed=0),
                              metric="tops_per_watt", mode="max")
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=search, num_samples=8),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        results = tuner.fit()
    finally:
        ray.shutdown()
    assert len(results) == 8 and not results.errors
    best = results.get_best_result(metric="tops_per_watt", mode="max")
    assert best.metrics["tops_per_watt"] > 0
    trials = search._ot_study.trials
    assert len(trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    gens = [gen_of(t) for t in trials]
    assert gens == sorted(gens) and gens[:4] == [0] * 4   # Tune may ask ahead: extra children
    study = search._ot_study
    children = study._storage.get_study_system_attrs(study._study_id)["EvolutionarySampler:children:0"]
    np.testing.assert_array_equal(space.encode([t.params for t in trials[:4]]), np.asarray(children))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(st.booleans(), min_size=1, max_size=12), min_size=1, max_size=8).filter(
    lambda r: len({len(x) for x in r}) == 1), seed=SEEDS)
def test_pick_takes_a_true_entry_uniformly_and_minus_one_where_none(rows, seed):
    mask = np.array(rows, dtype=bool)
    draws = 4000
    got = _pick(np.repeat(mask, draws, 0), np.random.default_rng(seed)).reshape(len(mask), draws)
    for r, row in enumerate(mask):
        if not row.any():
            assert (got[r] == -1).all()
            continue
        assert row[got[r]].all()
        counts = np.bincount(got[r], minlength=len(row))[row]
        expect = draws / row.sum()
        assert (np.abs(counts - expect) <= 6 * np.sqrt(expect)).all(), counts     # uniform within 6 sigma
