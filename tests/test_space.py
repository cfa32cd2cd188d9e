"""The design space: divisors, encodings, repair, Optuna / Ray Tune exports, options.

Properties are checked against independent re-statements of the rules (BACKGROUND.md
sections 4-5, MODEL.md section 1), not against the implementation's own helpers where it
can be avoided: budgets come from the technology's crossbar rows, sharing legality from a
plain-Python greedy pass, divisibility from integer arithmetic.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from costmodel.technology import adc_bits_required, load_technology
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from space import GLOBALS, DesignSpace, SpaceError, SpaceOptions, repair
from space.repair import repair_partition
from space.divisors import divisor_at, smallest_prime_factor

optuna.logging.set_verbosity(optuna.logging.WARNING)

TECH = load_technology("reram")
OPTIONS = {
    "default": SpaceOptions(),
    "no_sharing": SpaceOptions(sharing=False),
    "fixed_xbar": SpaceOptions(fixed={"xbar_size": 128}),
    "searched": SpaceOptions(allocation="searched", sharing=False),
    "identical": SpaceOptions(macro_mode="identical", macro_levels=9),
}
# VGG16 at 49 W fits only with 4-bit cells, so repair has to move the globals.
REPAIR_CASES = [("alexnet-cifar", 20.0), ("resnet18-cifar", 20.0), ("vgg16", 49.0)]
SEEDS = st.integers(0, 2**32 - 1)


@lru_cache(maxsize=None)
def network(name: str):
    return load_network(build_model(name))


@lru_cache(maxsize=None)
def space_of(name: str, power: float, key: str = "default") -> DesignSpace:
    return DesignSpace.for_network(network(name), "reram", power, OPTIONS[key])


def space_with(name: str, power: float, **options) -> DesignSpace:
    return DesignSpace.for_network(network(name), "reram", power, SpaceOptions(**options))


def box_rows(space: DesignSpace, seed: int, n: int = 48) -> np.ndarray:
    """Random rows of the box, many entries pushed to the box's edges, a few outside it."""
    rng = np.random.default_rng(seed)
    X = space.random(n, rng)
    pick = rng.uniform(size=X.shape)
    X = np.where(pick < 0.12, space.low, np.where(pick > 0.88, space.high, X))
    X[0], X[1] = space.low, space.high
    X[2] = space.low - rng.integers(1, 5, size=space.dims)        # clipped by repair
    X[3] = space.high + rng.integers(1, 5, size=space.dims)
    return X


def column(space: DesignSpace, X: np.ndarray, name: str) -> np.ndarray:
    return X[:, space.index[name]]


# --- independent statements of the rules -----------------------------------------------------
def one_line(exc: BaseException) -> bool:
    msg = str(exc)
    return bool(msg.strip()) and "\n" not in msg.strip()


def budget_of(space: DesignSpace, ratio, xbar, cell) -> np.ndarray:
    """Crossbars the budget pays for, from the technology's crossbar rows."""
    peak = np.array([TECH.crossbar_row(int(s), int(c)).peak_power_w for s, c in zip(xbar, cell)])
    return np.floor(space.power_w * np.asarray(ratio, dtype=float) / peak + 1e-9)


