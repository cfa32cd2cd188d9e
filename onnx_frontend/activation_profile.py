"""Activation profiles: how many of each weighted layer's inputs are zero, and how many of
their bits, measured by running the model with ONNX Runtime (issue: sparsity).

:func:`measure_profile` runs the model on N inputs (a user's array, or N standard-normal
draws, which the profile says) and records, per weighted layer, the share of non-zero
input values (``input_density``) and per bit of the ``activation_bits``-bit codes the
share of ones (``bit_density``, least significant bit first; the codes of a per-layer
quantisation: ``round(x / max(x) * (2^A - 1))`` for non-negative inputs, sign-magnitude
otherwise, the sign as the top bit). ONNX Runtime's outputs are used for densities only.

A profile is a YAML file (:class:`Profile`) a user may also write by hand: per layer, or
one ``density`` for every layer. :func:`load_profile` validates it against a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from onnx_frontend.schema_errors import describe, first_error
from onnx_frontend.text_files import read_text

PROFILE_FORMAT = "pimtune-profile/1"
Share = Field(ge=0, le=1)


class ProfileError(PimtuneError):
    """A profile cannot be measured, read or applied."""


class LayerDensity(BaseModel):
    """One weighted layer's inputs: non-zero share and per-bit share of ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_density: float = Share
    bit_density: list[float] | None = None

    @model_validator(mode="after")
    def _bits(self):
        if self.bit_density is not None and not all(0 <= b <= 1 for b in self.bit_density):
            raise ValueError(f"bit_density values must be shares in [0, 1], got {self.bit_density}")
        return self


class Profile(BaseModel):
    """A profile file (``format: pimtune-profile/1``); ``layers`` by layer name, or one
    ``density`` for every weighted layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[PROFILE_FORMAT]
    network: str
    source: str = "written by hand"
    activation_bits: int = Field(default=8, ge=1, le=32)
    density: float | None = Field(default=None, ge=0, le=1)
    layers: dict[str, LayerDensity] | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.density is None) == (self.layers is None):
            raise ValueError("give either 'density' (one share for every layer) or 'layers' (per layer), not both")
        for name, d in (self.layers or {}).items():
            if d.bit_density is not None and len(d.bit_density) != self.activation_bits:
                raise ValueError(f"layer '{name}': bit_density has {len(d.bit_density)} values, "
                                 f"activation_bits is {self.activation_bits}")
        return self

    def density_of(self, layer: str) -> LayerDensity:
        """The densities of weighted layer ``layer``."""
        return LayerDensity(input_density=self.density) if self.layers is None else self.layers[layer]


def measure_profile(model: onnx.ModelProto, network: Network, inputs: np.ndarray | None = None,
                    random: int = 0, seed: int = 0, activation_bits: int = 8) -> Profile:
    """Run ``model`` on ``inputs`` (N, C, H, W) or on ``random`` standard-normal inputs and
    measure every weighted layer's input densities (module docstring)."""
    names = [(l.name, t) for l, t in zip(network.layers, network.input_tensors) if t is not None]
    if not names:
        raise ProfileError(f"{network.name}: no weighted layer to profile")
    shape = network.input_shape
    if inputs is None:
        if random < 1:
            raise ProfileError("give --inputs FILE.npy or --random N (N >= 1)")
        inputs = random_inputs(network, random, seed)
        source = random_source(random, seed)
    else:
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.shape == shape:
            inputs = inputs[None]
        if inputs.ndim != 4 or inputs.shape[1:] != shape:
            raise ProfileError(f"inputs of shape {list(inputs.shape)} do not fit {network.name}'s input "
                               f"{list(shape)}; give (N, {', '.join(map(str, shape))}) values")
        source = f"inputs ({len(inputs)})"
    wanted = list(dict.fromkeys(t for _, t in names))
    stats = {t: _Counts(activation_bits) for t in wanted}
    for values in layer_inputs(model, network, inputs):
        for t in wanted:
            stats[t].add(values[t])
    layers = {name: stats[t].density() for name, t in names}
    return Profile(format=PROFILE_FORMAT, network=network.name, source=source, activation_bits=activation_bits,
                   layers=layers)


