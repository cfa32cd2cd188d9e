"""Epitome layers and per-layer precision in the fast cost model (MODEL.md section 11;
costmodel/epitome/mapping.py, overheads.py, costmodel/layer_map.py): the stored
matrices, passes and shares against direct counts, the dense limit, weight bits,
refusals and the design file's keys."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import load_technology
from costmodel.design import DesignBatch, DesignError, load_design, save_design
from costmodel.epitome.mapping import LayerDims, block_columns, ceil_div, matrix_geometry, sram_pack, stored
from costmodel.evaluator import evaluate
from costmodel.random_designs import random_designs, random_epitomes
from costmodel.technology import TECH_DIR, require_network_family
from costmodel.workload import build_workload
from onnx_frontend.epitome_plan import PLAN_FORMAT, EpitomePlan, apply_plan
from tests.cli_runs import one_error_line, run_cli

POWER = 20.0


@lru_cache(maxsize=None)
def network(name: str = "alexnet-cifar", plan: str | None = None):
    """A zoo network, with the plan ``plan`` (YAML text) applied when given."""
    from onnx_frontend import load_network
    from onnx_frontend.zoo import build_model
    net = load_network(build_model(name), name=name)
    return net if plan is None else apply_plan(net, EpitomePlan.model_validate(yaml.safe_load(plan)))


@lru_cache(maxsize=None)
def tech_of(name: str):
    return require_network_family(load_technology(name))


def budgets(tech_name: str) -> dict:
    return {"power_w": POWER} if tech_name == "reram" else {"power_w": None, "area_mm2": 5.0}


def designs(net, tech_name: str, n: int = 12, seed: int = 3, **kw) -> DesignBatch:
    b = budgets(tech_name)
    return random_designs(net, tech_of(tech_name), b["power_w"], n, seed=seed, area_mm2=b.get("area_mm2"),
                          segmented=True, **kw)


def scored(net, batch: DesignBatch, tech_name: str):
    b = budgets(tech_name)
    return evaluate(net, tech_of(tech_name), batch, b["power_w"], area_mm2=b.get("area_mm2"))


def full_shapes(net) -> np.ndarray:
    """(L, 4) each conv layer's full kernel as an epitome, zeros for fc layers."""
    return np.array([(l.out_channels, l.in_channels // l.groups, *l.kernel) if l.kind == "conv" else (0, 0, 0, 0)
                     for l in net.weighted_layers], dtype=np.int64)


def dims(cout, cin_g, kh, kw, groups=1) -> LayerDims:
    """One conv layer's :class:`LayerDims`."""
    a = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return LayerDims(cout=a(cout), cin_g=a(cin_g), kh=a(kh), kw=a(kw), groups=a(groups),
                     rows_dense=a(cin_g * kh * kw), cols_dense=a(cout // groups), is_conv=np.array([True]))


@st.composite
def conv_and_epitome(draw, max_channels: int = 96):
    """A conv layer's dims (groups 1, 2 or depthwise) and a valid epitome of it."""
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (3, 1)]))
    if kind == "depthwise":
        g = cout = draw(st.integers(1, max_channels))
        cin_g = 1
    else:
        g = 1 if kind == "dense" else draw(st.sampled_from([2, 4]))
        cout = g * draw(st.integers(1, max_channels // g))
        cin_g = draw(st.integers(1, max_channels // g))
    e = (draw(st.integers(1, cout)), draw(st.integers(1, cin_g)), kh + draw(st.integers(0, 2)),
         kw + draw(st.integers(0, 2)))
    return dims(cout, cin_g, kh, kw, g), np.array([e], dtype=np.int64)


def arrays_by_placement(rows_g: int, cols_g: int, groups: int, size: int, cols: int) -> int:
    """Arrays one copy of ``groups`` matrices of ``rows_g x cols_g`` needs, placed one by one:
    a matrix that fits an array goes block-diagonally into the current array while its rows
    and columns last, else into a new one; a larger one is cut into ``size x cols`` pieces."""
    arrays, used_rows, used_cols = 0, size, cols
    for _ in range(groups):
        if rows_g > size or cols_g > cols:
            arrays += -(-rows_g // size) * -(-cols_g // cols)
            continue
        if used_rows + rows_g > size or used_cols + cols_g > cols:
            arrays, used_rows, used_cols = arrays + 1, 0, 0
        used_rows, used_cols = used_rows + rows_g, used_cols + cols_g
    return arrays


# --- the stored matrices ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(conv_and_epitome(), st.sampled_from([(128, 128), (64, 32), (256, 128)]), st.sampled_from([1, 2, 4]))
def test_stored_weights_arrays_and_passes_follow_the_shapes(layer, array, pack):
    d, e = layer
    out, in_, p, q = (int(v) for v in e[0])
    s = stored(d, e, pack)
    full = (out, in_, p, q) == (int(d.cout[0]), int(d.cin_g[0]), int(d.kh[0]), int(d.kw[0]))
    assert bool(s.epitome[0]) == (not full)
    if full:
        return
    assert int(s.weights[0]) == out * in_ * p * q
    cin_g, cout, g = int(d.cin_g[0]), int(d.cout[0]), int(d.groups[0])
    assert int(s.passes[0]) == -(-cin_g // in_) * -(-cout // out)
    cols_e = min(out, cout // g)
    assert (int(s.rows_g[0]), int(s.cols_g[0]), int(s.groups[0])) == (in_ * p * q, -(-cols_e // pack), -(-out // cols_e))
    rg, cg, *_ = matrix_geometry(s.rows_g, s.cols_g, s.groups, *array)
    assert int(rg[0] * cg[0]) == arrays_by_placement(in_ * p * q, -(-cols_e // pack), -(-out // cols_e), *array)


@settings(max_examples=300, deadline=None)
@given(conv_and_epitome(), st.sampled_from([1, 2, 4]))
def test_the_shares_are_the_passes_means(layer, pack):
    """Gating identities: a pass drives its input block's window, converts its output
    block's columns and multiplies the MACs of a pixel over the passes, on average."""
    d, e = layer
    s = stored(d, e, pack)
    if not s.epitome[0]:
        return
    out, in_, p, q = (int(v) for v in e[0])
    cin_g, cout, kh, kw, g = (int(v[0]) for v in (d.cin_g, d.cout, d.kh, d.kw, d.groups))
    window = cin_g * kh * kw
    assert s.drive_share[0] * s.rows_g[0] * s.in_blocks[0] == pytest.approx(window)
    blocks = [min(out, cout - b * out) for b in range(int(s.out_blocks[0]))]
    cols = sum(int(block_columns(c, min(out, cout // g), pack)) for c in blocks)
    assert s.convert_share[0] * s.groups[0] * s.cols_g[0] * s.out_blocks[0] == pytest.approx(cols)
    assert s.products[0] * s.passes[0] == pytest.approx(window * cout)
    assert s.extra_adds[0] == (s.in_blocks[0] - 1) * cout
    if pack == 1 and out <= cout // g:                        # one stored group: a block's channels are its columns
        assert s.convert_share[0] * out * s.out_blocks[0] == pytest.approx(cout)


@settings(max_examples=300, deadline=None)
@given(conv_and_epitome(), st.data(), st.sampled_from([(128, 128), (64, 32)]))
def test_more_compression_never_needs_more_arrays(layer, data, array):
    d, big = layer
    out, in_, p, q = (int(v) for v in big[0])
    small = np.array([[data.draw(st.integers(1, out)), data.draw(st.integers(1, in_)),
                       data.draw(st.integers(int(d.kh[0]), p)), data.draw(st.integers(int(d.kw[0]), q))]])

    def arrays(e):
        s = stored(d, e, 1)
        rg, cg, *_ = matrix_geometry(s.rows_g, s.cols_g, s.groups, *array)
        return int(rg[0] * cg[0])

    assert arrays(small) <= arrays(big)
    full = np.array([[int(d.cout[0]), int(d.cin_g[0]), int(d.kh[0]), int(d.kw[0])]])
    if (big[0, 2:] == full[0, 2:]).all():                    # no larger window than the kernel: at most dense
        assert arrays(big) <= arrays(full)


# --- the dense limit ------------------------------------------------------------------------------


@pytest.mark.parametrize("tech_name", ["reram", "sram-aimc", "sram-dimc"])
def test_an_epitome_of_the_full_kernels_shape_is_the_dense_layer(tech_name):
    net = network()
    dense = designs(net, tech_name)
    same = replace(dense, epitome=np.broadcast_to(full_shapes(net), dense.dup.shape + (4,)).copy())
    plan = network(plan=yaml.safe_dump({"format": PLAN_FORMAT, "layers": {
        l.name: {"out": l.out_channels, "in": l.in_channels // l.groups, "p": l.kernel[0], "q": l.kernel[1]}
        for l in net.weighted_layers if l.kind == "conv"}}))
    a, b, c = scored(net, dense, tech_name), scored(net, same, tech_name), scored(plan, dense, tech_name)
    assert a.feasible.any()
    for other in (b, c):
        for key in ("energy_j", "latency_s", "interval_s", "area_mm2", "peak_power_w", "reason"):
            np.testing.assert_array_equal(getattr(other, key), getattr(a, key), err_msg=key)
        assert "epitome" not in other.energy_by_component_j and "epitome" not in other.area_by_component_mm2
        assert all(row["epitome"] is None and row["passes"] == 1 for row in other.layer_rows(0))


def test_random_epitomes_draw_within_bounds_from_their_own_stream():
    net = network()
    wl = build_workload(net, tech_of("reram"))
    e = random_epitomes(wl, np.random.default_rng(0), 64)
    d, conv = wl.dims, wl.dims.is_conv
    assert (e[:, ~conv] == 0).all()
    for k, top in ((0, d.cout), (1, d.cin_g)):
        assert ((e[:, conv, k] >= ceil_div(top, 4)[conv]) & (e[:, conv, k] <= top[conv])).all()
    assert np.isin(e[:, conv, 2] - d.kh[conv], (0, 1)).all() and np.isin(e[:, conv, 3] - d.kw[conv], (0, 1)).all()
    with_e, without = designs(net, "reram", epitomes=True), designs(net, "reram", epitomes=False)
    assert without.epitome is None and with_e.epitome.shape == with_e.dup.shape + (4,)
    for key in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits"):              # the other draws are unchanged
        np.testing.assert_array_equal(getattr(with_e, key), getattr(without, key))
    np.testing.assert_array_equal(designs(net, "reram", epitomes=True).epitome, with_e.epitome)
    assert designs(net, "reram").epitome is None                                 # a dense network draws none
    assert designs(network(plan=PLAN_C4), "reram").epitome is not None           # one with a plan does


PLAN_C4 = f"format: {PLAN_FORMAT}\ncompression: 4\n"
PLAN_W4 = f"format: {PLAN_FORMAT}\ncompression: 2\nweight_bits: 4\n"


# --- precision -----------------------------------------------------------------------------------


def test_crossbars_take_ceil_weight_bits_over_cell_bits_slices():
    net = network()
    batch = designs(net, "reram")
    L = batch.n_layers
    bits = np.random.default_rng(1).integers(1, 17, size=(len(batch), L))
    res = scored(net, replace(batch, weight_bits=bits), "reram")
    m, r = res.resolved.layer_map, res.resolved
    slices = -(-bits // batch.cell_bits[:, None])
    np.testing.assert_array_equal(m.slices, slices)
    held = r.crossbars[:, r.workload.layer_of_w]
    np.testing.assert_array_equal(held, r.tiles.blocks * slices)
    dense = scored(net, batch, "reram").resolved
    np.testing.assert_array_equal(m.row_groups, dense.layer_map.row_groups)


def test_sram_columns_pack_cell_bits_over_weight_bits_channels():
    net = network()
    batch = designs(net, "sram-aimc")
    for bits in (8, 4, 2, 3):
        m = scored(net, replace(batch, weight_bits=np.full(batch.dup.shape, bits)), "sram-aimc").resolved.layer_map
        pack = 8 // bits
        wl = build_workload(net, tech_of("sram-aimc"))
        np.testing.assert_array_equal(m.slices, 1)
        np.testing.assert_array_equal(np.broadcast_to(m.stored.pack, m.row_groups.shape), pack)
        np.testing.assert_array_equal(np.broadcast_to(m.stored.cols_g, m.row_groups.shape),
                                      np.broadcast_to(ceil_div(wl.dims.cols_dense, pack), m.row_groups.shape))
        np.testing.assert_array_equal(m.cell_share, bits / 8)
    assert int(sram_pack(np.array([3]), 8, True)[0]) == 2


def test_sram_weights_above_the_cells_are_one_error():
    net = network()
    batch = designs(net, "sram-aimc", n=2)
    with pytest.raises(DesignError, match="weight_bits <= 8"):
        scored(net, replace(batch, weight_bits=np.full(batch.dup.shape, 9)), "sram-aimc")


# --- refusals and files ----------------------------------------------------------------------------


def test_a_technology_without_an_epitome_section_refuses_in_one_line(tmp_path, capsys):
    tech = tech_of("reram")
    bare = tech.model_copy(update={"epitome": None})
    net = network(plan=PLAN_C4)
    batch = designs(net, "reram", n=2)
    with pytest.raises(DesignError, match="no 'epitome:' section"):
        evaluate(net, bare, batch, POWER)
    evaluate(network(), bare, designs(network(), "reram", n=2), POWER)      # dense networks still score
    data = yaml.safe_load((TECH_DIR / "reram.yaml").read_text())
    data.pop("epitome")
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "plan.yaml").write_text(PLAN_C4)
    code, _, err = run_cli(capsys, "evaluate", "alexnet-cifar", "--power", POWER, "--design", "heuristic",
                           "--tech", tmp_path / "bare.yaml", "--epitomes", tmp_path / "plan.yaml")
    assert code == 2 and "epitome:" in one_error_line(err)


def test_design_json_round_trips_epitome_and_weight_bits(tmp_path):
    net = network()
    batch = designs(net, "reram", n=3, epitomes=True)
    batch.weight_bits = np.random.default_rng(2).integers(2, 9, size=batch.dup.shape)
    path = tmp_path / "d.json"
    save_design(path, batch, 1, net)
    data = json.loads(path.read_text())
    conv = [l.kind == "conv" for l in net.weighted_layers]
    assert [e is not None for e in data["epitome"]] == conv
    assert data["weight_bits"] == batch.weight_bits[1].tolist()
    back = load_design(path, net)
    np.testing.assert_array_equal(back.epitome[0], batch.epitome[1])
    np.testing.assert_array_equal(back.weight_bits[0], batch.weight_bits[1])
    a, b = scored(net, batch.subset(1), "reram"), scored(net, back, "reram")
    np.testing.assert_array_equal(a.energy_j, b.energy_j)


def test_evaluate_json_gives_each_layers_epitome_passes_and_bits(tmp_path, capsys):
    (tmp_path / "plan.yaml").write_text(PLAN_W4)
    code, out, _ = run_cli(capsys, "evaluate", "alexnet-cifar", "--power", POWER, "--design", "heuristic",
                           "--epitomes", tmp_path / "plan.yaml", "--json")
    assert code in (0, 1)
    d = json.loads(out)
    net = network(plan=PLAN_W4)
    rows = {r["name"]: r for r in d["layers"]}
    for layer in net.layers:
        row = rows[layer.name]
        if layer.kind == "conv":
            e = layer.epitome
            assert row["epitome"] == {"out": e.out, "in": e.in_, "p": e.p, "q": e.q}
            assert row["passes"] == -(-(layer.in_channels // layer.groups) // e.in_) * -(-layer.out_channels // e.out)
        elif layer.kind == "fc":
            assert row["epitome"] is None and row["passes"] == 1
        else:
            assert row["epitome"] is None and row["passes"] is None and row["weight_bits"] is None
        if layer.is_weighted:
            assert row["weight_bits"] == 4
    assert "epitome" in d["energy_j"]["by_component"] and "epitome" in d["area_mm2"]["by_component"]
    code, out, _ = run_cli(capsys, "evaluate", "alexnet-cifar", "--power", POWER, "--design", "heuristic", "--json")
    d = json.loads(out)
    assert "epitome" not in d["energy_j"]["by_component"] and "epitome" not in d["area_mm2"]["by_component"]
    assert all(r["epitome"] is None for r in d["layers"])


@pytest.mark.parametrize("command", [["evaluate", "--design", "heuristic"], ["validate", "--designs", "2"]])
def test_epitomes_with_sparsity_are_one_error_line(tmp_path, capsys, command):
    from onnx_frontend.zoo import build_model
    from onnx_frontend.zoo.random_weights import with_random_weights
    import onnx
    model = tmp_path / "a.onnx"
    onnx.save(with_random_weights(build_model("alexnet-cifar")), model)
    (tmp_path / "plan.yaml").write_text(PLAN_C4)
    code, _, err = run_cli(capsys, command[0], model, "--power", POWER, *command[1:], "--epitomes",
                           tmp_path / "plan.yaml", "--sparsity", "measured")
    assert code == 2 and "--epitomes" in one_error_line(err)
