"""``--sparsity`` on the commands, sweep and ablation files, and ``zoo --random-weights`` (issue 15).

``dense`` (the default) reproduces the outputs without the option; a profile or the measured
zeros of a model with weights go through evaluate, synth, search, compare, bench and sweeps
end to end; a resume with other densities is refused; every bad input is one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search.cli.main import main
from search.storage.studies import open_storage
from search.sweeps.sweep import Cell, cells_of, load_inputs, run_in_process
from search.sweeps.sweep_spec import SweepError, load_sweep
from search.sweeps.sweep_summary import columns, summary_rows, write_summary
from tests.cli_runs import one_error_line, run_cli

NET = "alexnet-cifar"


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)




@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A 70 %-pruned alexnet-cifar with random weights (``model``) and a profile of it (``profile``)."""
    folder = tmp_path_factory.mktemp("sparse")
    model, profile = folder / "a70.onnx", folder / "a70-profile.yaml"
    assert main(["zoo", NET, "-o", str(model), "--random-weights", "--prune", "0.7"]) == 0
    assert main(["profile", str(model), "--random", "2", "-o", str(profile), "--json"]) == 0
    return {"model": model, "profile": profile, "folder": folder}


# --- zoo --random-weights ------------------------------------------------------------------------
def test_zoo_writes_a_pruned_model_whose_zeros_are_measured_back(files, capsys):
    code, out, _ = run_cli(capsys, "inspect", files["model"], "--json")
    assert code == 0
    layers = [l for l in json.loads(out)["layers"] if l.get("weight_density") is not None]
    assert len(layers) == 8
    assert all(abs(l["weight_density"] - 0.3) < 0.01 for l in layers)
    code, out, _ = run_cli(capsys, "zoo", NET, "-o", files["folder"] / "w.onnx", "--random-weights", "--seed", "3")
    assert code == 0 and "random He-normal weights, seed 3" in out
    code, out, _ = run_cli(capsys, "inspect", files["folder"] / "w.onnx", "--json")
    assert all(l["weight_density"] > 0.99 for l in json.loads(out)["layers"] if l.get("weight_density") is not None)


@pytest.mark.parametrize("argv, words", [
    (["--prune", "0.5"], "--prune applies to random weights; add --random-weights"),
    (["--seed", "2"], "--seed applies to random weights"),
    (["--random-weights", "--prune", "1"], "argument --prune: a share of the weights in [0, 1)"),
    (["--random-weights", "--prune", "-0.1"], "argument --prune: a share of the weights in [0, 1)"),
    (["--random-weights", "--prune", "most"], "expected a share of the weights in [0, 1)"),
])
def test_zoo_bad_random_weights_are_one_line(tmp_path, capsys, argv, words):
    code, _, err = run_cli(capsys, "zoo", NET, "-o", tmp_path / "x.onnx", *argv)
    assert code == 2 and words in one_error_line(err)
    assert not (tmp_path / "x.onnx").exists()
    code, _, err = run_cli(capsys, "zoo", "--random-weights")
    assert code == 2 and "--random-weights needs a network NAME" in one_error_line(err)


# --- dense reproduces today's outputs --------------------------------------------------------------
def test_dense_evaluate_is_the_output_without_the_option(capsys):
    base = ["evaluate", NET, "--power", "20", "--design", "heuristic", "--json"]
    code, plain, _ = run_cli(capsys, *base)
    assert code == 0
    code, dense, _ = run_cli(capsys, *base, "--sparsity", "dense")
    assert code == 0 and dense == plain
    assert "sparsity" not in json.loads(plain)


def test_dense_synth_and_search_are_the_outputs_without_the_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["synth", NET, "--power", "10", "--effort", "quick", "--jobs", "1", "--json"]
    code, out, err = run_cli(capsys, *base, "--out", "plain")
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli(capsys, *base, "--out", "dense", "--sparsity", "dense")
    assert code == 0, err
    dense = json.loads(out)
    assert dense["study"] == plain["study"] == "alexnet-cifar-10W-synth-tops_per_watt-quick"
    assert dense["best"] == plain["best"] and dense["references"] == plain["references"]
    assert (tmp_path / "dense" / "design.json").read_text() == (tmp_path / "plain" / "design.json").read_text()
    assert "sparsity" not in dense and "Sparsity" not in (tmp_path / "dense" / "report.md").read_text()
    search = ["search", NET, "--power", "10", "--sampler", "ea", "--trials", "80", "--seed", "1", "--json"]
    code, out, _ = run_cli(capsys, *search)
    plain = json.loads(out)
    code, out, _ = run_cli(capsys, *search, "--sparsity", "dense")
    dense = json.loads(out)
    assert dense["best"] == plain["best"] and dense["study"] == plain["study"]


