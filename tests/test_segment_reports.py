"""Reports of segmented designs (MODEL.md section 8): the metrics and `evaluate --json`,
the text of `evaluate`, and the synthesis report, pimcomp export and energy plot."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution

from costmodel import evaluate, load_design
from costmodel.design import DesignBatch
from costmodel.technology import TECH_DIR
from search.cli.main import main
from search.synth import effort as effort_module
from search.synth.effort import Effort
from search.synth.synth_report import write_outputs
from search.synth.synthesis import SynthesisPlan
from space import DesignSpace

POWER = 2.0                # vgg16-cifar's weights need ~5x the crossbars 2 W pays for
MACRO_XBARS = 512          # the technology's macro.max_crossbars: 64 blocks of 8 slices
TINY = Effort(name="quick", sa_chains=2, sa_steps=30, candidates=2, population=6, generations=3,
              rram_ratios=(0.2, 0.3), points_per_batch=2)


def run_json(capsys, argv):
    code = main(argv + ["--json"])
    return code, json.loads(capsys.readouterr().out)


def design_dict(network, macros, segment=None, batch=None, dataflow=None) -> dict:
    """vgg16-cifar with one copy per layer: 0.2 rram_ratio, 2-bit cells (8 slices), 128x128
    crossbars, 1-bit DACs, no sharing; optional segment keys."""
    names = [w.name for w in network.weighted_layers]
    d = {"format": "pimtune-design/1", "network": network.name, "layers": names, "rram_ratio": 0.2,
         "cell_bits": 2, "xbar_size": 128, "dac_bits": 1, "offchip_links": 0, "macro_mode": "specialised",
         "dup": [1] * len(names), "macros": macros, "share": [-1] * len(names)}
    for key, value in (("segment", segment), ("batch", batch), ("dataflow", dataflow)):
        if value is not None:
            d[key] = value
    return d


def greedy_segments(crossbars: list[int], budget: int) -> list[int]:
    """Consecutive layers packed into segments of at most ``budget`` crossbars."""
    seg, s, used = [], 0, 0
    for x in crossbars:
        if used and used + x > budget:
            s, used = s + 1, 0
        used += x
        seg.append(s)
    return seg


@pytest.fixture(scope="module")
def vgg(zoo_net):
    return zoo_net("vgg16-cifar")


@pytest.fixture(scope="module")
def layout(vgg, tech):
    """Per weighted layer: crossbars of one copy, macros holding them, and the greedy
    segments of the 2 W chip (1333 crossbars)."""
    L = len(vgg.weighted_layers)
    one = DesignBatch(rram_ratio=[0.2], cell_bits=[2], xbar_size=[128], dac_bits=[1], dup=[[1] * L],
                      macros=[[1] * L], share=[[-1] * L])
    r = evaluate(vgg, tech, one, POWER).resolved
    xbars = r.crossbars[0, r.workload.layer_of_w].astype(int).tolist()
    budget = int(r.n_xbar_budget[0])
    assert budget == 1333 and sum(xbars) > budget
    return {"crossbars": xbars, "macros": [math.ceil(x / MACRO_XBARS) for x in xbars],
            "segment": greedy_segments(xbars, budget)}


@pytest.fixture(scope="module")
def segmented_file(vgg, layout, tmp_path_factory):
    path = tmp_path_factory.mktemp("segments") / "segmented.json"
    path.write_text(json.dumps(design_dict(vgg, layout["macros"], segment=layout["segment"], batch=8,
                                           dataflow=["weight_stationary"] * len(layout["macros"]))))
    return path


@pytest.fixture(scope="module")
def resident_file(vgg, layout, tmp_path_factory):
    path = tmp_path_factory.mktemp("resident") / "resident.json"
    path.write_text(json.dumps(design_dict(vgg, layout["macros"])))
    return path


# --- evaluate --json and the metrics -----------------------------------------------------------
def test_evaluate_json_of_a_segmented_design(capsys, segmented_file, layout, vgg, tech):
    code, data = run_json(capsys, ["evaluate", "vgg16-cifar", "--power", "2", "--design", str(segmented_file)])
    assert code == 0 and data["feasible"] is True
    seg = layout["segment"]
    assert data["batch"] == 8 and data["segments"] == seg[-1] + 1 == 7
    assert data["reloads"] is True
    assert data["offchip_bytes_per_inference"] > 0
    assert data["reload_energy_j"] > 0 and data["reload_time_s"] > 0
    # every layer's weights are written once per batch of 8: a cell lasts 8 x its endurance
    assert data["endurance_inferences"] == pytest.approx(tech.array_write.endurance_writes * 8)
    # the per-layer table of evaluate: every layer, weighted ones with their segment figures
    rows = {row["name"]: row for row in data["layers"]}
    weighted = [w.name for w in vgg.weighted_layers]
    assert [rows[n]["segment"] for n in weighted] == seg
    assert all(rows[n]["dataflow"] == "weight_stationary" and rows[n]["tiles"] == 1 for n in weighted)
    assert sum(row["reload_energy_j"] for row in data["layers"]) == pytest.approx(data["reload_energy_j"], rel=1e-9)
    assert all(row["reload_energy_j"] > 0 for row in data["layers"] if row["name"] in weighted)
    assert all(row["dataflow"] is None and row["reload_energy_j"] == 0 for row in data["layers"]
               if row["name"] not in weighted)
    # energy components: the reloads are DRAM reads and array writes
    by = data["energy_j"]["by_component"]
    assert {"dram", "array_write", "global_buffer"} <= set(by)
    dram, writes = by["dram"]["dynamic"], by["array_write"]["dynamic"]
    assert dram > 0 and writes > 0 and by["global_buffer"]["static"] > 0
    assert writes < data["reload_energy_j"] <= (dram + writes) * (1 + 1e-9)
    parts = sum(v["static"] + v["dynamic"] for v in by.values())
    assert parts == pytest.approx(data["energy_j"]["total"], rel=1e-6)
    # the chip holds the largest segment
    g = data["globals"]
    assert g["segments"] == 7 and g["batch"] == 8 and g["reloads"] is True
    sizes = [sum(x for x, s in zip(layout["crossbars"], seg) if s == k) for k in range(7)]
    assert g["chip_crossbars"] == max(sizes) <= g["crossbar_budget"] < g["crossbars_used"]
    assert g["chip_macros"] < g["macros"]
    assert data["design"]["segment"] == seg and data["design"]["batch"] == 8


def test_metrics_list_the_weighted_layers(segmented_file, vgg, tech):
    batch = load_design(segmented_file, vgg)
    m = evaluate(vgg, tech, batch, POWER).metrics(0)
    assert [row["name"] for row in m["layers"]] == [w.name for w in vgg.weighted_layers]
    assert set(m["layers"][0]) == {"name", "segment", "dataflow", "tiles", "reload_energy_j", "epitome", "passes",
                                   "weight_bits"}
    assert m["layers"][0]["epitome"] is None and m["layers"][0]["passes"] == 1
    assert sum(row["reload_energy_j"] for row in m["layers"]) == pytest.approx(m["reload_energy_j"], rel=1e-9)
    assert json.loads(json.dumps(m)) == m                      # plain JSON values


def test_one_segment_design_keeps_its_weights(capsys, resident_file):
    # the same layers all resident: 12 W pays for every crossbar
    code, data = run_json(capsys, ["evaluate", "vgg16-cifar", "--power", "12", "--design", str(resident_file)])
    assert code == 0
    assert data["segments"] == 1 and data["batch"] == 1 and data["reloads"] is False
    assert data["reload_energy_j"] == 0 and data["reload_time_s"] == 0 and data["offchip_bytes_per_inference"] == 0
    assert data["endurance_inferences"] is None
    assert all(row["reload_energy_j"] == 0 for row in data["layers"])
    by = data["energy_j"]["by_component"]
    for c in ("dram", "array_write", "global_buffer"):
        assert by[c]["static"] == 0 and by[c]["dynamic"] == 0
    assert data["design"]["segment"] == [0] * len(data["design"]["dup"])
    assert data["design"]["dataflow"] == ["weight_stationary"] * len(data["design"]["dup"])


def test_no_endurance_figure_gives_null(capsys, segmented_file, tmp_path):
    spec = yaml.safe_load((TECH_DIR / "reram.yaml").read_text())
    spec["array_write"]["endurance_writes"] = None
    tech_file = tmp_path / "no-endurance.yaml"
    tech_file.write_text(yaml.safe_dump(spec))
    code, data = run_json(capsys, ["evaluate", "vgg16-cifar", "--power", "2", "--design", str(segmented_file),
                                   "--tech", str(tech_file)])
    assert code == 0 and data["reloads"] is True and data["endurance_inferences"] is None


def test_tiled_layers_reload_per_inference_unless_weight_stationary(vgg, tech, layout):
    # at 1 W (666 crossbars) conv9..conv13 (1152 each) run alone in two tiles each
    seg = greedy_segments(layout["crossbars"], 666)
    macros = [min(2, m) for m in layout["macros"]]
    L = len(seg)
    batch = DesignBatch(rram_ratio=[0.2] * 2, cell_bits=[2] * 2, xbar_size=[128] * 2, dac_bits=[1] * 2,
                        dup=[[1] * L] * 2, macros=[macros] * 2, share=[[-1] * L] * 2, segment=[seg] * 2,
                        batch=[4, 4], dataflow=[[0] * L, [1] * L])
    res = evaluate(vgg, tech, batch, 1.0)
    assert res.feasible.all()
    ws, stat = res.metrics(0), res.metrics(1)
    tiled = [row["name"] for row in ws["layers"] if row["tiles"] > 1]
    assert tiled == ["conv9", "conv10", "conv11", "conv12", "conv13"]
    assert stat["layers"][8]["dataflow"] == "input_stationary"
    # weight-stationary: once per batch of 4; input-stationary: once per inference
    assert ws["endurance_inferences"] == pytest.approx(tech.array_write.endurance_writes * 4)
    assert stat["endurance_inferences"] == pytest.approx(tech.array_write.endurance_writes)
    assert stat["reload_energy_j"] > ws["reload_energy_j"] and stat["reload_time_s"] > ws["reload_time_s"]


# --- evaluate's text ------------------------------------------------------------------------------
def test_evaluate_text_shows_the_segments(capsys, segmented_file):
    assert main(["evaluate", "vgg16-cifar", "--power", "2", "--design", str(segmented_file)]) == 0
    out = capsys.readouterr().out
    for text in ("7 segments, batch 8: weights reloaded", "off-chip traffic", "most rewritten cells last",
                 "segments (times per batch of 8)", "conv1 .. conv7 (7 layers)", "conv13, fc1", "on the chip",
                 "dataflow", "WS", "dram", "array_write", "global_buffer"):
        assert text in out, text


def test_evaluate_text_of_a_resident_design(capsys, resident_file):
    assert main(["evaluate", "vgg16-cifar", "--power", "12", "--design", str(resident_file)]) == 0
    out = capsys.readouterr().out
    assert "every weight is resident" in out
    assert "segments (times per batch" not in out and "dataflow" not in out


# --- the synthesis report -------------------------------------------------------------------------
def test_synth_report_of_a_resident_design_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(effort_module.EFFORTS, "quick", TINY)
    out = tmp_path / "out"
    assert main(["synth", "alexnet-cifar", "--power", "20", "--effort", "quick", "--jobs", "1",
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best"]["reloads"] is False and summary["best"]["endurance_inferences"] is None
    report = (out / "report.md").read_text()
    assert report.count("Every weight is resident (one segment, written once, never reloaded).") == 1
    assert "## Segments" not in report and "dataflow" not in report
    for component in ("dram", "array_write", "global_buffer"):
        assert f"| {component}" not in report
    pim = json.loads((out / "pimcomp.json").read_text())
    assert pim["segments"] == 1 and pim["batch"] == 1
    assert {l["segment"] for l in pim["layers"]} == {0} and {l["tiles"] for l in pim["layers"]} == {1}


def test_synth_report_of_a_segmented_design(tmp_path, segmented_file, vgg, tech, layout):
    """The outputs of a study whose best design is the segmented one (a stored trial)."""
    space = DesignSpace.for_network(vgg, tech, POWER)
    design = json.loads(segmented_file.read_text())
    res = evaluate(vgg, tech, load_design(segmented_file, vgg), POWER)
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"rram_ratio": 0.2, "cell_bits": 2, "xbar_size": 128},
        distributions={"rram_ratio": FloatDistribution(0.1, 0.9), "cell_bits": CategoricalDistribution([1, 2, 4]),
                       "xbar_size": CategoricalDistribution([128, 256, 512])},
        value=float(res.tops_per_watt[0]), user_attrs={"design": design, "metrics": res.metrics(0), "stats": {}}))
    summary = write_outputs(tmp_path, space, study, SynthesisPlan(effort=TINY), "memory")
    assert summary["best"]["segments"] == 7 and summary["best"]["reloads"] is True
    report = (tmp_path / "report.md").read_text()
    assert "## Segments and weight reloads" in report and "Every weight is resident" not in report
    for text in ("7 segments, batch 8", "off-chip traffic", "most rewritten cells last", "reload ms per batch",
                 "conv1 .. conv7 (7 layers)", "| dataflow", "weight_stationary", "reload uJ per inference",
                 "| dram", "| array_write", "| global_buffer", "on the chip"):
        assert text in report, text
    pim = json.loads((tmp_path / "pimcomp.json").read_text())
    assert pim["segments"] == 7 and pim["batch"] == 8
    assert [l["segment"] for l in pim["layers"]] == layout["segment"]
    assert pim["chip_config"]["core_cnt"] == int(res.resolved.segment_macros[0].max())
    assert (tmp_path / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(summary["best"]["reload_energy_j"], res.reload_energy_j[0])
