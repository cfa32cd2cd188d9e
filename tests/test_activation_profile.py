"""Activation profiles measured with ONNX Runtime, profile files, zoo models with random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from onnx import numpy_helper

from onnx_frontend import load_network
from onnx_frontend.activation_profile import (PROFILE_FORMAT, Profile, ProfileError, load_profile, measure_profile,
                                              save_profile)
from onnx_frontend.zoo import build_model
from onnx_frontend.zoo.random_weights import with_random_weights
from search.cli.main import main
from tests.onnx_styles import Styled


def relu_conv_model():
    """x (1, 2, 4, 4) -> Conv a (1x1, identity) -> Relu -> Conv b (1x1): b reads relu(x)."""
    s = Styled(in_shape=(1, 2, 4, 4))
    eye = s.name("w")
    s.inits.append(numpy_helper.from_array(np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1), eye))
    y = s.node("Conv", ["x", eye], kernel_shape=[1, 1])
    r = s.node("Relu", [y])
    w2 = s.name("w")
    s.inits.append(numpy_helper.from_array(np.ones((3, 2, 1, 1), dtype=np.float32), w2))
    out = s.node("Conv", [r, w2], kernel_shape=[1, 1])
    proto = s.model(out)
    return proto, load_network(proto, name="tiny")


def bit_shares(x: np.ndarray, bits: int) -> list[float]:
    """Per-bit share of ones of the codes of ``x`` (the module's quantisation, written out)."""
    top = np.abs(x).max()
    if (x < 0).any():
        code = np.rint(np.abs(x) / top * (2 ** (bits - 1) - 1)).astype(int) | ((x < 0).astype(int) << (bits - 1))
    else:
        code = np.rint(x / top * (2 ** bits - 1)).astype(int)
    return [float(((code >> b) & 1).mean()) for b in range(bits)]


def test_densities_of_known_inputs():
    proto, net = relu_conv_model()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    x[0, 0] = 0                                           # some exact zeros in the network input
    p = measure_profile(proto, net, inputs=x)
    first, second = (p.layers[l.name] for l in net.layers if l.is_weighted)
    assert first.input_density == pytest.approx((x != 0).mean())
    assert second.input_density == pytest.approx((np.maximum(x, 0) != 0).mean())
    # per input, as the profile counts them (each input quantised on its own maximum)
    expect = np.mean([bit_shares(np.maximum(xi, 0), 8) for xi in x], axis=0)
    assert second.bit_density == pytest.approx(expect.tolist())
    assert p.source == "inputs (3)" and p.format == PROFILE_FORMAT


def test_random_inputs_say_so_and_are_seeded():
    proto, net = relu_conv_model()
    a, b = (measure_profile(proto, net, random=4, seed=7) for _ in range(2))
    assert a == b and a.source.startswith("random 4 (standard normal")
    assert 0.3 < list(a.layers.values())[1].input_density < 0.7     # ReLU of normal inputs: about half


def test_structure_only_models_cannot_be_run():
    proto = build_model("alexnet-cifar")
    with pytest.raises(ProfileError, match="needs its weights"):
        measure_profile(proto, load_network(proto), random=1)


def test_random_weights_prune_each_tensor_and_run():
    proto = with_random_weights(build_model("resnet18-cifar"), seed=1, prune=0.7)
    net = load_network(proto, name="r")
    dens = [d.density for d in net.weight_densities if d is not None]
    assert len(dens) == len([l for l in net.layers if l.is_weighted])
    assert all(abs(d - 0.3) < 0.01 for d in dens)
    p = measure_profile(proto, net, random=2)
    assert set(p.layers) == {l.name for l in net.layers if l.is_weighted}
    with pytest.raises(Exception, match="prune"):
        with_random_weights(build_model("resnet18-cifar"), prune=1.0)


def test_profile_files_round_trip_and_a_global_density(tmp_path):
    proto, net = relu_conv_model()
    p = measure_profile(proto, net, random=2)
    save_profile(tmp_path / "p.yaml", p)
    assert load_profile(tmp_path / "p.yaml", net) == p
    (tmp_path / "g.yaml").write_text(f"format: {PROFILE_FORMAT}\nnetwork: tiny\ndensity: 0.5\n")
    g = load_profile(tmp_path / "g.yaml", net)
    assert g.density_of(net.layers[0].name).input_density == 0.5


@pytest.mark.parametrize("text, words", [
    ("density: 1.5", "less than or equal to 1"),
    ("density: 0.5\nlayers: {}", "not both"),
    ("", "give either 'density'"),
    ("density: lots", "valid number"),
    ("activation_bits: 4\nlayers: {a: {input_density: 0.5, bit_density: [0.1, 0.2]}}", "activation_bits is 4"),
    ("layers: {a: {input_density: -0.1}}", "greater than or equal to 0"),
    ("layers: {a: {input_density: 0.5, bit_density: [0.1, 2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}}", "shares in [0, 1]"),
    ("density: 0.5\ncolour: red", "colour"),
])
def test_bad_profile_values_are_one_line(tmp_path, text, words):
    _, net = relu_conv_model()
    path = tmp_path / "p.yaml"
    path.write_text(f"format: {PROFILE_FORMAT}\nnetwork: tiny\n{text}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path, net)
    assert words in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_profile_of_another_network_is_refused(tmp_path):
    _, net = relu_conv_model()
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"format": PROFILE_FORMAT, "network": "x",
                                    "layers": {"conv9": {"input_density": 0.5}}}))
    with pytest.raises(ProfileError, match="do not match tiny's weighted layers"):
        load_profile(path, net)
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "none.yaml", net)


def test_cli_writes_the_profile(tmp_path, capsys):
    proto, net = relu_conv_model()
    model = tmp_path / "tiny.onnx"
    model.write_bytes(proto.SerializeToString())
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "prof.yaml"
    assert main(["profile", str(model), "--inputs", str(tmp_path / "x.npy"), "-o", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["file"] == str(out) and Profile.model_validate(yaml.safe_load(out.read_text()))
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4, 4), dtype=np.float32))
    assert main(["profile", str(model), "--inputs", str(tmp_path / "bad.npy"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimtune: error: ") and err.count("\n") == 1 and "do not fit" in err
    assert main(["profile", "alexnet-cifar", "--random", "1", "-o", str(out)]) == 2
    assert "needs its weights" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    (["--random", "1", "-o", "/nonexistent/dir/p.yaml"], "does not exist"),
    (["--random", "1", "--act-bits", "40"], "1 to 32 bits"),
    (["--random", "1", "--prune", "0.5"], "--prune applies to --random-weights"),
])
def test_cli_bad_arguments_are_one_line(tmp_path, capsys, extra, words):
    proto, _ = relu_conv_model()
    model = tmp_path / "tiny.onnx"
    model.write_bytes(proto.SerializeToString())
    out = ["-o", str(tmp_path / "p.yaml")] if "-o" not in extra else []
    try:
        code = main(["profile", str(model), *extra, *out])
    except SystemExit as exc:                    # argparse's own refusals exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("pimtune: error: ") and words in err
    (tmp_path / "bad.npy").write_text("not numpy")
    assert main(["profile", str(model), "--inputs", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "p.yaml")]) == 2
    assert "not a readable numeric .npy array" in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()
