"""The cost-model commands (evaluate, validate, bench) end to end, and their helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from costmodel import evaluate, load_technology, reference_design, save_design
from costmodel.fidelity import TARGETS, rankdata, spearman
from costmodel.random_designs import random_designs
from costmodel.summary import design_summary
from search.cli.common import load_model_arg
from search.cli.main import main

METRIC_KEYS = {"feasible", "reason", "tops_per_watt", "peak_tops_per_watt", "throughput_ips", "latency_s",
               "energy_j", "power_w", "area_mm2"}


def run_json(capsys, argv):
    code = main(argv + ["--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.fixture(scope="module")
def alexnet():
    return load_model_arg("alexnet-cifar")


@pytest.fixture(scope="module")
def tech():
    return load_technology("reram")


@pytest.mark.parametrize("design", ["isaac", "no-dup", "heuristic"])
def test_evaluate_reference_design_text(capsys, design):
    # ISAAC's tiles of 96 crossbars hold alexnet-cifar from 53-54 W on
    code = main(["evaluate", "alexnet-cifar", "--power", "65.8", "--design", design])
    out = capsys.readouterr().out
    assert code == 0
    for text in ("TOPS/W", "throughput", "per-layer allocation", "breakdown by component", "bottleneck: layer",
                 "conv1"):
        assert text in out


@pytest.mark.parametrize("design", ["isaac", "no-dup", "heuristic"])
def test_evaluate_reference_design_json(capsys, design):
    code, data = run_json(capsys, ["evaluate", "resnet18-cifar", "--power", "49", "--design", design])
    assert code == 0
    assert METRIC_KEYS <= set(data)
    assert data["feasible"] is True and data["reason"] == "ok"
    assert data["tops_per_watt"] > 0 and data["throughput_ips"] > 0 and data["latency_s"] > 0
    energy = data["energy_j"]
    assert {"total", "dynamic", "static", "by_component"} <= set(energy)
    parts = sum(v["static"] + v["dynamic"] for v in energy["by_component"].values())
    assert parts == pytest.approx(energy["total"], rel=1e-6)
    assert data["power_w"]["peak"] <= data["power_w"]["budget"] * (1 + 1e-9)
    assert data["area_mm2"]["total"] > 0
    assert data["design"]["format"] == "pimtune-design/1"
    layers = data["layers"]
    assert len(layers) == 30 and sum(row["bottleneck"] for row in layers) == 1
    assert {"name", "kind", "dup", "crossbars", "set_macros", "set_adcs", "steps", "busy_per_step_ns",
            "busy_share_pct"} <= set(layers[0])


def test_evaluate_design_file_round_trip(capsys, tmp_path, alexnet, tech):
    batch = reference_design("heuristic", alexnet, tech, 30.0)
    path = tmp_path / "design.json"
    save_design(path, batch, 0, alexnet)
    _, from_name = run_json(capsys, ["evaluate", "alexnet-cifar", "--power", "30", "--design", "heuristic"])
    code, from_file = run_json(capsys, ["evaluate", "alexnet-cifar", "--power", "30", "--design", str(path)])
    assert code == 0
    for key in METRIC_KEYS | {"design", "layers"}:
        assert from_file[key] == from_name[key], key


def test_evaluate_infeasible_design_exits_1(capsys, tmp_path, alexnet, tech):
    batch = random_designs(alexnet, tech, 20.0, 64, seed=0)
    res = evaluate(alexnet, tech, batch, 20.0)
    bad = int(np.flatnonzero(~res.feasible)[0])
    path = tmp_path / "bad.json"
    save_design(path, batch, bad, alexnet)
    code = main(["evaluate", "alexnet-cifar", "--power", "20", "--design", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "INFEASIBLE" in out and res.reason_name(bad) in out
    code, data = run_json(capsys, ["evaluate", "alexnet-cifar", "--power", "20", "--design", str(path)])
    assert code == 1 and data["feasible"] is False and data["reason"] == res.reason_name(bad)


def test_evaluate_accepts_onnx_path(capsys, tmp_path):
    assert main(["zoo", "alexnet-cifar", "-o", str(tmp_path / "a.onnx")]) == 0
    capsys.readouterr()
    code, data = run_json(capsys, ["evaluate", str(tmp_path / "a.onnx"), "--power", "49", "--design", "no-dup"])
    assert code == 0 and data["feasible"]


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "other"}), json.dumps([])])
def test_malformed_design_file_exit_2(capsys, tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    code = main(["evaluate", "alexnet-cifar", "--power", "49", "--design", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pimtune: error:") and len(err.strip().splitlines()) == 1


def test_design_of_another_network_exit_2(capsys, tmp_path, tech):
    other = load_model_arg("resnet18-cifar")
    path = tmp_path / "other.json"
    save_design(path, reference_design("no-dup", other, tech, 49.0), 0, other)
    code = main(["evaluate", "alexnet-cifar", "--power", "49", "--design", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "weighted layer 5 is 'conv6' in the design" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("model", ["missing.onnx", "no-such-network"])
def test_missing_model_exit_2(capsys, model):
    code = main(["evaluate", model, "--power", "49", "--design", "isaac"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and model in err and "pimtune zoo --list" in err


def test_bad_power_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "alexnet-cifar", "--power", "-5", "--design", "isaac"])
    assert exc.value.code == 2
    assert "positive, finite number of W (got '-5')" in capsys.readouterr().err


def test_design_summary_tables(alexnet, tech):
    batch = reference_design("heuristic", alexnet, tech, 49.0)
    res = evaluate(alexnet, tech, batch, 49.0)
    s = design_summary(alexnet, res, 0, batch)
    assert s["globals"]["crossbars_used"] <= s["globals"]["crossbar_budget"]
    assert s["globals"]["crossbars_used"] == sum(row["crossbars"] for row in s["layers"])
    for table in ("energy", "peak_power", "area"):
        assert sum(row["share_pct"] for row in s[table]) == pytest.approx(100.0)
    b = s["bottleneck"]
    assert b["busy_us"] == max(row["busy_us"] for row in s["layers"])
    assert s["metrics"] == res.metrics(0)


def test_validate_meets_targets(capsys):
    code, data = run_json(capsys, ["validate", "alexnet-cifar", "--power", "20", "--designs", "8"])
    assert code == 0 and data["designs"] == 8
    assert data["latency_err_max"] <= TARGETS["latency_err_max"]
    assert data["energy_err_max"] <= TARGETS["energy_err_max"]
    assert data["tops_per_watt_spearman"] >= TARGETS["tops_per_watt_spearman"]
    assert data["latency_err_median"] <= data["latency_err_max"]
    assert data["sim_seconds_per_design"] > 0


def test_validate_text_and_tiny_budget(capsys):
    assert main(["validate", "alexnet-cifar", "--power", "20", "--designs", "3"]) == 0
    assert "Spearman" in capsys.readouterr().out
    assert main(["validate", "alexnet-cifar", "--power", "0.01", "--designs", "3"]) == 2
    err = capsys.readouterr().err
    assert "raise --power" in err and len(err.strip().splitlines()) == 1


def test_bench_json(capsys):
    code, data = run_json(capsys, ["bench", "--network", "alexnet-cifar", "--batch", "256", "--repeats", "2"])
    assert code == 0
    (row,) = data["networks"]
    assert row["network"] == "alexnet-cifar"
    ev, ref = row["evaluator"], row["reference"]
    assert ev["batch"] == 256 and len(ev["times_s"]) == 2
    assert ev["designs_per_s"] > 0 and ev["ms_per_batch"] > 0
    assert ref["designs"] == 3 and ref["median_s"] > 0 and all(s > 0 for s in ref["steps"])


def test_bench_unknown_network(capsys):
    assert main(["bench", "--network", "lenet"]) == 2
    assert "unknown network" in capsys.readouterr().err


def test_rankdata_average_ties():
    assert rankdata([10, 20, 20, 30, 10]).tolist() == [1.5, 3.5, 3.5, 5.0, 1.5]


def test_spearman_with_ties_hand_computed():
    # ranks a = [1, 2.5, 2.5, 4], b = [1, 2, 3, 4]: centred (-1.5, 0, 0, 1.5) and
    # (-1.5, -0.5, 0.5, 1.5); covariance sum 4.5, norms sqrt(4.5) and sqrt(5)
    a, b = [1.0, 2.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0]
    assert spearman(a, b) == pytest.approx(4.5 / np.sqrt(4.5 * 5.0))
    assert spearman(b, b) == pytest.approx(1.0)
    assert spearman(b, b[::-1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
