"""The frontend reads models written in several exporter styles and refuses bad input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_frontend import FrontendError, UnsupportedOperatorError, load_network
from search.cli.main import main
from tests.onnx_styles import Styled


def small_cnn(opset: int, batch="N") -> onnx.ModelProto:
    """conv-BN-ReLU, maxpool, residual add, concat, flatten chain, MatMul+Add, Gemm."""
    s = Styled((1, 3, 32, 32), batch=batch)
    a = s.relu(s.bn(s.conv("x", 3, 16, bias=False), 16))
    p = s.node("MaxPool", [a], kernel_shape=[2, 2], strides=[2, 2])  # 16x16x16
    b = s.relu(s.conv(p, 16, 16))
    r = s.relu(s.node("Add", [b, p]))
    c = s.node("Concat", [r, p], axis=1)  # 32 channels
    g = s.node("GlobalAveragePool", [c])
    f = s.shape_flatten(g, opset)
    m = s.node("MatMul", [f, s.init((32, 20))])
    m = s.relu(s.node("Add", [m, s.init((20,))]))
    d = s.node("Dropout", [m])
    out = s.node("Gemm", [d, s.init((10, 20)), s.init((10,))], transB=1)
    return s.model(s.node("Softmax", [out], axis=1), opset, out_shape=[batch, 10])


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_styles_load_with_exact_counts(opset):
    net = load_network(small_cnn(opset))
    kinds = [l.kind for l in net.layers]
    assert kinds == ["conv", "pool", "conv", "eltwise", "concat", "pool", "fc", "fc"]
    conv1, pool1, conv2, add, cat, gap, fc1, fc2 = net.layers
    assert conv1.activation == ("relu",) and conv1.bias == 0
    assert conv1.macs == 16 * 32 * 32 * 27
    assert conv2.macs == 16 * 16 * 16 * 9 * 16
    assert add.producers == (2, 1) and add.activation == ("relu",)
    assert cat.producers == (3, 1) and cat.out_shape == (32, 16, 16) and cat.in_channels == 32
    assert gap.kernel == (16, 16) and gap.pool_type == "avg"
    assert fc1.in_shape == (32, 1, 1) and fc1.out_shape == (20, 1, 1)
    assert fc1.bias == 20 and fc1.activation == ("relu",)
    assert fc2.weights == 200 and fc2.bias == 10
    assert net.totals() == {
        "macs": conv1.macs + conv2.macs + 32 * 20 + 20 * 10,
        "conv_layers": 2,
        "fc_layers": 2,
        "params": 16 * 27 + 16 * 16 * 9 + 16 + 32 * 20 + 20 + 200 + 10,
    }
    assert net.consumers[1] == (2, 3, 4)
    assert net.outputs() == (7,)


def test_conv_variants_grouped_depthwise_dilated_strided_asymmetric():
    s = Styled((1, 8, 17, 17))
    a = s.conv("x", 8, 8, k=3, groups=8)  # depthwise
    b = s.conv(a, 8, 16, k=3, groups=4, dilation=2)
    c = s.conv(b, 16, 16, k=3, stride=2, pads=[0, 1, 1, 0])
    d = s.conv(c, 16, 4, k=3, stride=2, auto_pad="SAME_UPPER")
    net = load_network(s.model(d))
    dw, grouped, asym, same = net.layers
    assert dw.groups == 8 and dw.weights == 8 * 9 and dw.macs == 8 * 17 * 17 * 9
    assert dw.matrix_rows == 9 and dw.matrix_cols == 1
    assert grouped.dilation == (2, 2) and grouped.padding == (2, 2, 2, 2)
    assert grouped.macs == 16 * 17 * 17 * 9 * 2
    assert asym.padding == (0, 1, 1, 0) and asym.out_hw == (8, 8)
    assert same.out_hw == (4, 4) and same.padding == (0, 0, 1, 1)


def test_pad_node_is_absorbed_by_the_next_conv():
    s = Styled((1, 4, 8, 8))
    pads = s.init((8,), np.int64, [0, 0, 1, 2, 0, 0, 1, 0])
    p = s.node("Pad", ["x", pads], mode="constant")
    c = s.conv(p, 4, 4, k=3, pads=[0, 0, 0, 0])
    (conv,) = load_network(s.model(c)).layers
    assert conv.in_shape == (4, 8, 8) and conv.padding == (1, 2, 1, 0)
    assert conv.out_hw == (8, 8)


def test_structure_only_weights_as_graph_inputs():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [6, 3, 3, 3])
    fw = helper.make_tensor_value_info("fw", TensorProto.FLOAT, [5, 6 * 36])
    fb = helper.make_tensor_value_info("fb", TensorProto.FLOAT, [5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    m = helper.make_model(helper.make_graph(nodes, "g", [x, w, fw, fb], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    net = load_network(m)
    assert [l.kind for l in net.layers] == ["conv", "fc"]
    assert net.layers[1].macs == 216 * 5 and net.layers[1].bias == 5
    assert net.input_shape == (3, 8, 8)
    assert len(m.SerializeToString()) < 1000


def lstm_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 1, 8])
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 32, 4], np.zeros(128, np.float32))
    r = helper.make_tensor("R", TensorProto.FLOAT, [1, 32, 8], np.zeros(256, np.float32))
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=8, name="rnn0")
    g = helper.make_graph([node], "rnn", [x], [y], initializer=[w, r])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_recurrent_model_is_refused_in_one_line():
    with pytest.raises(UnsupportedOperatorError) as info:
        load_network(lstm_model())
    msg = str(info.value)
    assert "LSTM" in msg and "rnn0" in msg and "supported:" in msg and "\n" not in msg


def test_non_static_shape_names_the_tensor():
    s = Styled((1, 3, 8, 8))
    c = s.conv("x", 3, 4)
    m = s.model(c)
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    with pytest.raises(FrontendError, match="no static shape"):
        load_network(m)


def test_two_data_inputs_are_refused():
    s = Styled((1, 3, 8, 8))
    out = s.node("Add", ["x", "x2"])
    m = s.model(out)
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 3, 8, 8]))
    m.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 3, 8, 8]))
    with pytest.raises(FrontendError, match="2 data inputs"):
        load_network(m)


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(FrontendError, match="nope.onnx: no such file"):
        load_network(missing)
    junk = tmp_path / "junk.onnx"
    junk.write_text("this is not a model\n" * 5)
    with pytest.raises(FrontendError, match="junk.onnx"):
        load_network(junk)
    good = tmp_path / "good.onnx"
    onnx.save(small_cnn(17), good)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FrontendError, match="truncated.onnx"):
        load_network(truncated)


@pytest.mark.parametrize("case", ["missing", "junk", "lstm"])
def test_cli_reports_bad_input_in_one_line(tmp_path, capsys, case):
    path = tmp_path / f"{case}.onnx"
    if case == "junk":
        path.write_bytes(b"\x00\x01garbage")
    elif case == "lstm":
        onnx.save(lstm_model(), path)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimtune: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_inspect_json_fields(tmp_path, capsys):
    import json

    path = tmp_path / "m.onnx"
    onnx.save(small_cnn(17), path)
    assert main(["inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["conv_layers"] == 2 and data["totals"]["fc_layers"] == 2
    first = data["layers"][0]
    assert set(first) >= {"name", "kind", "in_channels", "out_channels", "kernel", "stride", "groups", "out_hw", "macs"}
    assert first["kind"] == "conv" and first["out_hw"] == [32, 32] and first["in_channels"] == 3
    assert main(["inspect", str(path)]) == 0
    assert "GMACs" in capsys.readouterr().out