def set_crossbars(space: DesignSpace, xbar, cell) -> np.ndarray:
    """(N, L) crossbars of one copy of each weighted layer."""
    wl = space.workload
    si = np.array([TECH.xbar_sizes.index(int(s)) for s in xbar])
    slices = np.array([-(-TECH.precision.weight_bits // int(c)) for c in cell])
    return wl.row_groups[si] * wl.col_groups[si] * slices[:, None]


@lru_cache(maxsize=None)
def fits_somewhere(name: str, power: float, key: str) -> bool:
    """Whether single copies of every layer fit the budget at some globals of the box."""
    space = space_of(name, power, key)
    ratio, cells, sizes = (space.columns[space.index[g]].choices for g in GLOBALS[:3])
    combos = [(r, c, s) for r in ratio for c in cells for s in sizes]
    r, c, s = (np.array(v) for v in zip(*combos))
    return bool((set_crossbars(space, s, c).sum(1) <= budget_of(space, r, s, c)).any())


def busiest_macro(blocks, macros, slices) -> int:
    """Crossbars on the busiest macro of a set holding layers of ``blocks`` on ``macros``."""
    return sum(-(-int(b) // int(macros)) * int(slices) for b in blocks)


def greedy_sharing(share_in, macros, limit, slices, capacity) -> list[int]:
    """Sharing kept in layer order where legal (BACKGROUND.md section 5, MODEL.md section 1)."""
    L = len(macros)
    out, sharer, shared = [-1] * L, [False] * L, [False] * L
    for j in range(1, L):
        p = int(share_in[j])
        if not (0 <= p < j and not sharer[p] and not shared[p]):
            continue
        pair = max(macros[j], macros[p])
        if pair <= min(limit[j], limit[p]) and busiest_macro((limit[j], limit[p]), pair, slices) <= capacity:
            out[j], sharer[j], shared[p] = p, True, True
    return out


# --- divisors --------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(x=st.integers(1, 200_000), u=st.floats(0, 1))
def test_divisor_at_divides_and_hits_the_ends(x, u):
    d = int(divisor_at(np.array([x]), np.array([u]))[0])
    assert 1 <= d <= x and x % d == 0
    assert int(divisor_at(np.array([x]), np.array([0.0]))[0]) == 1
    assert int(divisor_at(np.array([x]), np.array([1.0]))[0]) == x


@settings(max_examples=60, deadline=None)
@given(x=st.integers(1, 100_000), us=st.lists(st.floats(0, 1), min_size=2, max_size=40))
def test_divisor_at_is_monotone_in_u(x, us):
    us = np.sort(np.array(us + [0.0, 1.0]))
    d = divisor_at(np.full(len(us), x), us)
    assert (np.diff(d) >= 0).all(), (x, us, d)
    assert (x % d == 0).all()


@settings(max_examples=40, deadline=None)
@given(xs=st.lists(st.integers(1, 50_000), min_size=1, max_size=30), data=st.data())
def test_divisor_at_vectorised_matches_elementwise(xs, data):
    us = data.draw(st.lists(st.floats(0, 1), min_size=len(xs), max_size=len(xs)))
    together = divisor_at(np.array(xs), np.array(us))
    alone = [int(divisor_at(np.array([x]), np.array([u]))[0]) for x, u in zip(xs, us)]
    assert together.tolist() == alone
    # a 2-D batch (designs x layers) behaves the same
    grid = divisor_at(np.array([xs, xs]), np.array([us, us]))
    assert grid.shape == (2, len(xs)) and grid[0].tolist() == alone and grid[1].tolist() == alone


def _divisor_brute(x: int, u: float) -> int:
    """prod p^round(u * e) over x's prime factorisation, by trial division."""
    out, p = 1, 2
    while x > 1:
        e = 0
        while x % p == 0:
            x, e = x // p, e + 1
        out *= p ** round(u * e)
        p += 1
    return out


@settings(max_examples=60, deadline=None)
@given(xs=st.lists(st.integers(1, 50_000), min_size=1, max_size=30), levels=st.integers(2, 40), data=st.data())
def test_divisor_at_matches_the_formula_on_both_paths(xs, levels, data):
    # fractions on a level grid broadcast against a column of values (the table path) ...
    u = np.arange(levels) / (levels - 1)
    table = divisor_at(np.array(xs)[:, None], u)
    assert table.shape == (len(xs), levels)
    assert table.tolist() == [[_divisor_brute(x, v) for v in u] for x in xs]
    # ... and one arbitrary fraction per value (the element-wise path once values repeat little)
    us = data.draw(st.lists(st.floats(0, 1), min_size=len(xs), max_size=len(xs)))
    assert divisor_at(np.array(xs), np.array(us)).tolist() == [_divisor_brute(x, v) for x, v in zip(xs, us)]


def _spf_brute(k: int) -> int:
    return next(p for p in range(2, k + 1) if k % p == 0)


def test_smallest_prime_factor_matches_brute_force():
    spf = smallest_prime_factor(1999)
    assert len(spf) >= 2000
    assert [int(spf[k]) for k in range(2, 2000)] == [_spf_brute(k) for k in range(2, 2000)]


@settings(max_examples=100, deadline=None)
@given(k=st.integers(2, 400_000))
def test_smallest_prime_factor_after_growing_the_sieve(k):
    spf = smallest_prime_factor(k)
    assert len(spf) > k
    p = int(spf[k])
    assert k % p == 0 and all(k % q for q in range(2, min(p, math.isqrt(k) + 1)))
    if p * p > k:
        assert p == k                                     # no factor up to sqrt: k is prime


# --- encodings ---------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, key=st.sampled_from(["default", "fixed_xbar", "searched", "no_sharing"]),
       case=st.sampled_from(REPAIR_CASES))
def test_encode_decode_round_trip(seed, key, case):
    space = space_of(*case, key)
    X = space.random(20, np.random.default_rng(seed))
    assert ((X >= space.low) & (X <= space.high)).all()
    params = space.decode(X)
    assert all(list(p) == list(space.to_optuna()) for p in params)
    assert np.array_equal(space.encode(params), X)
    assert space.decode(space.encode(params)) == params
    assert space.decode(X[0]) == params[:1]
    assert np.array_equal(space.encode(params[0]), X[:1])
    # every value is a plain Python number (JSON, Optuna and Ray take them as they are)
    assert all(type(v) in (int, float) for p in params for v in p.values())


def test_encode_fills_fixed_globals():
    space = space_of("resnet18-cifar", 20.0, "fixed_xbar")
    col = space.columns[space.index["xbar_size"]]
    assert col.size == 1 and col.choices == (128,)
    params = space.decode(space.random(5, np.random.default_rng(1)))
    assert all("xbar_size" not in p for p in params)
    X = space.encode(params)
    assert (space.globals_of(X)["xbar_size"] == 128).all()
    assert np.array_equal(space.encode([dict(p, xbar_size=128) for p in params]), X)
    with pytest.raises(SpaceError) as e:
        space.encode(dict(params[0], xbar_size=256))
    assert one_line(e.value)


def _good_params(space):
    return space.decode(space.random(1, np.random.default_rng(7)))[0]


@pytest.mark.parametrize("name", ["rram_ratio", "cell_bits", "dup_00", "macros_03", "share_05"])
def test_encode_rejects_a_missing_parameter(name):
    space = space_of("resnet18-cifar", 20.0)
    params = _good_params(space)
    del params[name]
    with pytest.raises(SpaceError) as e:
        space.encode(params)
    assert one_line(e.value) and name in str(e.value)
    with pytest.raises(SpaceError):                       # one bad row among good ones
        space.encode([_good_params(space), params])


@pytest.mark.parametrize("name, value", [
    ("dup_00", 0), ("dup_00", "max+1"), ("macros_00", -1), ("macros_02", 33),
    ("share_01", -2), ("share_03", 3), ("share_05", 7),
])
def test_encode_rejects_out_of_range_values(name, value):
    space = space_of("resnet18-cifar", 20.0)
    if value == "max+1":
        value = int(space.dup_max[0]) + 1
    params = dict(_good_params(space), **{name: value})
    with pytest.raises(SpaceError) as e:
        space.encode(params)
    assert one_line(e.value) and name in str(e.value)


@pytest.mark.parametrize("name, value", [
    ("cell_bits", 3), ("xbar_size", 100), ("dac_bits", 8), ("rram_ratio", 0.105), ("rram_ratio", 0.5),
])
def test_encode_rejects_unknown_categorical(name, value):
    space = space_of("resnet18-cifar", 20.0)
    params = dict(_good_params(space), **{name: value})
    with pytest.raises(SpaceError) as e:
        space.encode(params)
    assert one_line(e.value) and name in str(e.value)


# --- repair ----------------------------------------------------------------------------------
def check_repaired(space: DesignSpace, X: np.ndarray, R: np.ndarray, fits: bool) -> None:
    n = len(X)
    # within bounds, idempotent
    assert R.shape == X.shape
    assert ((R >= space.low) & (R <= space.high)).all()
    assert np.array_equal(repair(space, R), R)
    batch = space.to_batch(R)
    g = {k: getattr(batch, k) for k in GLOBALS}
    # the crossbar budget, from the technology's crossbar rows
    sets = set_crossbars(space, g["xbar_size"], g["cell_bits"])
    used = (batch.dup * sets).sum(1)
    budget = budget_of(space, g["rram_ratio"], g["xbar_size"], g["cell_bits"])
    if fits:
        assert (used <= budget).all(), np.flatnonzero(used > budget)
    # the globals move only when single copies do not fit, and then to the nearest fit:
    # never a smaller crossbar share, the crossbar size kept when some share and cell fit it
    Xc = np.clip(X, space.low, space.high)
    gi = space.globals_of(Xc)
    # fitting includes the fixed periphery of those crossbars (DACs, registers, one macro per
    # layer) within the rest of the budget: DesignSpace.crossbar_limit
    fit_in = set_crossbars(space, gi["xbar_size"], gi["cell_bits"]).sum(1) <= np.minimum(
        budget_of(space, gi["rram_ratio"], gi["xbar_size"], gi["cell_bits"]), space.crossbar_limit(Xc))
    moved = np.zeros(n, dtype=bool)
    for k in GLOBALS[:3]:
        moved |= column(space, R, k) != column(space, Xc, k)
    assert not (moved & fit_in).any()
    assert (column(space, R, "rram_ratio") >= column(space, Xc, "rram_ratio")).all()
    base_out = sets.sum(1)
    if fits:
        ratios = space.columns[space.index["rram_ratio"]]
        for i in np.flatnonzero(moved):
            r = column(space, R, "rram_ratio")[i]
            if r > Xc[i, space.index["rram_ratio"]]:          # one step less would not fit
                lower = budget_of(space, [ratios.value(r - 1)], [g["xbar_size"][i]], [g["cell_bits"][i]])[0]
                assert base_out[i] > lower
            cells = space.columns[space.index["cell_bits"]].choices
            top = ratios.choices[-1]
            size_fits = any(set_crossbars(space, [gi["xbar_size"][i]], [c]).sum() <=
                            budget_of(space, [top], [gi["xbar_size"][i]], [c])[0] for c in cells)
            if size_fits:
                assert g["xbar_size"][i] == gi["xbar_size"][i]
    # a DAC resolution that has an ADC
    need = adc_bits_required(g["xbar_size"], g["dac_bits"], g["cell_bits"])
    assert (need <= max(r.bits for r in TECH.adc)).all()
    # duplication: fc layers keep one copy
    fc = space.workload.is_fc[space.workload.layer_of_w]
    assert (batch.dup >= 1).all() and (batch.dup[:, fc] == 1).all()
    assert (batch.dup[:, ~fc] <= space.dup_max[~fc]).all()
    # macro counts: divisors of dup * blocks (row groups x column groups), and no macro
    # above the technology's capacity
    si = np.array([TECH.xbar_sizes.index(int(s)) for s in g["xbar_size"]])
    limit = batch.dup * space.workload.row_groups[si] * space.workload.col_groups[si]
    assert (batch.macros >= 1).all() and (batch.macros <= limit).all()
    assert (limit % batch.macros == 0).all()
    slices = -(-TECH.precision.weight_bits // g["cell_bits"])
    cap = TECH.macro.max_crossbars
    fits_somehow = (cap // slices)[:, None] >= 1
    per_macro = limit // batch.macros * slices[:, None]
    assert ((per_macro <= cap) | ~fits_somehow).all()
    # sharing rules, and sharing kept wherever it is legal (in layer order)
    share = batch.share
    L = share.shape[1]
    if not space.options.sharing:
        assert not any(name.startswith("share_") for name in space.names)
        assert (share == -1).all()
    for i in range(n):
        partners = share[i][share[i] >= 0]
        assert len(partners) == len(set(partners.tolist()))          # each set at most two layers
        for j in np.flatnonzero(share[i] >= 0):
            p = share[i, j]
            assert p < j and share[i, p] == -1
            pair = max(batch.macros[i, j], batch.macros[i, p])
            assert pair <= limit[i, j] and pair <= limit[i, p]
            assert busiest_macro((limit[i, j], limit[i, p]), pair, slices[i]) <= cap
        if space.options.sharing:
            wanted = [-1] + [int(np.clip(X[i, space.index[f"share_{j:02d}"]], -1, j - 1)) for j in range(1, L)]
            assert share[i].tolist() == greedy_sharing(wanted, batch.macros[i], limit[i], slices[i], cap)
    # the evaluator agrees: no partition, ADC, capacity or budget failures
    reason = space.evaluate(R).reason
    assert not np.isin(reason, [1, 2, 8]).any(), np.bincount(reason)
    if fits:
        assert not (reason == 3).any(), np.bincount(reason)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, case=st.sampled_from(REPAIR_CASES))
def test_repair_default_space(seed, case):
    space = space_of(*case, "default")
    assert fits_somewhere(*case, "default")
    X = box_rows(space, seed)
    R = repair(space, X)
    assert np.array_equal(X, box_rows(space, seed))                 # input untouched
    check_repaired(space, X, R, fits=True)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, case=st.sampled_from(REPAIR_CASES),
       key=st.sampled_from(["no_sharing", "fixed_xbar", "searched", "identical"]))
def test_repair_other_options(seed, case, key):
    space = space_of(*case, key)
    X = box_rows(space, seed, n=32)
    check_repaired(space, X, repair(space, X), fits=fits_somewhere(*case, key))


def test_repair_moves_vgg16_to_4bit_cells_and_keeps_some_sharing():
    space = space_of("vgg16", 49.0)
    X = box_rows(space, 3, n=200)
    R = repair(space, X)
    g = space.globals_of(R)
    assert (g["cell_bits"] == 4).all()
    assert (space.globals_of(np.clip(X, space.low, space.high))["cell_bits"] != 4).any()
    assert (space.to_batch(R).share >= 0).any()                     # repair keeps legal sharing
    assert (space.evaluate(R).reason == 0).any()


def test_repair_leaves_a_network_that_fits_nowhere_unchanged_in_its_globals():
    space = space_with("vgg16", 49.0, fixed={"cell_bits": 1, "xbar_size": 128}, segments="one")
    X = box_rows(space, 5, n=16)
    R = repair(space, X)
    assert ((R >= space.low) & (R <= space.high)).all()
    assert np.array_equal(repair(space, R), R)
    clipped = np.clip(X, space.low, space.high)
    for gname in ("rram_ratio", "cell_bits", "xbar_size"):
        assert np.array_equal(column(space, R, gname), column(space, clipped, gname))
    assert (space.to_batch(R).dup == 1).all()
    assert (space.evaluate(R).reason == 3).all()


def test_no_sharing_space_has_no_share_columns():
    space = space_of("resnet18-cifar", 20.0, "no_sharing")
    assert (space.share_cols == -1).all()
    assert not any(n.startswith("share_") for n in space.names)
    assert not any(n.startswith("share_") for n in space.to_optuna())
    R = repair(space, space.random(20, np.random.default_rng(0)))
    assert (space.to_batch(R).share == -1).all()


# --- Optuna and Ray Tune exports --------------------------------------------------------------
EXPORT_CASES = [
    ("resnet18-cifar", 20.0, {}),
    ("resnet18-cifar", 20.0, {"fixed": {"xbar_size": 128}}),
    ("alexnet-cifar", 20.0, {"allocation": "searched", "sharing": False}),
    ("alexnet-cifar", 20.0, {"rram_ratio": (0.15, 0.35, 0.1)}),       # low not a multiple of step
    ("alexnet-cifar", 20.0, {"rram_ratio": (0.1, 0.4, 0.07)}),
]
EXPORT_IDS = ["default", "fixed_xbar", "searched", "ratio_0.15_0.1", "ratio_step_0.07"]


def grid_values(dist) -> np.ndarray:
    k = int(round((dist.high - dist.low) / dist.step))
    return dist.low + dist.step * np.arange(k + 1)


def domain_size(dist) -> int:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return len(dist.choices)
    if isinstance(dist, optuna.distributions.FloatDistribution):
        return len(grid_values(dist))
    return dist.high - dist.low + 1


@pytest.mark.parametrize("name, power, opts", EXPORT_CASES, ids=EXPORT_IDS)
def test_optuna_distributions_match_columns(name, power, opts):
    space = space_with(name, power, **opts)
    dists = space.to_optuna()
    exported = [c for c in space.columns if c.size > 1]
    assert list(dists) == [c.name for c in exported]
    for c in exported:
        d = dists[c.name]
        if c.name == "rram_ratio":
            assert isinstance(d, optuna.distributions.FloatDistribution) and not d.log
            assert np.allclose(grid_values(d), c.choices, rtol=0, atol=1e-9)
        elif c.choices is not None:
            assert isinstance(d, optuna.distributions.CategoricalDistribution)
            assert tuple(d.choices) == tuple(c.choices)
        else:
            assert isinstance(d, optuna.distributions.IntDistribution)
            assert (d.low, d.high, d.step, d.log) == (c.low, c.high, 1, c.log)
    for g in opts.get("fixed", {}):
        assert g not in dists


@pytest.mark.parametrize("name, power, opts", EXPORT_CASES, ids=EXPORT_IDS)
def test_optuna_random_sampling_is_accepted_by_encode(name, power, opts):
    space = space_with(name, power, **opts)
    dists = space.to_optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {k: set() for k in dists}
    for _ in range(120):
        trial = study.ask(fixed_distributions=dists)
        X = space.encode(trial.params)
        assert ((X >= space.low) & (X <= space.high)).all()
        for k, v in space.decode(X)[0].items():
            seen[k].add(v)
            assert math.isclose(v, trial.params[k], rel_tol=1e-9)
        study.tell(trial, 0.0)
    for k, d in dists.items():                             # small domains are covered, ends included
        if domain_size(d) <= 4:
            assert len(seen[k]) == domain_size(d), (k, seen[k])


@pytest.mark.parametrize("key", ["default", "fixed_xbar", "searched"])
def test_suggest_define_by_run_gives_the_same_parameters(key):
    space = space_of("resnet18-cifar", 20.0, key)
    dists = space.to_optuna()
    returned = []

    def objective(trial):
        params = space.suggest(trial)
        returned.append(params)
        return float(space.encode(params).sum())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=15)
    assert len(study.trials) == 15
    for trial, params in zip(study.trials, returned):
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert list(params) == list(dists) and params == trial.params
        assert trial.distributions == dists
        if key == "fixed_xbar":
            assert "xbar_size" not in params


def test_fixed_globals_are_not_exported():
    space = space_with("resnet18-cifar", 20.0, fixed={"xbar_size": 128, "dac_bits": 2, "rram_ratio": 0.25})
    for g in ("xbar_size", "dac_bits", "rram_ratio"):
        assert space.columns[space.index[g]].size == 1
        assert g not in space.to_optuna() and g not in space.to_tune()
    assert "cell_bits" in space.to_optuna()
    X = space.encode(space.decode(space.random(4, np.random.default_rng(2))))
    g = space.globals_of(X)
    assert (g["xbar_size"] == 128).all() and (g["dac_bits"] == 2).all()
    assert np.allclose(g["rram_ratio"], 0.25)


@pytest.mark.parametrize("name, power, opts", EXPORT_CASES, ids=EXPORT_IDS)
def test_size_log10_is_the_sum_over_columns(name, power, opts):
    space = space_with(name, power, **opts)
    expected = sum(math.log10(c.high - c.low + 1) for c in space.columns)
    assert math.isclose(space.size_log10(), expected, rel_tol=1e-12)
    exported = sum(math.log10(domain_size(d)) for d in space.to_optuna().values())
    assert math.isclose(space.size_log10(), exported, rel_tol=1e-9)


def test_size_log10_vgg13_exceeds_pimsyns_count():
    assert space_with("vgg13", 49.0).size_log10() > 27


@pytest.mark.parametrize("name, power, opts", EXPORT_CASES, ids=EXPORT_IDS)
def test_tune_space_samples_are_accepted_by_encode(name, power, opts):
    space = space_with(name, power, **opts)
    tune_space = space.to_tune()
    dists = space.to_optuna()
    assert list(tune_space) == list(dists)
    rng = np.random.default_rng(4)
    seen = {k: set() for k in dists}
    for _ in range(120):
        config = {k: dom.sample(random_state=rng) for k, dom in tune_space.items()}
        X = space.encode(config)
        assert ((X >= space.low) & (X <= space.high)).all()
        for k, v in space.decode(X)[0].items():
            seen[k].add(v)
    for k, d in dists.items():
        if domain_size(d) <= 4:
            assert len(seen[k]) == domain_size(d), (k, seen[k])
    # the ends of every integer domain are reachable (Ray's upper bounds are exclusive)
    for k, d in dists.items():
        if isinstance(d, optuna.distributions.IntDistribution) and d.high - d.low < 24:
            values = np.asarray(tune_space[k].sample(size=4000, random_state=rng))
            assert values.min() == d.low and values.max() == d.high, (k, d)


# --- constraints --------------------------------------------------------------------------------
CONSTRAINT_CASES = [("alexnet-cifar", 20.0), ("resnet18-cifar", 20.0), ("vgg16", 49.0), ("alexnet-cifar", 0.5)]


@pytest.mark.parametrize("name, power", CONSTRAINT_CASES)
def test_constraints_are_nonpositive_exactly_for_feasible_designs(name, power):
    space = DesignSpace.for_network(network(name), "reram", power)
    raw = space.random(150, np.random.default_rng(11))
    unshared = raw.copy()                                   # random sharing is almost always illegal
    unshared[:, space.share_cols[space.share_cols >= 0]] = -1
    X = np.concatenate([raw, unshared, repair(space, raw)])
    results = space.evaluate(X)
    C = space.constraints(results)
    assert C.shape == (len(X), 2)
    assert np.isfinite(C).all()
    assert np.array_equal((C <= 0).all(1), results.reason == 0)
    assert (results.reason != 0).any()
    assert (results.reason == 3).any()
    if power > 1:
        assert (results.reason == 0).any() and (results.reason == 2).any()


# --- options and construction -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"fixed": {"xbar": 128}},
    {"fixed": {"dup_00": 2}},
    {"fixed": {"xbar_size": 128, "power": 20}},
    {"rram_ratio": (0.0, 0.4, 0.01)},
    {"rram_ratio": (-0.1, 0.4, 0.01)},
    {"rram_ratio": (0.5, 0.4, 0.01)},
    {"rram_ratio": (0.1, 1.0, 0.01)},
    {"rram_ratio": (0.1, 0.4, 0.0)},
    {"rram_ratio": (0.1, 0.4, -0.01)},
    {"rram_ratio": (float("nan"), 0.4, 0.01)},
    {"rram_ratio": (0.1, 0.4)},
    {"macro_levels": 1},
    {"sharing_mode": "pairs"},
])
def test_space_options_reject_bad_values(kwargs):
    with pytest.raises(ValidationError):
        SpaceOptions(**kwargs)


def test_space_options_accept_good_values():
    opts = SpaceOptions(fixed={"xbar_size": 128, "cell_bits": 2}, rram_ratio=(0.2, 0.2, 0.05))
    assert opts.fixed == {"xbar_size": 128, "cell_bits": 2}
    space = DesignSpace.for_network(network("alexnet-cifar"), "reram", 20.0, opts)
    assert space.columns[space.index["rram_ratio"]].choices == (0.2,)


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(0.01, 0.9), span=st.floats(0.0, 0.5), step=st.floats(0.005, 0.3))
def test_rram_ratio_grid_stays_within_the_declared_range(lo, span, step):
    hi = min(lo + span, 0.99)
    space = space_with("alexnet-cifar", 20.0, rram_ratio=(lo, hi, step))
    grid = np.array(space.columns[space.index["rram_ratio"]].choices)
    tol = 1e-9
    assert math.isclose(grid[0], lo, abs_tol=tol)
    assert np.allclose(np.diff(grid), step, atol=tol)
    assert (grid <= hi + tol).all(), f"grid {grid.tolist()} exceeds high={hi}"
    assert grid[-1] + step > hi + tol                       # and reaches as far as the range allows


