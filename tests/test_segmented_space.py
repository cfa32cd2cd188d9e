"""Segmented design spaces (MODEL.md section 8): when they exist, repair, the EA's segment
moves, the per-segment copy fill, the CLI options and the study identity.

Rules are re-stated here from the model text (per-segment crossbar sums against the
technology's crossbar rows; sharing within a segment), not taken from space/segmentation.py.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import evaluate
from costmodel.design import DesignBatch
from costmodel.reference_designs import reference_design
from costmodel.technology import load_technology
from onnx_frontend import load_network
from onnx_frontend.zoo import NETWORKS, build_model
from search.cli.main import main
from search.operators.evolution import mutate
from search.operators.segment_moves import segment_columns
from space import DesignSpace, SpaceOptions, repair
from space.segmentation import fill_segments

optuna.logging.set_verbosity(optuna.logging.WARNING)
TECH = load_technology("reram")
SEEDS = st.integers(0, 2**32 - 1)
# networks whose one copy fits nowhere in the box at these budgets, so every design reloads
DO_NOT_FIT = [("vgg16-cifar", 2.0), ("resnet18", 2.0)]
STRUCTURAL = {1, 3, 8}       # invalid_partition, weights_do_not_fit, macro_capacity


@lru_cache(maxsize=None)
def network(name: str):
    return load_network(build_model(name))


@lru_cache(maxsize=None)
def space_of(name: str, power: float, **options) -> DesignSpace:
    return DesignSpace.for_network(network(name), TECH, power, SpaceOptions(**options))


def per_segment_crossbars(batch: DesignBatch, res) -> np.ndarray:
    """(N, S) crossbars each segment holds, from the technology's geometry (one tile of a
    tiled layer), summed in plain Python."""
    r = res.resolved
    out = np.zeros((len(batch), batch.n_layers))
    for n in range(len(batch)):
        for j in range(batch.n_layers):
            out[n, batch.segment[n, j]] += r.crossbars[n, r.workload.layer_of_w[j]]
    return out


def test_a_space_is_segmented_only_when_the_network_fits_nowhere():
    assert not space_of("alexnet-cifar", 49.0).segmented
    assert not space_of("vgg16", 49.0).segmented                 # fits with 4-bit cells
    assert space_of("vgg16", 20.0).segmented
    assert space_of("alexnet-cifar", 49.0, segments="searched").segmented
    assert not space_of("vgg16", 20.0, segments="one").segmented
    sp = space_of("vgg16-cifar", 2.0)
    names = sp.names
    L = len(sp.macro_cols)
    assert [n for n in names if n.startswith("seg_")] == [f"seg_{j:02d}" for j in range(1, L)]
    assert [n for n in names if n.startswith("flow_")] == [f"flow_{j:02d}" for j in range(L)]
    assert sp.columns[sp.batch_col].choices == (1, 2, 4, 8, 16, 32, 64)
    assert space_of("vgg16-cifar", 2.0, batch=3).columns[space_of("vgg16-cifar", 2.0, batch=3).batch_col].choices == (3,)
    # exports carry the new columns
    assert "batch" in sp.to_optuna() and "seg_01" in sp.to_optuna()


def test_a_network_that_fits_keeps_todays_space():
    """Same columns, same repaired rows: nothing segmented appears where one copy fits."""
    sp = space_of("alexnet-cifar", 20.0)
    assert not any(n.startswith(("seg_", "flow_", "batch")) for n in sp.names)
    X = repair(sp, sp.random(64, np.random.default_rng(3)))
    b = sp.to_batch(X)
    assert (b.segment == 0).all() and (b.batch == 1).all() and (b.dataflow == 0).all()


@pytest.mark.parametrize("name, power", DO_NOT_FIT)
@settings(max_examples=6, deadline=None)
@given(seed=SEEDS)
def test_repaired_random_designs_of_a_network_that_does_not_fit_are_feasible(name, power, seed):
    sp = space_of(name, power)
    X = repair(sp, sp.random(96, np.random.default_rng(seed)))
    assert np.array_equal(repair(sp, X), X)                        # idempotent
    batch = sp.to_batch(X)
    seg = batch.segment
    assert (seg[:, 0] == 0).all() and np.isin(np.diff(seg, axis=1), (0, 1)).all()
    res = evaluate(network(name), TECH, batch, power)
    # no structural failure: every segment within the chip, partitions and sharing legal
    assert not np.isin(res.reason, list(STRUCTURAL)).any()
    held = per_segment_crossbars(batch, res)
    assert (held <= res.resolved.n_xbar_budget[:, None]).all()
    share = batch.share
    rows, layers = np.nonzero(share >= 0)
    assert (seg[rows, layers] == seg[rows, share[rows, layers]]).all()
    assert res.feasible.mean() > 0.3                               # the rest: peripheral power of big shares
    assert (res.resolved.offchip.reloads.sum(1) > 0).all()          # every design reloads


@pytest.mark.parametrize("name, power", DO_NOT_FIT)
def test_segment_moves_return_repaired_rows_and_change_segments(name, power):
    sp = space_of(name, power)
    rng = np.random.default_rng(0)
    X = repair(sp, sp.random(64, rng))
    cols = segment_columns(sp)
    Y = mutate(sp, X, rng, p_macro=0.0, p_share=0.0, p_segment=1.0)
    assert np.array_equal(repair(sp, Y), Y)
    assert (Y[:, cols] != X[:, cols]).any(1).mean() > 0.5
    # only segment moves ran: globals unchanged
    g = sp.index["xbar_size"]
    assert np.array_equal(Y[:, g], X[:, g])


def test_fill_segments_fills_each_segment_within_its_crossbars():
    sp = space_of("vgg16-cifar", 2.0)
    X = repair(sp, sp.random(64, np.random.default_rng(1)))
    fill_segments(sp, X)
    R = repair(sp, X)                                              # macros and sharing follow the new copies
    dup_cols = sp.dup_cols[sp.conv]
    assert np.array_equal(R[:, dup_cols], X[:, dup_cols])          # the copies already fit their segments
    batch = sp.to_batch(R)
    res = evaluate(network("vgg16-cifar"), TECH, batch, 2.0)
    assert (per_segment_crossbars(batch, res) <= res.resolved.n_xbar_budget[:, None]).all()
    assert (batch.dup > 1).any()                                   # there was room, and it was used


@pytest.mark.parametrize("name", list(NETWORKS))
def test_one_segment_and_batch_one_equal_todays_evaluator(name):
    """Golden figures unchanged: a design with explicit one segment, batch 1 and
    weight-stationary dataflow scores exactly as one without the new keys."""
    net = network(name)
    base = reference_design("no-dup", net, TECH, 200.0)
    explicit = DesignBatch(**{k: getattr(base, k) for k in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits", "dup",
                                                             "macros", "share", "offchip_links")},
                           segment=np.zeros_like(base.dup), batch=1, dataflow=np.zeros_like(base.dup))
    a, b = (evaluate(net, TECH, d, 200.0).metrics(0) for d in (base, explicit))
    assert a == b
    assert a["energy_j"]["by_component"]["dram"]["dynamic"] == 0
    assert a["energy_j"]["by_component"]["array_write"]["dynamic"] == 0


def test_cli_batch_and_segments_options_reach_the_space_and_the_study(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = ["search", "vgg16-cifar", "--power", "2", "--sampler", "random", "--trials", "8", "--seed", "0",
            "--storage", url, "--study-name", "s", "--json"]
    assert main(args + ["--batch", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best"]["design"]["batch"] == 4
    assert len(out["best"]["design"]["segment"]) == len(out["best"]["design"]["layers"])
    # resuming with another batch is refused in one line, the study left as it was
    assert main(args + ["--batch", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimtune: error: study 's'") and "\n" not in err
    assert main(args + ["--batch", "4", "--trials", "12"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"] == 12
    # a fitting network with --segments one has no segment columns; --segments searched has them
    one = DesignSpace.for_network(network("alexnet-cifar"), TECH, 20.0, SpaceOptions(segments="one"))
    searched = DesignSpace.for_network(network("alexnet-cifar"), TECH, 20.0, SpaceOptions(segments="searched"))
    assert not one.segmented and searched.segmented and searched.dims > one.dims


def test_a_synthesis_whose_grid_fits_nowhere_searches_segments():
    """AlexNet-CIFAR at 5 W fits once only above the grid's largest crossbar share (0.3):
    the box is not segmented, the grid synthesis is; a fixed choice is left alone."""
    from search.synth.effort import effort_named
    from search.synth.synthesis import SynthesisPlan, synthesis_space

    net = network("alexnet-cifar")
    plan = SynthesisPlan(effort=effort_named("quick"))
    assert not DesignSpace.for_network(net, TECH, 5.0).segmented
    assert synthesis_space(net, TECH, 5.0, SpaceOptions(), plan).segmented
    assert not synthesis_space(net, TECH, 5.0, SpaceOptions(segments="one"), plan).segmented
    assert not synthesis_space(net, TECH, 49.0, SpaceOptions(), plan).segmented


@pytest.mark.parametrize("name, power", [("vgg16", 20.0), ("vgg16-cifar", 2.0)])
def test_reference_designs_of_a_network_that_fits_nowhere_run_in_segments(name, power):
    """The heuristic and no-dup baselines pack the layers into segments where no grid
    point holds one copy; the no-dup baseline keeps one copy of every layer."""
    net = network(name)
    for ref in ("heuristic", "no-dup"):
        batch = reference_design(ref, net, TECH, power, batch=16)
        res = evaluate(net, TECH, batch, power)
        assert res.feasible[0] and batch.n_segments[0] > 1 and batch.batch[0] == 16
        held = per_segment_crossbars(batch, res)
        assert (held <= res.resolved.n_xbar_budget[:, None]).all()
        if ref == "no-dup":              # (the heuristic's copies depend on the grid point that wins)
            assert (batch.dup[0] == 1).all()
