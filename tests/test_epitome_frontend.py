"""Epitome layers in the frontend: ONNX epitome chains, plan files and ``inspect``
(onnx_frontend/epitome.py, epitome_chain.py, epitome_plan.py; issue 16 item 1)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnx_frontend import FrontendError, load_network
from onnx_frontend.epitome import Epitome
from onnx_frontend.epitome_chain import epitome_weights
from onnx_frontend.epitome_plan import PLAN_FORMAT, EpitomePlan, EpitomePlanError, apply_plan, compressed_epitome
from onnx_frontend.zoo import build_model
from tests.cli_runs import one_error_line, run_cli

RNG = np.random.default_rng(16)
E = RNG.standard_normal((4, 2, 5, 5)).astype(np.float32)


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def epitome_conv(chain: str = "tile", structure_only: bool = False, source: np.ndarray = E) -> onnx.ModelProto:
    """x (1, 4, 8, 8) -> Conv(W) -> (1, 8, 8, 8), W (8, 4, 3, 3) sampled from ``source``
    (4, 2, 5, 5): a Slice to (4, 2, 3, 3), then a Tile (``chain="tile"``) or a Concat along
    both channel axes (``"concat"``), or a Gather of channels through an Identity
    (``"gather"``). ``structure_only``: the source is a graph input without data."""
    inits = [_ints("st", [0, 0]), _ints("en", [3, 3]), _ints("ax", [2, 3]), _ints("rep", [2, 2, 1, 1]),
             _ints("idx", [0, 1, 2, 3, 3, 2, 1, 0])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])]
    if structure_only:
        inputs.append(helper.make_tensor_value_info("E", TensorProto.FLOAT, list(source.shape)))
    else:
        inits.append(numpy_helper.from_array(source, "E"))
    nodes = [helper.make_node("Slice", ["E", "st", "en", "ax"], ["Es"], name="cut")]
    if chain == "tile":
        nodes.append(helper.make_node("Tile", ["Es", "rep"], ["W"], name="tile"))
    elif chain == "concat":
        nodes += [helper.make_node("Concat", ["Es", "Es"], ["Eo"], axis=0, name="outs"),
                  helper.make_node("Concat", ["Eo", "Eo"], ["W"], axis=1, name="ins")]
    else:
        nodes += [helper.make_node("Identity", ["Es"], ["Ei"], name="alias"),
                  helper.make_node("Gather", ["Ei", "idx"], ["Eg"], axis=0, name="outs"),
                  helper.make_node("Concat", ["Eg", "Eg"], ["W"], axis=1, name="ins")]
    nodes.append(helper.make_node("Conv", ["x", "W"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    graph = helper.make_graph(nodes, "epi", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def numpy_kernel(chain: str, source: np.ndarray = E) -> np.ndarray:
    """The full kernel ``epitome_conv(chain)`` computes, by numpy."""
    cut = source[:, :, :3, :3]
    if chain == "tile":
        return np.tile(cut, (2, 2, 1, 1))
    if chain == "concat":
        return np.concatenate([np.concatenate([cut, cut], 0)] * 2, 1)
    return np.concatenate([cut[[0, 1, 2, 3, 3, 2, 1, 0]]] * 2, 1)


@pytest.mark.parametrize("chain", ["tile", "concat", "gather"])
def test_an_exported_epitome_conv_loads_with_its_epitome_and_stored_weights(chain):
    layer = load_network(epitome_conv(chain)).layers[0]
    assert layer.epitome == Epitome(4, 2, 5, 5)
    assert layer.stored_weights == 4 * 2 * 5 * 5
    assert (layer.weights, layer.out_channels, layer.in_channels, layer.kernel) == (8 * 4 * 3 * 3, 8, 4, (3, 3))


@pytest.mark.parametrize("chain", ["tile", "concat", "gather"])
def test_folding_the_chain_gives_numpys_full_kernel(chain):
    source = E.copy()
    source[RNG.random(source.shape) < 0.4] = 0
    model = epitome_conv(chain, source=source)
    computed = epitome_weights(model.graph, 17)["W"]
    kernel = numpy_kernel(chain, source)
    np.testing.assert_array_equal(computed.kernel, kernel)
    assert computed.source == "E"
    density = load_network(model).weight_densities[0].density
    assert density == pytest.approx((kernel != 0).mean(), abs=0)


def test_a_structure_only_epitome_has_its_shape_and_no_densities():
    network = load_network(epitome_conv("tile", structure_only=True))
    assert network.layers[0].epitome == Epitome(4, 2, 5, 5)
    assert network.weight_densities[0] is None


def test_an_epitome_source_of_another_rank_is_one_clear_error():
    """A (16, 3, 3) source gathered to (32, 3, 3) and reshaped into the (8, 4, 3, 3) weight."""
    inits = [numpy_helper.from_array(RNG.standard_normal((16, 3, 3)).astype(np.float32), "E"),
             _ints("idx", [i % 16 for i in range(32)]), _ints("shape", [8, 4, 3, 3])]
    nodes = [helper.make_node("Gather", ["E", "idx"], ["Eg"], axis=0),
             helper.make_node("Reshape", ["Eg", "shape"], ["W"]),
             helper.make_node("Conv", ["x", "W"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "epi", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], initializer=inits)
    with pytest.raises(FrontendError, match=r"'E' of shape \[16, 3, 3\].*4-D \(out, in, P, Q\)") as err:
        load_network(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert "\n" not in str(err.value)


def test_epitomes_change_the_fingerprint_and_leave_dense_equality_alone():
    dense = load_network(build_model("resnet18"))
    again = load_network(build_model("resnet18"))
    planned = apply_plan(dense, EpitomePlan(format=PLAN_FORMAT, compression=4))
    bits = apply_plan(dense, EpitomePlan(format=PLAN_FORMAT, weight_bits=3))
    assert dense == again and all(l.epitome is None for l in dense.layers)
    assert dense.fingerprint() == again.fingerprint()
    assert len({dense.fingerprint(), planned.fingerprint(), bits.fingerprint()}) == 3
    assert repr(planned.layers) == repr(dense.layers)           # out of the repr: the fingerprint adds them
    assert all(l.stored_weights == l.weights for l in dense.layers)
    assert {l.weight_bits for l in bits.weighted_layers} == {3}


def test_plan_precision_globally_and_per_layer_with_compression():
    dense = load_network(build_model("resnet18"))
    conv1 = dense.weighted_layers[0]
    plan = EpitomePlan.model_validate({"format": PLAN_FORMAT, "compression": 2, "activation_bits": 6,
                                       "layers": {conv1.name: {"weight_bits": 8, "out": 64, "in": 3, "p": 7, "q": 7}}})
    got = apply_plan(dense, plan)
    first = got.layers[conv1.index]
    assert first.epitome == Epitome(64, 3, 7, 7) and first.weight_bits == 8 and first.activation_bits == 6
    assert all(l.activation_bits == 6 and l.weight_bits is None for l in got.weighted_layers[1:])
    assert all(l.epitome is not None for l in got.layers if l.kind == "conv")


@settings(max_examples=60, deadline=None)
@given(out=st.integers(1, 64), in_=st.integers(1, 64), p=st.integers(1, 9), q=st.integers(1, 9),
       extra=st.tuples(st.integers(0, 8), st.integers(0, 8)))
def test_stored_weights_follow_the_shape_exactly(out, in_, p, q, extra):
    epitome = Epitome(out, in_, p, q)
    assert epitome.stored_weights == out * in_ * p * q
    assert epitome.misfit(out + extra[0], in_ + extra[1], (p, q)) == ""
    assert "smaller than" in epitome.misfit(out, in_, (p + 1, q))


@settings(max_examples=40, deadline=None)
@given(ratio=st.floats(1, 64), pick=st.integers(0, 100))
def test_the_global_compression_reaches_at_least_the_ratio(ratio, pick):
    convs = [l for l in load_network(build_model("resnet18")).layers if l.kind == "conv"]
    layer = convs[pick % len(convs)]
    epitome = compressed_epitome(layer, ratio)
    assert (epitome.p, epitome.q) == layer.kernel
    assert epitome.misfit(layer.out_channels, layer.in_channels // layer.groups, layer.kernel) == ""
    assert layer.weights / epitome.stored_weights >= ratio or (epitome.out, epitome.in_) == (1, 1)


def _plan(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(f"format: {PLAN_FORMAT}\n{text}")
    return path


@pytest.fixture
def resnet18(tmp_path):
    path = tmp_path / "resnet18.onnx"
    onnx.save(build_model("resnet18"), path)
    return path


@pytest.mark.parametrize("text, words", [
    ("layers:\n  nope: {out: 8, in: 8, p: 3, q: 3}\n", "layer 'nope' is not in"),
    ("layers:\n  fc1: {out: 8, in: 8, p: 1, q: 1}\n", "epitomes apply to conv layers only"),
    ("layers:\n  conv1: {out: 8, in: 3, p: 5, q: 7}\n", "smaller than the 7x7 kernel"),
    ("layers:\n  conv1: {out: 128, in: 3, p: 7, q: 7}\n", "more channels than the layer"),
    ("compression: 0.5\n", "'compression'"),
    ("layers:\n  conv1: {out: 8, in: 3}\n", "needs all of out, in, p and q"),
    ("layers:\n  conv1: {}\n", "give an epitome"),
    ("weight_bits: 0\n", "'weight_bits'"),
    ("layers:\n  conv1: {out: 8, inn: 3, p: 7, q: 7}\n", "allowed keys: out, in, p, q"),
])
def test_a_bad_plan_is_one_clear_line(tmp_path, capsys, resnet18, text, words):
    code, _, err = run_cli(capsys, "inspect", resnet18, "--epitomes", _plan(tmp_path, text), "--json")
    assert code == 2
    assert words in one_error_line(err)


def test_inspect_shows_a_plans_epitomes(tmp_path, capsys, resnet18):
    plan = _plan(tmp_path, "layers:\n  conv1: {out: 16, in: 3, p: 8, q: 8}\n")
    code, out, _ = run_cli(capsys, "inspect", resnet18, "--epitomes", plan, "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["layers"]}
    assert rows["conv1"]["epitome"] == {"out": 16, "in": 3, "p": 8, "q": 8}
    assert rows["conv1"]["stored_weights"] == 16 * 3 * 8 * 8
    assert rows["fc1"]["epitome"] is None and rows["fc1"]["stored_weights"] == 512 * 1000
    code, out, _ = run_cli(capsys, "inspect", resnet18, "--epitomes", plan)
    assert code == 0 and "epitome" in out and "16x3x8x8" in out


def test_inspect_of_an_exported_epitome_model(tmp_path, capsys):
    path = tmp_path / "epi.onnx"
    onnx.save(epitome_conv("gather"), path)
    code, out, _ = run_cli(capsys, "inspect", path, "--json")
    layer = json.loads(out)["layers"][0]
    assert code == 0 and layer["epitome"] == {"out": 4, "in": 2, "p": 5, "q": 5} and layer["stored_weights"] == 200


def test_dense_inspect_keeps_its_output_and_adds_the_new_keys(capsys, resnet18):
    code, out, _ = run_cli(capsys, "inspect", resnet18, "--json")
    rows = json.loads(out)["layers"]
    network = load_network(resnet18)
    assert code == 0
    for row, layer in zip(rows, network.layers):
        assert list(row)[-2:] == ["stored_weights", "epitome"]
        assert row["stored_weights"] == layer.weights and row["epitome"] is None
        assert list(row)[:12] == ["name", "kind", "in_channels", "out_channels", "kernel", "stride", "groups",
                                  "out_hw", "macs", "weight_density", "zero_rows", "zero_cols"]
    code, out, _ = run_cli(capsys, "inspect", resnet18)
    assert code == 0 and "epitome" not in out
