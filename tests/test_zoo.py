"""The benchmark zoo: every network writes a small valid ONNX file with the right totals."""

from __future__ import annotations

import onnx
import pytest

from onnx_frontend import FrontendError, load_network
from onnx_frontend.zoo import NETWORKS, build_model, network_names, save_model
from search.cli.main import main

# name: (conv layers, fc layers, exact MACs, published GMACs)
EXPECTED = {
    "alexnet": (5, 3, 714_188_480, 0.714),
    "vgg13": (10, 3, 11_308_466_176, 11.31),
    "vgg16": (13, 3, 15_470_264_320, 15.47),
    "msra-a": (16, 3, 19_051_814_912, 19.05),
    "resnet18": (20, 1, 1_814_073_344, 1.81),
    "resnet34": (36, 1, 3_663_761_408, 3.66),  # torchvision's 3.66 GFLOPS
    "resnet50": (53, 1, 4_089_184_256, 4.1),
    "mobilenetv2": (52, 1, 300_774_272, 0.30),
    "alexnet-cifar": (5, 3, 62_742_528, 0.0627),
    "vgg16-cifar": (13, 1, 313_201_664, 0.313),
    "resnet18-cifar": (20, 1, 555_422_720, 0.556),
}


def test_every_network_is_pinned():
    assert network_names() == list(NETWORKS) == list(EXPECTED)
    assert all(desc and "\n" not in desc for _, desc in NETWORKS.values())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_round_trip_through_file(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    size = save_model(name, path)
    assert size == path.stat().st_size < 100_000
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    assert not [t for t in model.graph.initializer if len(t.dims)]  # scalars only, no weights
    data = model.graph.input[0]
    assert data.name == "input"
    assert data.type.tensor_type.shape.dim[0].dim_param == "N"

    net = load_network(path)
    conv, fc, macs, published = EXPECTED[name]
    assert (net.count("conv"), net.count("fc")) == (conv, fc)
    assert net.macs == macs
    assert net.macs == pytest.approx(published * 1e9, rel=0.005)
    assert net.input_shape == ((3, 32, 32) if name.endswith("-cifar") else (3, 224, 224))
    assert net[net.outputs()[0]].out_channels == (10 if name.endswith("-cifar") else 1000)


def test_structure_details():
    msra = load_network(build_model("msra-a"))
    fc1 = msra.weighted_layers[16]
    assert fc1.kind == "fc" and fc1.in_channels == 30720 and fc1.matrix_rows == 30720
    assert msra.count("concat") == 1
    assert load_network(build_model("resnet18")).count("eltwise") == 8
    assert load_network(build_model("resnet50")).count("eltwise") == 16
    mnv2 = load_network(build_model("mobilenetv2"))
    assert mnv2.count("eltwise") == 10
    depthwise = [l for l in mnv2.layers if l.groups > 1]
    assert len(depthwise) == 17 and all(l.groups == l.in_channels == l.out_channels for l in depthwise)
    assert "relu6" in mnv2[0].activation


def test_unknown_name():
    with pytest.raises(FrontendError, match="unknown zoo network 'vgg17'.*resnet18-cifar") as info:
        build_model("vgg17")
    assert "\n" not in str(info.value)


def test_cli_list(capsys):
    assert main(["zoo", "--list"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert "15.470" in out and "3x32x32" in out


def test_cli_write(tmp_path, capsys):
    path = tmp_path / "vgg16.onnx"
    assert main(["zoo", "vgg16", "-o", str(path)]) == 0
    size = path.stat().st_size
    assert capsys.readouterr().out.strip() == f"wrote {path} ({size} bytes, 15.470 GMACs)"
    assert load_network(path).macs == EXPECTED["vgg16"][2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["zoo", "vgg17", "-o", "x.onnx"], "unknown zoo network"),
        (["zoo", "vgg16"], "-o FILE"),
        (["zoo", "vgg16", "-o", "/nonexistent-dir/x.onnx"], "cannot write"),
    ],
)
def test_cli_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimtune: error: ") and message in err and err.count("\n") == 1