# --- the commands with densities -----------------------------------------------------------------------
def test_evaluate_scores_the_design_files_modes_with_the_densities(files, tmp_path, capsys):
    base = ["evaluate", files["model"], "--power", "20", "--json"]
    code, out, err = run_cli(capsys, *base, "--design", "heuristic", "--sparsity", "measured")
    assert code == 0, err
    d = json.loads(out)
    assert d["sparsity"].startswith("measured (weights; activations: random 8")
    weighted = [row for row in d["layers"] if "sparsity" in row]
    assert len(weighted) == 8 and all(row["sparsity"] == "none" for row in weighted)
    assert set(weighted[0]["skipped_share"]) == {"input_cycles", "adc_conversions", "row_drives", "crossbars"}
    design = dict(d["design"], sparsity=["skip"] * 8)
    path = tmp_path / "skip.json"
    path.write_text(json.dumps(design))
    code, out, _ = run_cli(capsys, *base, "--design", path, "--sparsity", files["profile"])
    skipping = json.loads(out)
    assert code == 0 and skipping["sparsity"] == "profile a70-profile.yaml (measured weights)"
    assert [row["sparsity"] for row in skipping["layers"] if "sparsity" in row] == ["skip"] * 8
    assert [row for row in skipping["layers"] if "sparsity" in row][1]["skipped_share"]["input_cycles"] > 0
    code, out, _ = run_cli(capsys, *base, "--design", path)   # dense: the modes pay and skip nothing
    dense = json.loads(out)
    assert dense["sparsity"] == "dense"
    rows = [row for row in dense["layers"] if "sparsity" in row]
    assert all(v == 0 for row in rows for v in row["skipped_share"].values())
    assert dense["energy_j"]["by_component"]["sparsity"]["static"] > 0
    code, out, _ = run_cli(capsys, "evaluate", files["model"], "--power", "20", "--design", path, "--sparsity",
                           "measured")
    assert code == 0 and "sparsity: measured" in out and "skip (-" in out


def test_synth_searches_modes_end_to_end_and_refuses_another_sparsity(files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "synth", files["model"], "--power", "10", "--effort", "quick", "--jobs", "2",
                             "--sparsity", "measured", "--json")
    assert code == 0, err
    summary = json.loads(out)
    fingerprint = summary["study"].rsplit("-sp-", 1)[1]
    assert summary["study"] == f"a70-10W-synth-tops_per_watt-quick-sp-{fingerprint}" and len(fingerprint) == 12
    assert summary["sparsity"].startswith("measured")
    folder = tmp_path / f"synth-a70-10W-quick-sp-{fingerprint}"
    report = (folder / "report.md").read_text()
    assert "Sparsity: measured" in report and "sparsity mode (skipped input cycles" in report
    # the comparison section: as designed, without sparsity support, under the dense model
    variants = summary["sparsity_comparison"]
    assert set(variants) == {"as designed", "no sparsity support", "dense model"}
    assert variants["as designed"]["tops_per_watt"] == pytest.approx(summary["best"]["tops_per_watt"], rel=1e-9)
    assert "## Sparsity" in report and "| no sparsity support |" in report and (folder / "sparsity.png").stat().st_size
    pimcomp = json.loads((folder / "pimcomp.json").read_text())
    assert all(layer["sparsity"] in ("none", "gate", "skip", "compact") for layer in pimcomp["layers"])
    code, out, _ = run_cli(capsys, "evaluate", files["model"], "--power", "10", "--design", folder / "design.json",
                           "--sparsity", "measured", "--json")
    assert code == 0
    assert json.loads(out)["tops_per_watt"] == pytest.approx(summary["best"]["tops_per_watt"], rel=1e-9)
    # the same study with other densities, or dense, is refused in one line
    base = ["synth", files["model"], "--power", "10", "--effort", "quick", "--jobs", "1", "--storage",
            f"sqlite:///{folder / 'study.db'}", "--study-name", summary["study"], "--out", folder]
    for other, words in ((["--sparsity", "dense"], "sparsity 'measured"),
                         (["--sparsity", files["profile"]], "sparsity 'measured")):
        code, _, err = run_cli(capsys, *base, *other)
        assert code == 2
        line = one_error_line(err)
        assert words in line and "pick another --study-name" in line
    code, out, _ = run_cli(capsys, *base, "--sparsity", "measured", "--json")
    assert code == 0 and json.loads(out)["search"]["searched_now"] == 0             # the same densities resume