@pytest.mark.parametrize("power", [0.0, -20.0])
def test_for_network_rejects_non_positive_power(power):
    with pytest.raises(SpaceError) as e:
        DesignSpace.for_network(network("alexnet-cifar"), "reram", power)
    assert one_line(e.value)


@pytest.mark.parametrize("power", [float("nan"), float("inf")])
def test_for_network_rejects_non_finite_power(power):
    with pytest.raises(SpaceError) as e:
        DesignSpace.for_network(network("alexnet-cifar"), "reram", power)
    assert one_line(e.value)


@pytest.mark.parametrize("fixed", [
    {"xbar_size": 100}, {"xbar_size": 1024}, {"cell_bits": 3}, {"dac_bits": 8},
    {"rram_ratio": 0.5}, {"rram_ratio": 0.105},
])
def test_for_network_rejects_fixed_values_not_offered(fixed):
    with pytest.raises(SpaceError) as e:
        DesignSpace.for_network(network("alexnet-cifar"), "reram", 20.0, SpaceOptions(fixed=fixed))
    assert one_line(e.value)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, case=st.sampled_from(REPAIR_CASES), key=st.sampled_from(["default", "identical", "searched"]))
def test_repair_partition_equals_repair_when_globals_and_duplication_are_repaired(seed, case, key):
    """The EA's cheaper repair: rows whose globals and duplication passed repair, with
    their macro levels, partners and allocation redrawn (some outside the box)."""
    space = space_of(*case, key)
    R = repair(space, box_rows(space, seed))
    Y = box_rows(space, seed + 1)
    fixed = np.array([space.index[g] for g in GLOBALS] + [c for c in space.dup_cols if c >= 0])
    Y[:, fixed] = R[:, fixed]
    got = repair_partition(space, Y)
    assert np.array_equal(got, repair(space, Y))
    assert np.array_equal(Y[:, fixed], R[:, fixed])                   # input untouched