def random_inputs(network: Network, n: int, seed: int = 0) -> np.ndarray:
    """``(n, C, H, W)`` float32 standard-normal inputs of ``network`` (seeded)."""
    return np.random.default_rng(seed).standard_normal((n, *network.input_shape)).astype(np.float32)


def random_source(n: int, seed: int = 0) -> str:
    """How :func:`random_inputs` were drawn, for reports."""
    return f"random {n} (standard normal, seed {seed})"


def layer_inputs(model: onnx.ModelProto, network: Network, inputs: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    """Per input of ``inputs`` (N, C, H, W), the ONNX tensors the weighted layers read
    (``network.input_tensors``: name -> array of batch 1), computed by ONNX Runtime.
    ProfileError (one line) for a model without weights or one ONNX Runtime cannot run."""
    import onnxruntime as ort                                   # only where a model is run

    data_in = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(data_in) != 1:
        raise ProfileError(f"{network.name}: the model has parameters without data "
                           f"({len(data_in) - 1} graph inputs besides the data); profiling runs the model, so "
                           "it needs its weights (pimtune zoo models are structure-only)")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    wanted = list(dict.fromkeys(t for t in network.input_tensors if t is not None))
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in wanted if t not in known)
    try:
        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:                                    # ORT's own errors are long
        raise ProfileError(f"{network.name}: ONNX Runtime cannot run the model "
                           f"({str(exc).splitlines()[0][:200]})") from None
    outputs = [o.name for o in session.get_outputs()]
    for x in inputs:
        yield dict(zip(outputs, session.run(outputs, {data_in[0].name: x[None]})))


def quantised(x: np.ndarray, bits: int) -> np.ndarray:
    """The ``bits``-bit codes of one tensor's values (same shape, int64): max-scaled,
    sign-magnitude with the sign as the top bit when any value is negative (module
    docstring)."""
    x = np.asarray(x, dtype=np.float64)
    top = np.abs(x).max() if x.size else 0.0
    if top == 0:
        return np.zeros(x.shape, dtype=np.int64)
    signed = bool((x < 0).any())
    levels = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    code = np.rint(np.abs(x) / top * levels).astype(np.int64)
    if signed:
        code |= (x < 0).astype(np.int64) << (bits - 1)
    return code


class _Counts:
    """Running counts of non-zeros and of ones per bit of one tensor over the inputs."""

    def __init__(self, bits: int) -> None:
        self.bits, self.values, self.nonzero = bits, 0, 0
        self.ones = np.zeros(bits, dtype=np.int64)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        self.values += x.size
        self.nonzero += int(np.count_nonzero(x))
        code = quantised(x, self.bits)
        self.ones += [(code >> b & 1).sum() for b in range(self.bits)]

    def density(self) -> LayerDensity:
        n = max(self.values, 1)
        return LayerDensity(input_density=self.nonzero / n, bit_density=[float(o / n) for o in self.ones])


def profile_yaml(profile: Profile) -> str:
    """The profile file's text."""
    return yaml.safe_dump(profile.model_dump(exclude_none=True), sort_keys=False)


def save_profile(path: str | Path, profile: Profile) -> None:
    Path(path).write_text(profile_yaml(profile))


def load_profile(path: str | Path, network: Network) -> Profile:
    """Read and validate a profile file for ``network``; ProfileError (one line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile file; write one with pimtune profile MODEL -o {path}")
    try:
        data = yaml.safe_load(read_text(path, ProfileError, "profile file"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: {describe(first_error(exc), Profile)}") from None
    weighted = [l.name for l in network.layers if l.is_weighted]
    if profile.layers is not None:
        missing = [n for n in weighted if n not in profile.layers]
        unknown = [n for n in profile.layers if n not in weighted]
        if missing or unknown:
            raise ProfileError(f"{path}: the profile's layers do not match {network.name}'s weighted layers "
                               f"(missing {missing[:3]}, unknown {unknown[:3]}); profile this model again")
    return profile