def test_a_dense_study_refuses_a_sparse_resume(files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["search", NET, "--power", "10", "--sampler", "random", "--trials", "5", "--storage", "sqlite:///s.db",
            "--study-name", "s"]
    assert run_cli(capsys, *base)[0] == 0
    code, _, err = run_cli(capsys, *base, "--sparsity", files["profile"])
    assert code == 2 and "sparsity none, not 'profile a70-profile.yaml" in one_error_line(err)


@pytest.mark.parametrize("sampler", ["sa", "ea", "random"])
def test_search_exports_and_scores_the_mode_columns(files, capsys, sampler):
    code, out, err = run_cli(capsys, "search", files["model"], "--power", "10", "--sampler", sampler, "--trials",
                             "60", "--seed", "0", "--sparsity", "measured", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sparsity"].startswith("measured") and "-sp-" in report["study"]
    best = report["best"]
    assert best["metrics"]["sparsity"] == report["sparsity"]
    modes = best["design"].get("sparsity", ["none"] * 8)
    assert len(modes) == 8 and set(modes) <= {"none", "gate", "skip", "compact"}


def test_compare_takes_the_densities_to_its_workers(files, tmp_path, capsys):
    code, out, err = run_cli(capsys, "compare", NET, "--power", "10", "--samplers", "sa,ea", "--trials", "30",
                             "--seeds", "1", "--jobs", "2", "--out", tmp_path / "cmp", "--sparsity", files["profile"],
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["sparsity"].startswith("profile a70-profile.yaml")
    assert result["overall_best"] > 0
    assert "sparsity profile a70-profile.yaml" in (tmp_path / "cmp" / "summary.md").read_text()


def test_bench_times_random_modes_and_reports_the_spec(capsys):
    code, out, err = run_cli(capsys, "bench", "--network", NET, "--batch", "64", "--repeats", "1", "--sparsity",
                             "measured", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sparsity"] == "measured"
    row = report["networks"][0]
    assert row["sparsity"].startswith("measured") and row["evaluator"]["designs_per_s"] > 0
    code, out, _ = run_cli(capsys, "bench", "--network", NET, "--batch", "64", "--repeats", "1", "--json")
    assert "sparsity" not in json.loads(out)


# --- sweeps and ablation files ----------------------------------------------------------------------
def test_sweep_sparsity_axis_runs_in_process_and_summarises(files, tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(files["profile"].read_text())
    url = f"sqlite:///{tmp_path / 's.db'}"
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nsparsity: [dense, p.yaml]\neffort: quick\n"
                    f"storage: {url}\n")
    spec = load_sweep(path)
    assert spec.sparsity == ["dense", str(profile.resolve())]
    cells = cells_of(spec)
    assert [c.study_name for c in cells] == ["s/alexnet-cifar-10W-reram-specialised-tops_per_watt-grid-quick-s0",
                                             "s/alexnet-cifar-10W-reram-specialised-sp-p-tops_per_watt-grid-quick-s0"]
    assert Cell(**cells[1].as_dict()) == cells[1]                # what a Ray Tune trial rebuilds
    inputs = load_inputs(cells)
    assert inputs.densities_of(cells[0]) is None and inputs.densities_of(cells[1]).source.startswith("profile p.yaml")
    results = run_in_process(cells, inputs, url)
    assert all(r["best"] is not None for r in results)
    storage = open_storage(url)
    study = optuna.load_study(study_name=cells[1].study_name, storage=storage)
    assert study.user_attrs["pimtune"]["sparsity_fingerprint"] == inputs.densities_of(cells[1]).fingerprint()
    rows = summary_rows(storage, cells)
    assert [r["sparsity"] for r in rows] == ["dense", "p"]
    files_out = write_summary(rows, tmp_path / "out", "sweep s")
    assert files_out["csv"].read_text().splitlines()[0].startswith("network,power_w,tech,sparsity,")
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nsparsity: measured\n")
    (cell,) = cells_of(load_sweep(path))
    assert cell.sparsity == "measured" and "-sp-measured-" in cell.study_name
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\n")
    (cell,) = cells_of(load_sweep(path))
    assert cell.sparsity == "dense" and "-sp-" not in cell.study_name
    rows = summary_rows(storage, [cell])
    assert "sparsity" not in [c[0] for c in columns(rows)]


def test_cli_sweep_with_a_profile_on_ray(files, tmp_path):
    """One sparsity-aware cell on a local Ray: the trial gets the densities the driver computed."""
    (tmp_path / "prof.yaml").write_text(files["profile"].read_text())
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(f"name: tinysp\nnetworks: [{NET}]\npower_budgets_w: [10]\nsparsity: prof.yaml\neffort: quick\n"
                     f"storage: sqlite:///{tmp_path / 'tiny.db'}\n")
    done = subprocess.run([sys.executable, "-m", "search.cli.main", "sweep", str(sweep), "--max-concurrent", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    name = "tinysp/alexnet-cifar-10W-reram-specialised-sp-prof-tops_per_watt-grid-quick-s0"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'tiny.db'}")
    assert study.user_attrs["pimtune"]["sparsity"].startswith("profile prof.yaml")
    assert max(t.value for t in study.trials if t.value is not None) > 0


def test_ablation_files_take_a_sparsity_spec(files, tmp_path):
    from search.synth.ablations import load_ablation_file

    (tmp_path / "p.yaml").write_text(files["profile"].read_text())
    path = tmp_path / "a.yaml"
    path.write_text(f"networks: [{NET}]\npower_w: 10\nsparsity: p.yaml\n")
    assert load_ablation_file(path).sparsity == str((tmp_path / "p.yaml").resolve())
    path.write_text(f"networks: [{NET}]\npower_w: 10\n")
    assert load_ablation_file(path).sparsity == "dense"
    path.write_text(f"networks: [{NET}]\npower_w: 10\nsparsity: nope.yaml\n")
    with pytest.raises(Exception, match="sparsity: 'nope.yaml' is neither dense, measured nor a profile file"):
        load_ablation_file(path)


# --- bad input: one line each --------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["evaluate", NET, "--power", "10", "--design", "heuristic"],
    ["synth", NET, "--power", "10", "--effort", "quick", "--jobs", "1"],
    ["search", NET, "--power", "10", "--sampler", "random", "--trials", "2"],
    ["compare", NET, "--power", "10", "--samplers", "random", "--trials", "2", "--seeds", "1", "--out", "cmp"],
])
@pytest.mark.parametrize("spec, words", [
    ("sparse", "not dense, measured or a profile file"),
    ("missing.yaml", "missing.yaml"),
    ("measured", "holds no weights to measure"),
    ("TECH", "has no 'sparsity:' section"),
    ("OTHER", "do not match alexnet-cifar's weighted layers"),
])
def test_bad_sparsity_is_one_line(files, tmp_path, monkeypatch, capsys, command, spec, words):
    monkeypatch.chdir(tmp_path)
    argv = list(command)
    if spec == "TECH":                                          # a technology file without the section
        text = Path(__file__).parents[1].joinpath("costmodel/tech/reram.yaml").read_text()
        (tmp_path / "bare.yaml").write_text(text.split("\nsparsity:")[0] + "\n")
        argv += ["--tech", "bare.yaml"]
        spec = str(files["profile"])
    elif spec == "OTHER":                                       # a profile of another network
        assert main(["profile", "resnet18-cifar", "--random", "1", "--random-weights", "-o", "r18.yaml", "--json"]) == 0
        capsys.readouterr()
        spec = "r18.yaml"
    code, _, err = run_cli(capsys, *argv, "--sparsity", spec)
    assert code == 2
    assert words in one_error_line(err)
    assert not (tmp_path / "cmp").exists() and not list(tmp_path.glob("synth-*"))


def test_bad_bench_and_sweep_sparsity_are_one_line(files, tmp_path, capsys):
    code, _, err = run_cli(capsys, "bench", "--sparsity", files["profile"], "--batch", "8", "--repeats", "1")
    assert code == 2 and "pass --network NAME" in one_error_line(err)
    path = tmp_path / "s.yaml"
    for value, words in (("[dense, dense]", "repeated entries"), ("[sparse]", "'sparse' is neither a file"),
                         ("[no.yaml]", "'no.yaml' is neither a file")):
        path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nsparsity: {value}\n")
        with pytest.raises(SweepError, match="sparsity") as exc:
            load_sweep(path)
        assert words in str(exc.value) and "\n" not in str(exc.value)
    path.write_text(f"name: s\nnetworks: [{NET}]\npower_budgets_w: [10]\nsparsity: measured\n")
    with pytest.raises(Exception, match="holds no weights to measure"):
        load_inputs(cells_of(load_sweep(path)))
