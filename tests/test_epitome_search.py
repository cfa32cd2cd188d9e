"""Layer-wise epitome search joined to synthesis (issue 16, item 4): candidates, the
epitome columns of the design space, repair under the floor and the accuracy table, the
grow / shrink moves, the epitome stage's first population, ``pimtune synth --epitomes
search`` end to end, its error lines and study identities, sweeps and ablation files."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.technology import load_technology
from search.operators.epitome_moves import allowed_steps, epitome_columns, mutate_copies, mutate_epitomes
from search.operators.evolution import crossover, mutate
from search.synth.effort import effort_named
from search.synth.epitome_stage import first_population
from search.synth.inner_search import search_points
from space import DesignSpace, SpaceOptions, repair
from space.epitome_choices import (DIRECTIONS, AccuracyTable, EpitomeSearch, EpitomeSearchError, epitome_choices,
                                   layer_shapes, load_accuracy_table)
from tests.cli_runs import one_error_line, run_cli

NET = "alexnet-cifar"
POWER = 10.0


@pytest.fixture(scope="module")
def floor_space(zoo_net):
    return DesignSpace.for_network(zoo_net(NET), "reram", POWER, epitomes=EpitomeSearch(min_ratio=2.0))


def _table(net, budget=0.5, bits=False) -> AccuracyTable:
    """A table listing a few shapes of every conv layer, drops growing with compression."""
    layers = {}
    for l in net.weighted_layers:
        if l.kind != "conv":
            continue
        cin = l.in_channels // l.groups
        kh, kw = l.kernel
        entries = [{"out": -(-l.out_channels // d), "in": -(-cin // e), "p": kh, "q": kw, "drop": 0.1 * d * e}
                   for d, e in ((2, 1), (1, 2), (2, 2), (4, 4)) if (-(-l.out_channels // d), -(-cin // e)) !=
                   (l.out_channels, cin)]
        if bits:
            entries.append({"out": l.out_channels, "in": cin, "p": kh, "q": kw, "weight_bits": 8, "drop": 0.05})
            entries.append({"out": -(-l.out_channels // 2), "in": cin, "p": kh, "q": kw, "weight_bits": 8,
                            "drop": 0.3})
        layers[l.name] = entries
    return AccuracyTable.model_validate({"format": "pimtune-epitome-accuracy/1", "metric": "accuracy_drop",
                                         "budget": budget, "layers": layers})


@pytest.fixture(scope="module")
def table_space(zoo_net):
    net = zoo_net(NET)
    spec = EpitomeSearch(table=_table(net, 0.5, bits=True), table_source="t.yaml")
    return DesignSpace.for_network(net, "reram", POWER, epitomes=spec)


# --- candidates ------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(cout=st.integers(1, 600), cin=st.integers(1, 600), k=st.sampled_from([1, 3, 5, 7, 11]),
       ratio=st.floats(1.0, 300.0))
def test_candidates_respect_the_floor(cout, cin, k, ratio):
    shapes = layer_shapes(cout, cin, k, k, ratio)
    assert len(set(shapes)) == len(shapes)
    for o, i, p, q in shapes:
        assert (o, i) != (cout, cin) and 1 <= o <= cout and 1 <= i <= cin and (p, q) == (k, k)
        assert cout * cin >= ratio * o * i - 1e-6          # compression = full / stored >= the floor
    grid = {(-(-cout // a), -(-cin // b)) for a in (1, 2, 4, 8, 16) for b in (1, 2, 4, 8, 16)} - {(cout, cin)}
    assert {(o, i) for o, i, _, _ in shapes} == {s for s in grid if cout * cin >= ratio * s[0] * s[1] - 1e-6}


def test_network_choices_index_zero_is_dense_and_neighbours_are_in_range(floor_space):
    ch = floor_space.epitomes
    assert (ch.shapes[:, 0] == 0).all() and (ch.ratio[:, 0] == 1).all()
    for j in range(len(ch.names)):
        n = int(ch.count[j])
        assert (ch.ratio[j, 1:n] >= 2 - 1e-9).all()
        assert ((ch.neighbours[j, :n] >= -1) & (ch.neighbours[j, :n] < n)).all()
        for k in range(1, n):                                  # a step moves one channel axis only
            for d, (axis, sign) in enumerate(DIRECTIONS):
                t = ch.neighbours[j, k, d]
                if t > 0:
                    assert ch.shapes[j, t, 1 - axis] == ch.shapes[j, k, 1 - axis]
                    assert (ch.shapes[j, t, axis] - ch.shapes[j, k, axis]) * sign > 0
    fc = [j for j, l in enumerate(floor_space.network.weighted_layers) if l.kind == "fc"]
    assert all(ch.count[j] == 1 for j in fc) and all(floor_space.epitome_cols[j] < 0 for j in fc)


def test_an_all_dense_row_is_the_dense_space_row(floor_space):
    dense = floor_space.dense_twin()
    X = repair(dense, dense.random(300, np.random.default_rng(0)))
    Y = floor_space.rows_from(dense, X)
    assert (repair(floor_space, Y) == Y).all()
    assert (floor_space.crossbar_sets(Y) == dense.crossbar_sets(X)).all()
    a, b = dense.evaluate(X, False), floor_space.evaluate(Y, False)
    assert np.array_equal(a.tops_per_watt, b.tops_per_watt, equal_nan=True)


def test_the_space_exports_the_epitome_columns(table_space):
    dists = table_space.to_optuna()
    names = [n for n in dists if n.startswith(("epitome_", "wbits_"))]
    assert names and all(n in table_space.index for n in names)
    assert any(n.startswith("wbits_") for n in names)
    X = table_space.random(5, np.random.default_rng(1))
    params = table_space.decode(repair(table_space, X))
    assert all(n in params[0] for n in names)
    assert (table_space.encode(params) == repair(table_space, X)).all()
    pytest.importorskip("ray")
    tune = table_space.to_tune()
    assert set(names) <= set(tune)


# --- repair: floor and accuracy budget (properties) ----------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_repair_keeps_the_floor_and_the_accuracy_budget(table_space, floor_space, seed):
    rng = np.random.default_rng(seed)
    for space in (table_space, floor_space):
        ch = space.epitomes
        Y = repair(space, space.random(64, rng))
        e, b = space.choice_indices(Y)
        drops = ch.drops(e, b)
        assert np.isfinite(drops).all()                               # every configuration allowed
        assert (drops.sum(1) <= ch.budget + 1e-9).all()               # within the table's budget
        assert (np.take_along_axis(ch.ratio, e.T, 1).T[e > 0] >= (ch.spec.min_ratio or 1) - 1e-9).all()
        assert (repair(space, Y) == Y).all()                          # idempotent
        assert ((space.dup_values(Y) * space.crossbar_sets(Y)).sum(1) <= space.crossbar_limit(Y)).all()


def test_repair_reverts_the_layer_with_most_drop_per_crossbar_saved(zoo_net):
    net = zoo_net(NET)
    table = _table(net, budget=0.25)
    space = DesignSpace.for_network(net, "reram", POWER, epitomes=EpitomeSearch(table=table))
    rng = np.random.default_rng(3)
    X = repair(space, space.random(1, rng))
    cols = space.epitome_cols[space.epitome_cols >= 0]
    X[:, cols] = 1                                                    # every layer its first table shape
    Y = repair(space, X)
    e, b = space.choice_indices(Y)
    assert space.epitomes.drops(e, b).sum() <= 0.25 + 1e-9
    assert (e > 0).any() and (e == 0).any()                           # some kept, some reverted


def test_accuracy_use_is_an_optuna_constraint(table_space):
    X = repair(table_space, table_space.random(8, np.random.default_rng(2)))
    c = table_space.constraints(table_space.evaluate(X, False), X)
    assert c.shape == (8, 3) and (c[:, 2] <= 1e-9).all()
    assert np.allclose(c[:, 2], table_space.accuracy_use(X) - table_space.epitomes.budget)


# --- moves -------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_grow_and_shrink_moves_stay_in_range(table_space, floor_space, seed):
    rng = np.random.default_rng(seed)
    for space in (floor_space, table_space):
        ch = space.epitomes
        X = repair(space, space.random(40, rng))
        Y = X.copy()
        mutate_epitomes(space, Y, np.arange(len(Y)), rng)
        assert ((Y >= space.low) & (Y <= space.high)).all()
        e0, b0 = space.choice_indices(X)
        e1, b1 = space.choice_indices(Y)
        changed = (e0 != e1) | (b0 != b1)
        assert (changed.sum(1) <= 1).all()                            # one layer, one step
        r, j = np.nonzero(changed)
        for row, layer in zip(r, j):
            if e0[row, layer] != e1[row, layer]:
                assert e1[row, layer] in ch.neighbours[layer, e0[row, layer]]
            else:
                assert b1[row, layer] in ch.bit_neighbours[layer, b0[row, layer]]
        assert np.isfinite(ch.drops(e1, b1)).all()
        Z = mutate(space, X, rng)
        assert (repair(space, Z) == Z).all()
        W = crossover(space, X, X[::-1], rng)
        assert (repair(space, W) == W).all()
        mutate_copies(space, Y, np.arange(len(Y)), rng)
        assert ((Y >= space.low) & (Y <= space.high)).all()


def test_moves_respect_the_allowed_columns(floor_space):
    X = repair(floor_space, floor_space.random(10, np.random.default_rng(4)))
    allowed = np.ones(floor_space.dims, dtype=bool)
    allowed[epitome_columns(floor_space)] = False
    assert not allowed_steps(floor_space, X, allowed).any()
    Y = X.copy()
    mutate_epitomes(floor_space, Y, np.arange(len(Y)), np.random.default_rng(5), allowed)
    assert (Y == X).all()


# --- the epitome stage -------------------------------------------------------------------------------
def test_the_first_population_holds_the_dense_design(floor_space):
    dense = floor_space.dense_twin()
    X = floor_space.rows_from(dense, repair(dense, dense.random(3, np.random.default_rng(6))))
    X0 = first_population(floor_space, X, 12, np.random.default_rng(7))
    assert X0.shape == (3, 12, floor_space.dims)
    assert (X0[:, 0] == X).all()                                       # every layer dense, the design unchanged
    e, _ = floor_space.choice_indices(X0[:, 0])
    assert (e == 0).all()
    e, _ = floor_space.choice_indices(X0[:, 1:].reshape(-1, floor_space.dims))
    assert (e > 0).any()                                               # random epitome configurations
    flat = X0.reshape(-1, floor_space.dims)
    assert (repair(floor_space, flat) == flat).all()


def test_the_stage_is_never_worse_than_the_dense_synthesis(floor_space):
    points = [{"rram_ratio": r, "cell_bits": 2, "xbar_size": 128} for r in (0.2, 0.3)]
    effort = effort_named("quick")
    dense = search_points(floor_space.dense_twin(), points, effort, "tops_per_watt", np.random.default_rng(8))
    ours = search_points(floor_space, points, effort, "tops_per_watt", np.random.default_rng(8))
    for d, o in zip(dense, ours):
        assert (d.value is None) == (o.value is None)
        if d.value is None:
            continue
        assert o.dense["value"] == d.value                              # the first stage is the dense synthesis
        assert (o.dense["row"] == d.row).all()
        assert o.value >= d.value
        assert "epitome" in o.stats and o.stats["epitome"]["dense_value"] == d.value


# --- pimtune synth --epitomes search ---------------------------------------------------------------
def test_synth_epitome_search_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", "--jobs", "2",
                             "--epitomes", "search", "--min-ratio", "2", "--json")
    assert code == 0, err
    summary = json.loads(out)
    fp = EpitomeSearch(min_ratio=2.0).fingerprint()
    assert summary["study"] == f"{NET}-10W-synth-tops_per_watt-quick-ep-{fp}"
    folder = tmp_path / f"synth-{NET}-10W-quick-ep-{fp}"
    report = (folder / "report.md").read_text()
    assert "## Epitomes" in report and "Against the dense synthesis at the same budget" in report
    assert (folder / "epitomes.png").stat().st_size > 0
    comp = summary["epitome_comparison"]
    designs = comp["designs"]
    assert designs["epitome synthesis"]["tops_per_watt"] >= designs["dense synthesis"]["tops_per_watt"]
    assert designs["epitome synthesis"]["tops_per_watt"] == pytest.approx(summary["best"]["tops_per_watt"])
    assert len(comp["layers"]) == 8
    for layer in comp["layers"]:                                        # the floor holds in the result
        assert layer["epitome"] == "dense" or layer["compression"] >= 2 - 1e-9
    design = json.loads((folder / "design.json").read_text())
    assert len(design["epitome"]) == 8
    # the dense synthesis of the same effort and seed gives the comparison's dense figure
    code, out, _ = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", "--jobs", "1", "--json")
    assert code == 0
    assert json.loads(out)["best"]["tops_per_watt"] == pytest.approx(designs["dense synthesis"]["tops_per_watt"],
                                                                     rel=1e-12)
    # the design re-scores to the same figure
    code, out, _ = run_cli(capsys, "evaluate", NET, "--power", POWER, "--design", folder / "design.json", "--json")
    assert code == 0 and json.loads(out)["tops_per_watt"] == pytest.approx(summary["best"]["tops_per_watt"],
                                                                           rel=1e-9)


def test_synth_with_an_accuracy_table_keeps_its_budget(tmp_path, monkeypatch, capsys, zoo_net):
    monkeypatch.chdir(tmp_path)
    table = _table(zoo_net(NET), budget=0.3)
    (tmp_path / "t.yaml").write_text(json.dumps(table.model_dump(by_alias=True)))
    code, out, err = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", "--jobs", "1",
                             "--epitomes", "search", "--accuracy-table", "t.yaml", "--weight-bits", "8", "--json")
    assert code == 0, err
    comp = json.loads(out)["epitome_comparison"]
    assert comp["accuracy_use"] <= 0.3 + 1e-9 and comp["accuracy_budget"] == 0.3
    allowed = {l: {(e.out, e.in_, e.p, e.q, e.weight_bits or 16) for e in entries} for l, entries in
               table.layers.items()}
    for layer in comp["layers"]:
        if layer["epitome"] != "dense" or layer["weight_bits"] != 16:
            full = tuple(int(v) for v in layer["epitome"].split("x")) if layer["epitome"] != "dense" else None
            assert any(full is None or s[:4] == full for s in allowed[layer["name"]])


@pytest.mark.parametrize("argv, words", [
    (["--min-ratio", "2"], "--min-ratio applies to --epitomes search"),
    (["--weight-bits", "4"], "--weight-bits applies to --epitomes search"),
    (["--epitomes", "search", "--min-ratio", "0.5"], "--min-ratio 0.5: a compression floor is at least 1"),
    (["--epitomes", "search"], "--epitomes search needs the accuracy side"),
    (["--epitomes", "search", "--min-ratio", "2", "--weight-bits", "4,x"], "--weight-bits 4,x"),
    (["--epitomes", "search", "--accuracy-table", "missing.yaml"], "no such file"),
    (["--epitomes", "missing-plan.yaml"], "no such epitome plan file"),
])
def test_bad_epitome_options_are_one_line(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", *argv)
    assert code == 2
    assert words in one_error_line(err)


@pytest.mark.parametrize("text, words", [
    ("format: pimtune-epitome-accuracy/1\nmetric: accuracy_drop\nbudget: 1\nlayers: {nope: []}\n",
     "key 'layers.nope': no weighted layer"),
    ("format: pimtune-epitome-accuracy/1\nmetric: top1\nbudget: 1\nlayers: {}\n", "key 'metric'"),
    ("format: pimtune-epitome-accuracy/1\nmetric: accuracy_drop\nlayers: {}\n", "key 'budget' is missing"),
    ("format: pimtune-epitome-accuracy/1\nmetric: accuracy_drop\nbudget: 1\n"
     "layers: {conv1: [{out: 32, in: 3, p: 3, q: 3}]}\n", "key 'layers.conv1[0].drop' is missing"),
    ("format: pimtune-epitome-accuracy/1\nmetric: accuracy_drop\nbudget: 1\n"
     "layers: {conv1: [{out: 32, in: 3, p: 2, q: 3, drop: 1}]}\n", "key 'layers.conv1[0]': epitome 32x3x2x3"),
    ("format: pimtune-epitome-accuracy/1\nmetric: accuracy_drop\nbudget: 1\n"
     "layers: {conv1: [{out: 32, in: 3, p: 3, q: 3, drop: 1, extra: 2}]}\n", "unknown key"),
    ("[1, 2", "not valid YAML"),
])
def test_bad_accuracy_tables_are_one_line(text, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(text)
    code, _, err = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", "--epitomes", "search",
                           "--accuracy-table", "t.yaml")
    assert code == 2
    line = one_error_line(err)
    assert "--accuracy-table t.yaml" in line and words in line


def test_search_and_compare_take_plans_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "search", NET, "--power", POWER, "--sampler", "random", "--trials", "3",
                           "--epitomes", "search")
    assert code == 2 and "the search of epitomes runs in pimtune synth" in one_error_line(err)
    (tmp_path / "plan.yaml").write_text("format: pimtune-epitomes/1\ncompression: 2\n")
    code, out, err = run_cli(capsys, "search", NET, "--power", POWER, "--sampler", "random", "--trials", "3",
                             "--epitomes", "plan.yaml", "--storage", "sqlite:///s.db", "--json")
    assert code == 0, err
    study = optuna.load_study(study_name=json.loads(out)["study"], storage="sqlite:///s.db")
    assert study.study_name.startswith(f"{NET}-10W-random-tops_per_watt-ep-")
    assert study.user_attrs["pimtune"]["epitomes"] == "plan"


def test_resume_refuses_another_epitome_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["synth", NET, "--power", POWER, "--effort", "quick", "--jobs", "1", "--storage", "sqlite:///s.db",
            "--study-name", "s", "--out", "o"]
    assert run_cli(capsys, *base)[0] == 0
    code, _, err = run_cli(capsys, *base, "--epitomes", "search", "--min-ratio", "2")
    assert code == 2
    line = one_error_line(err)
    assert "searches epitomes none, not 'search'" in line and "pick another --study-name" in line
    base[-3] = "s2"
    assert run_cli(capsys, *base, "--epitomes", "search", "--min-ratio", "2")[0] == 0
    for other, words in ((["--epitomes", "search", "--min-ratio", "4"], "epitome setting"),
                         ([], "searches epitomes 'search', not none")):
        code, _, err = run_cli(capsys, *base, *other)
        assert code == 2 and words in one_error_line(err)
    code, out, _ = run_cli(capsys, *base, "--epitomes", "search", "--min-ratio", "2", "--json")
    assert code == 0 and json.loads(out)["search"]["searched_now"] == 0           # the same setting resumes


def test_a_plan_network_synthesises_with_its_epitomes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.yaml").write_text("format: pimtune-epitomes/1\ncompression: 2\nweight_bits: 8\n")
    code, out, err = run_cli(capsys, "synth", NET, "--power", POWER, "--effort", "quick", "--jobs", "1",
                             "--epitomes", "plan.yaml", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert "-ep-" in summary["study"]
    comp = summary["epitome_comparison"]
    assert "designs" not in comp and comp["epitome_layers"] == 5
    assert all(l["weight_bits"] == 8 for l in comp["layers"])
    # the per-layer overheads add up to the design's epitome component
    assert comp["overhead_area_mm2"] > 0
    assert sum(l["overhead_area_mm2"] for l in comp["layers"]) == pytest.approx(comp["overhead_area_mm2"], rel=1e-4)
    assert sum(l["overhead_energy_j"] for l in comp["layers"]) == pytest.approx(comp["overhead_energy_j"], rel=1e-3)
    assert all(l["crossbars"] <= l["crossbars_dense"] and l["passes"] >= 1 for l in comp["layers"])


# --- the technology side ---------------------------------------------------------------------------
def test_sram_precisions_stay_within_the_arrays(zoo_net):
    net = zoo_net(NET)
    one = SpaceOptions(segments="one")
    with pytest.raises(EpitomeSearchError, match="at most 8-bit weights"):
        DesignSpace.for_network(net, "sram-dimc", None, one, area_mm2=200.0,
                                epitomes=EpitomeSearch(min_ratio=2.0, weight_bits=(4, 16)))
    space = DesignSpace.for_network(net, "sram-dimc", None, one, area_mm2=200.0,
                                    epitomes=EpitomeSearch(min_ratio=2.0, weight_bits=(4,)))
    X = repair(space, space.random(50, np.random.default_rng(9)))
    Y = X.copy()
    Y[:, epitome_columns(space)] = 0                                  # the same designs, dense at 8 bits
    assert (space.crossbar_sets(X) <= space.crossbar_sets(Y)).all()   # epitomes and 4-bit weights: fewer arrays
    r = space.evaluate(X, False)
    assert np.isfinite(r.tops_per_watt[r.feasible]).all()


def test_weight_bits_change_slices_per_layer(zoo_net):
    tech = load_technology("reram")
    net = zoo_net(NET)
    space = DesignSpace.for_network(net, tech, POWER, epitomes=EpitomeSearch(min_ratio=2.0, weight_bits=(4, 8)))
    X = repair(space.dense_twin(), space.dense_twin().random(4, np.random.default_rng(10)))
    Y = space.rows_from(space.dense_twin(), X)
    cols = space.wbits_cols[space.wbits_cols >= 0]
    bits = space.epitomes.bits[0]
    Y[:, cols] = int(np.flatnonzero(bits == 4)[0])
    cells = space.globals_of(Y)["cell_bits"]
    assert (space.layer_slices(Y) == -(-4 // cells)[:, None]).all()
    assert (space.crossbar_sets(Y) <= space.dense_twin().crossbar_sets(X)).all()


def test_choices_refuse_a_plan_network(zoo_net):
    from onnx_frontend.epitome_plan import EpitomePlan, apply_plan
    net = apply_plan(zoo_net(NET), EpitomePlan.model_validate({"format": "pimtune-epitomes/1", "compression": 2}))
    with pytest.raises(EpitomeSearchError, match="already carries epitomes"):
        epitome_choices(net, EpitomeSearch(min_ratio=2.0), np.full(8, 16))


def test_load_accuracy_table_names_the_file(tmp_path):
    (tmp_path / "t.yaml").write_text("format: pimtune-epitome-accuracy/1\nmetric: loss_increase\nbudget: 0.1\n"
                                     "layers: {}\n")
    assert load_accuracy_table(tmp_path / "t.yaml").metric == "loss_increase"


# --- sweeps and ablation files -----------------------------------------------------------------------
def test_sweep_epitomes_axis(tmp_path):
    from search.storage.studies import open_storage
    from search.sweeps.sweep import Cell, cells_of, load_inputs, run_in_process
    from search.sweeps.sweep_spec import SweepError, load_sweep
    from search.sweeps.sweep_summary import columns, summary_rows

    (tmp_path / "plan.yaml").write_text("format: pimtune-epitomes/1\ncompression: 2\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nepitomes: [none, plan.yaml, search]\n"
                    f"epitome_search: {{min_ratio: 2}}\neffort: quick\nstorage: {url}\n")
    spec = load_sweep(path)
    assert spec.epitomes == ["none", str((tmp_path / "plan.yaml").resolve()), "search"]
    cells = cells_of(spec)
    assert [c.study_name for c in cells] == [
        f"s/{NET}-10W-reram-specialised-tops_per_watt-grid-quick-s0",
        f"s/{NET}-10W-reram-specialised-ep-plan-tops_per_watt-grid-quick-s0",
        f"s/{NET}-10W-reram-specialised-ep-search-tops_per_watt-grid-quick-s0"]
    assert Cell(**cells[2].as_dict()) == cells[2]                 # what a Ray Tune trial rebuilds
    inputs = load_inputs(cells)
    assert inputs.epitomes_of(cells[0]) is None and inputs.epitomes_of(cells[1]) is None
    assert inputs.epitomes_of(cells[2]) == EpitomeSearch(min_ratio=2.0)
    assert inputs.network_of(cells[1]).weighted_layers[0].epitome is not None
    results = run_in_process(cells[1:], inputs, url)
    assert all(r["best"] is not None for r in results)
    storage = open_storage(url)
    study = optuna.load_study(study_name=cells[2].study_name, storage=storage)
    assert study.user_attrs["pimtune"]["epitomes"] == "search"
    assert optuna.load_study(study_name=cells[1].study_name, storage=storage).user_attrs["pimtune"]["epitomes"] == "plan"
    rows = summary_rows(storage, cells)
    assert [r["epitomes"] for r in rows] == ["none", "plan", "search"] and "epitomes" in [c[0] for c in columns(rows)]
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nepitomes: search\n")
    with pytest.raises(SweepError, match="epitome_search"):
        load_sweep(path)
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nepitomes: nope.yaml\n")
    with pytest.raises(SweepError, match="key 'epitomes\\[0\\]'"):
        load_sweep(path)


def test_ablation_file_epitomes(tmp_path):
    from onnx_frontend.errors import PimtuneError
    from search.synth.ablations import load_ablation_file

    path = tmp_path / "a.yaml"
    path.write_text(f"networks: [{NET}]\npower_w: 10\nepitomes: search\n")
    with pytest.raises(PimtuneError, match="epitome_search"):
        load_ablation_file(path)
    path.write_text(f"networks: [{NET}]\npower_w: 10\nepitomes: search\nepitome_search: {{min_ratio: 4, "
                    f"weight_bits: [8]}}\n")
    spec = load_ablation_file(path)
    assert spec.epitome_setting() == EpitomeSearch(min_ratio=4.0, weight_bits=(8,))
    path.write_text(f"networks: [{NET}]\npower_w: 10\nepitomes: plan.yaml\n")
    with pytest.raises(PimtuneError, match="neither none, search nor an epitome plan file"):
        load_ablation_file(path)
    (tmp_path / "plan.yaml").write_text("format: pimtune-epitomes/1\ncompression: 2\n")
    assert load_ablation_file(path).epitomes == str((tmp_path / "plan.yaml").resolve())
