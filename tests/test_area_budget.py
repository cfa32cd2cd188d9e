"""Area budgets (mm^2) beside power budgets (W), everywhere a budget is taken: the cost
model's designs and spaces, the commands' ``--area``, study identities and names, sweep
and ablation files. A power budget alone keeps every result, name and identity it had."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import evaluate, reference_design
from costmodel.budgets import budget_fix, budget_label, budget_text, crossbars_affordable
from costmodel.chip_limits import area_problem, area_warning
from costmodel.random_designs import random_designs
from search.storage.studies import open_storage
from search.sweeps.sweep import Cell, cells_of, load_inputs, run_in_process
from search.sweeps.sweep_spec import SweepError, load_sweep
from search.sweeps.sweep_summary import summary_rows, write_summary
from search.synth.effort import effort_named
from search.synth.synthesis import SynthesisPlan, default_study_name, identity, synthesis_space, synthesize
from space import DesignSpace, SpaceError, repair
from tests.cli_runs import one_error_line, run_cli

NET = "alexnet-cifar"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


# --- the cost model: budgets hold, larger budgets afford more, power alone is unchanged ---------
budgets = dict(
    seed=st.integers(0, 2**31 - 1),
    net=st.sampled_from(["alexnet-cifar", "vgg16-cifar", "resnet18-cifar"]),
    area=st.floats(5.0, 400.0),
    power=st.floats(2.0, 80.0),
)


@settings(max_examples=25, deadline=None)
@given(**budgets)
def test_feasible_designs_keep_within_the_area_budget(zoo_net, tech, seed, net, area, power):
    network = zoo_net(net)
    batch = random_designs(network, tech, None, 96, seed=seed, segmented=True, area_mm2=area)
    r = evaluate(network, tech, batch, None, area_mm2=area)
    f = r.feasible
    assert (r.area_mm2[f] <= area * (1 + 1e-9)).all(), r.area_mm2[f].max()
    assert (r.resolved.chip_crossbars[f] <= r.resolved.n_xbar_budget[f]).all()
    assert all(r.metrics(i)["power_w"]["budget"] is None for i in range(3))
    # both budgets: both hold
    both = random_designs(network, tech, power, 96, seed=seed, segmented=True, area_mm2=area)
    r = evaluate(network, tech, both, power, area_mm2=area)
    f = r.feasible
    assert (r.area_mm2[f] <= area * (1 + 1e-9)).all(), r.area_mm2[f].max()
    assert (r.peak_power_w[f] <= power * (1 + 1e-6)).all(), r.peak_power_w[f].max()
    m = r.metrics(0)
    assert m["area_mm2"]["budget"] == pytest.approx(area) and m["power_w"]["budget"] == pytest.approx(power)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), area=st.floats(1.0, 500.0), more=st.floats(1.0, 4.0),
       power=st.one_of(st.none(), st.floats(2.0, 80.0)))
def test_a_larger_area_budget_never_affords_fewer_crossbars(alexnet, tech, seed, area, more, power):
    batch = random_designs(alexnet, tech, power, 64, seed=seed, area_mm2=area)
    small = evaluate(alexnet, tech, batch, power, area_mm2=area).resolved.n_xbar_budget
    large = evaluate(alexnet, tech, batch, power, area_mm2=area * more).resolved.n_xbar_budget
    assert (large >= small).all()
    tb = tech.tables
    at = np.searchsorted(tb.xbar_sizes, batch.xbar_size), np.searchsorted(tb.cell_bits, batch.cell_bits)
    mine = crossbars_affordable(power, area, batch.rram_ratio, tb.xbar_peak[at], tb.xbar_area[at])
    np.testing.assert_array_equal(mine, small)              # the helper counts as resolve does
    space_small = DesignSpace.for_network(alexnet, tech, power, area_mm2=area)
    space_large = DesignSpace.for_network(alexnet, tech, power, area_mm2=area * more)
    X = space_small.random(64, np.random.default_rng(seed))
    assert (space_large.crossbar_budget(X) >= space_small.crossbar_budget(X)).all()
    assert (space_large.crossbar_limit(X) >= space_small.crossbar_limit(X)).all()


def dicts(batch, network) -> list[dict]:
    return [batch.to_dict(i, network) for i in range(len(batch))]


def test_power_alone_is_unchanged_by_no_area_budget(zoo_net, tech):
    for net in ("alexnet-cifar", "resnet18-cifar"):
        network = zoo_net(net)
        batch = random_designs(network, tech, 20.0, 200, seed=3, segmented=True)
        again = random_designs(network, tech, 20.0, 200, seed=3, segmented=True, area_mm2=None)
        assert dicts(batch, network) == dicts(again, network)
        a = evaluate(network, tech, batch, 20.0)
        for b in (evaluate(network, tech, batch, 20.0, area_mm2=None),
                  evaluate(network, tech, batch, 20.0, area_mm2=np.inf),
                  evaluate(network, tech, batch, 20.0, area_mm2=1e6)):      # an area that never binds
            for k in ("tops_per_watt", "throughput_ips", "energy_j", "area_mm2", "peak_power_w", "reason"):
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
        one = DesignSpace.for_network(network, tech, 20.0)
        two = DesignSpace.for_network(network, tech, 20.0, area_mm2=None)
        huge = DesignSpace.for_network(network, tech, 20.0, area_mm2=1e6)
        assert one.names == two.names == huge.names and (one.high == huge.high).all()
        X = one.random(300, np.random.default_rng(0))
        np.testing.assert_array_equal(repair(one, X), repair(huge, X))
        assert one.budget_identity() == {"power_w": 20.0} and one.budget_label() == "20W"
    for name in ("isaac", "heuristic", "no-dup"):
        a = reference_design(name, zoo_net(NET), tech, 150.0)
        b = reference_design(name, zoo_net(NET), tech, 150.0, area_mm2=1e6)
        assert dicts(a, zoo_net(NET)) == dicts(b, zoo_net(NET)), name


@pytest.mark.parametrize("power, area", [(None, 30.0), (10.0, 30.0), (None, 2.0), (10.0, 2.0)])
def test_repaired_designs_of_an_area_space_fit_it(zoo_net, tech, power, area):
    """Repair keeps one copy within every budget's crossbars and periphery (a network that
    fits nowhere is segmented), so repaired designs are feasible within the area budget."""
    for net in ("alexnet-cifar", "alexnet"):
        space = DesignSpace.for_network(zoo_net(net), tech, power, area_mm2=area)
        X = repair(space, space.random(400, np.random.default_rng(1)))
        fits = space.crossbar_sets(X).sum(1) <= space.crossbar_limit(X)
        res = space.evaluate(X)
        assert res.feasible.any(), (net, sorted({res.reason_name(i) for i in range(len(X))}))
        assert (res.area_mm2[res.feasible] <= area * (1 + 1e-9)).all()
        if power is not None:
            assert (res.peak_power_w[res.feasible] <= power * (1 + 1e-6)).all()
        if not space.segmented:
            assert not (res.reason[fits] == 3).any()                   # weights_do_not_fit
    if area < 4:                                       # ImageNet AlexNet's weights fit nowhere in 2 mm^2
        assert space.segmented


def test_reference_designs_fit_the_area_budget(alexnet, tech):
    for name in ("isaac", "heuristic", "no-dup"):
        for power, area in ((None, 120.0), (60.0, 120.0)):
            batch = reference_design(name, alexnet, tech, power, area_mm2=area)
            r = evaluate(alexnet, tech, batch, power, area_mm2=area)
            assert r.feasible[0] and r.area_mm2[0] <= area * (1 + 1e-9), name


def test_space_budget_validation(alexnet, tech):
    for bad in (0.0, -3.0, float("nan"), float("inf")):
        with pytest.raises(SpaceError, match="area budget"):
            DesignSpace.for_network(alexnet, tech, 20.0, area_mm2=bad)
    with pytest.raises(SpaceError, match="no budget"):
        DesignSpace.for_network(alexnet, tech, None)
    space = DesignSpace.for_network(alexnet, tech, None, area_mm2=30.0)
    assert (space.power_w, space.area_mm2) == (None, 30.0)
    assert space.budget_identity() == {"power_w": None, "area_mm2": 30.0}


def test_budget_words():
    assert [budget_label(49, None), budget_label(None, 20), budget_label(5, 20.5)] == ["49W", "20mm2", "5W-20.5mm2"]
    assert [budget_text(49, None), budget_text(None, 20), budget_text(5, 20)] == ["49 W", "20 mm^2", "5 W and 20 mm^2"]
    assert [budget_fix(49, None), budget_fix(None, 20), budget_fix(5, 20)] == [
        "raise --power", "raise --area", "raise --power or --area"]
    assert area_problem(30.0) is None and "positive, finite" in area_problem(-1.0)
    assert "beyond any single chip" in area_problem(1e9)
    assert "lower --area" in area_warning(900.0, None, 2000.0)
    assert area_warning(900.0, 300.0).endswith("lower --power") and area_warning(100.0, None, 120.0) is None


# --- the commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["evaluate", NET, "--design", "heuristic"],
    ["validate", NET, "--designs", "1"],
    ["synth", NET, "--effort", "quick"],
    ["search", NET, "--sampler", "random", "--trials", "1"],
    ["compare", NET, "--samplers", "random", "--trials", "1", "--seeds", "1", "--out", "cmp"],
])
def test_no_budget_is_one_error_line_naming_the_fix(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *command)
    assert code == 2
    line = one_error_line(err)
    assert "--power W" in line and "--area MM2" in line
    assert list(tmp_path.iterdir()) == []                       # nothing written


@pytest.mark.parametrize("value, words", [("-3", "positive, finite number of mm^2"), ("0", "positive, finite"),
                                          ("nan", "positive, finite"), ("1e9", "beyond any single chip"),
                                          ("20mm2", "expected an area budget in mm^2")])
def test_bad_area_is_one_error_line(tmp_path, monkeypatch, capsys, value, words):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "synth", NET, "--area", value, "--effort", "quick")
    assert code == 2
    assert words in one_error_line(err) and "argument --area" in err
    assert list(tmp_path.iterdir()) == []


def test_evaluate_reports_the_area_budget(capsys):
    code, out, _ = run_cli(capsys, "evaluate", NET, "--area", "30", "--design", "heuristic", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["area_mm2"]["budget"] == 30.0 and d["area_mm2"]["total"] <= 30.0
    assert d["power_w"]["budget"] is None and d["globals"]["area_budget_mm2"] == 30.0
    code, out, _ = run_cli(capsys, "evaluate", NET, "--area", "30", "--power", "10", "--design", "heuristic")
    assert code == 0
    assert "design heuristic at 10 W and 30 mm^2" in out and "/ 30 mm^2" in out
    code, out, _ = run_cli(capsys, "evaluate", NET, "--area", "30", "--design", "no-dup")
    assert "at 30 mm^2" in out and "/ -" in out                 # no power budget reads "-", not inf
    code, out, _ = run_cli(capsys, "evaluate", NET, "--power", "20", "--design", "no-dup", "--json")
    d = json.loads(out)
    assert d["area_mm2"]["budget"] is None and "area_budget_mm2" not in d["globals"]


def test_synth_with_an_area_budget_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "synth", NET, "--area", "30", "--effort", "quick", "--jobs", "1")
    assert code == 0, err
    folder = tmp_path / "synth-alexnet-cifar-30mm2-quick"
    report = (folder / "report.md").read_text()
    assert report.startswith("# Synthesis of alexnet-cifar at 30 mm^2") and "Budget: area 30 mm^2" in report
    assert "best design of alexnet-cifar at 30 mm^2" in out
    design = json.loads((folder / "design.json").read_text())
    r = evaluate(load_network_of(NET), "reram", _batch(design), None, area_mm2=30.0)
    assert r.feasible[0] and r.area_mm2[0] <= 30.0 * (1 + 1e-9)
    study = optuna.load_study(study_name="alexnet-cifar-30mm2-synth-tops_per_watt-quick",
                              storage=f"sqlite:///{folder / 'study.db'}")
    assert study.user_attrs["pimtune"]["area_mm2"] == 30.0 and study.user_attrs["pimtune"]["power_w"] is None
    # both budgets, two worker processes (they rebuild the space with the area budget)
    code, out, err = run_cli(capsys, "synth", NET, "--power", "10", "--area", "30", "--effort", "quick",
                             "--jobs", "2", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["power_w"], summary["area_mm2"]) == (10.0, 30.0)
    assert summary["study"] == "alexnet-cifar-10W-30mm2-synth-tops_per_watt-quick"
    best = summary["best"]
    assert best["area_mm2"]["total"] <= 30.0 * (1 + 1e-9) and best["power_w"]["peak"] <= 10.0 * (1 + 1e-6)
    assert "Budgets: power 10 W and area 30 mm^2" in (tmp_path / "synth-alexnet-cifar-10W-30mm2-quick" /
                                                      "report.md").read_text()


def load_network_of(name):
    from search.cli.common import load_model_arg
    return load_model_arg(name)


def _batch(design: dict):
    from costmodel.design import DesignBatch
    return DesignBatch.from_dicts([design], load_network_of(NET))


def test_a_resume_with_another_area_budget_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["synth", NET, "--effort", "quick", "--jobs", "1", "--storage", "sqlite:///s.db", "--study-name", "s"]
    assert run_cli(capsys, *base, "--area", "40", "--out", "o")[0] == 0
    before = (tmp_path / "s.db").stat().st_size
    for other in (["--area", "30"], ["--power", "20"], ["--power", "20", "--area", "40"]):
        code, _, err = run_cli(capsys, *base, *other, "--out", "o")
        assert code == 2
        line = one_error_line(err)
        assert "pick another --study-name" in line and "budget" in line, line
    assert "area budget (mm^2) 40.0, not 30.0" in run_cli(capsys, *base, "--area", "30", "--out", "o")[2]
    assert run_cli(capsys, *base, "--area", "40", "--out", "o")[0] == 0        # the same budget resumes
    # a study made with a power budget alone refuses a resume that adds an area budget, and keeps its name
    power = ["synth", NET, "--effort", "quick", "--jobs", "1", "--storage", "sqlite:///p.db", "--study-name", "p"]
    assert run_cli(capsys, *power, "--power", "20", "--out", "p")[0] == 0
    code, _, err = run_cli(capsys, *power, "--power", "20", "--area", "40", "--out", "p")
    assert code == 2 and "area budget (mm^2) none, not 40.0" in one_error_line(err)
    assert (tmp_path / "s.db").stat().st_size >= before


def test_power_only_study_identity_and_names_are_unchanged(alexnet, tech):
    plan = SynthesisPlan(effort=effort_named("quick"))
    space = synthesis_space(alexnet, tech, 20.0, DesignSpace.for_network(alexnet, tech, 20.0).options, plan)
    ident = identity(space, plan)
    assert ident["power_w"] == 20.0 and "area_mm2" not in ident
    assert list(ident)[:4] == ["command", "network", "network_sha1", "power_w"]
    assert default_study_name(space, plan) == "alexnet-cifar-20W-synth-tops_per_watt-quick"
    both = synthesis_space(alexnet, tech, 20.0, space.options, plan, area_mm2=40.0)
    assert identity(both, plan)["area_mm2"] == 40.0
    assert default_study_name(both, plan) == "alexnet-cifar-20W-40mm2-synth-tops_per_watt-quick"


def test_search_names_and_stores_the_area_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "search", NET, "--area", "30", "--sampler", "random", "--trials", "40",
                             "--seed", "0", "--storage", "sqlite:///f.db", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["study"] == "alexnet-cifar-30mm2-random-tops_per_watt" and report["area_mm2"] == 30.0
    assert report["best"]["metrics"]["area_mm2"]["total"] <= 30.0 * (1 + 1e-9)
    code, _, err = run_cli(capsys, "search", NET, "--area", "31", "--sampler", "random", "--trials", "40",
                           "--storage", "sqlite:///f.db", "--study-name", "alexnet-cifar-30mm2-random-tops_per_watt")
    assert code == 2 and "area budget (mm^2) 30.0, not 31.0" in one_error_line(err)


# --- sweep and ablation files ------------------------------------------------------------------
def test_sweep_area_axis_cells_and_names(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10, 20]\narea_budgets_mm2: [30, 50]\n")
    cells = cells_of(load_sweep(path))
    assert [(c.power_w, c.area_mm2) for c in cells] == [(10, 30), (10, 50), (20, 30), (20, 50)]
    assert cells[0].study_name == "s/alexnet-cifar-10W-30mm2-reram-specialised-tops_per_watt-grid-default-s0"
    assert Cell(**cells[1].as_dict()) == cells[1]                # what a Ray Tune trial rebuilds
    path.write_text(f"name: s\nnetworks: [{NET}]\narea_budgets_mm2: [30]\n")
    (cell,) = cells_of(load_sweep(path))
    assert (cell.power_w, cell.area_mm2) == (None, 30.0)
    assert cell.study_name == "s/alexnet-cifar-30mm2-reram-specialised-tops_per_watt-grid-default-s0"
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\n")
    (cell,) = cells_of(load_sweep(path))                        # power alone: the name it always had
    assert cell.area_mm2 is None
    assert cell.study_name == "s/alexnet-cifar-10W-reram-specialised-tops_per_watt-grid-default-s0"
    path.write_text(f"name: s\nnetworks: [{NET}]\narea_budgets_mm2: [-1]\n")
    with pytest.raises(SweepError, match="area_budgets_mm2"):
        load_sweep(path)


def test_a_sweep_with_an_area_axis_runs_in_process_and_summarises(tmp_path):
    path = tmp_path / "a.yaml"
    url = f"sqlite:///{tmp_path / 'a.db'}"
    path.write_text(f"name: a\nnetworks: [{NET}]\npower_budgets_w: [10]\narea_budgets_mm2: [30]\neffort: quick\n"
                    f"storage: {url}\n")
    cells = cells_of(load_sweep(path))
    (result,) = run_in_process(cells, load_inputs(cells), url)
    assert result["best"] is not None
    storage = open_storage(url)
    study = optuna.load_study(study_name=cells[0].study_name, storage=storage)
    assert study.user_attrs["pimtune"]["area_mm2"] == 30.0
    rows = summary_rows(storage, cells)
    assert rows[0]["area_budget_mm2"] == 30.0 and rows[0]["area_mm2"] <= 30.0 * (1 + 1e-9)
    files = write_summary(rows, tmp_path / "out", "sweep a")
    assert files["csv"].read_text().splitlines()[0].startswith("network,power_w,area_budget_mm2,")
    assert "| area budget (mm^2) |" in files["markdown"].read_text()


def pimtune(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli.main", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_cli_sweep_with_an_area_axis_on_ray(tmp_path):
    """A tiny sweep over area budgets alone on a local Ray (the trials receive the budget)."""
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(f"name: tinya\nnetworks: [{NET}]\narea_budgets_mm2: [30]\neffort: quick\n"
                     f"storage: sqlite:///{tmp_path / 'tiny.db'}\n")
    done = pimtune("sweep", str(sweep), "--max-concurrent", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "alexnet-cifar-30mm2-reram" in done.stderr
    summary = pimtune("sweep", str(sweep), "--summary", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    csv = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("network,power_w,area_budget_mm2,") and csv[1].startswith("alexnet-cifar,,30.0,")
    assert (tmp_path / "out" / "tops_per_watt.png").stat().st_size > 10_000
    study = optuna.load_study(study_name="tinya/alexnet-cifar-30mm2-reram-specialised-tops_per_watt-grid-quick-s0",
                              storage=f"sqlite:///{tmp_path / 'tiny.db'}")
    best = max(t.value for t in study.trials if t.value is not None)
    assert best > 0 and study.user_attrs["pimtune"]["area_mm2"] == 30.0


def test_ablation_files_take_an_area_budget(tmp_path):
    from search.synth.ablations import load_ablation_file

    path = tmp_path / "a.yaml"
    path.write_text("networks: [alexnet-cifar]\narea_mm2: 30\nisaac_area_mm2: {alexnet-cifar: 120}\n")
    spec = load_ablation_file(path)
    assert (spec.power_w, spec.area_mm2) == (None, 30.0) and spec.isaac_budgets("alexnet-cifar") == (None, 120.0)
    for text, words in (("networks: [alexnet-cifar]\n", "no budget"),
                        ("networks: [alexnet-cifar]\narea_mm2: -2\n", "area_mm2"),
                        ("networks: [alexnet-cifar]\narea_mm2: 30\nisaac_area_mm2: {vgg16: 3}\n",
                         "isaac_area_mm2.vgg16")):
        path.write_text(text)
        with pytest.raises(Exception, match=words):
            load_ablation_file(path)


def test_synthesize_in_an_area_space_keeps_designs_within_it(alexnet, tech):
    plan = SynthesisPlan(effort=effort_named("quick"))
    space = synthesis_space(alexnet, tech, None, DesignSpace.for_network(alexnet, tech, 20.0).options, plan,
                            area_mm2=25.0)
    study, stats = synthesize(space, plan, optuna.storages.InMemoryStorage())
    assert stats.searched > 0
    done = [t for t in study.trials if t.value is not None]
    assert done and all(t.user_attrs["metrics"]["area_mm2"]["total"] <= 25.0 * (1 + 1e-9) for t in done)
