"""Epitome plan files: which conv layers store an epitome, and of which shape.

A plan (``format: pimtune-epitomes/1``, YAML) gives either per conv layer name an epitome
shape ``{out, in, p, q}`` (:class:`~onnx_frontend.epitome.Epitome`), or one global
``compression: R`` (R >= 1) that :func:`compressed_epitome` turns into a shape for every
conv layer. :func:`apply_plan` returns the network with those epitomes set; a plan's
epitome replaces one the model itself carries. The cost model does not use epitomes yet.

Example::

    format: pimtune-epitomes/1
    layers:
      conv1: {out: 32, in: 3, p: 7, q: 7}
      layer1.0.conv1: {out: 32, in: 32, p: 4, q: 4}
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from onnx_frontend.epitome import Epitome
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Layer, Network
from onnx_frontend.schema_errors import describe, first_error
from onnx_frontend.text_files import read_text

PLAN_FORMAT = "pimtune-epitomes/1"


class EpitomePlanError(PimtuneError):
    """An epitome plan cannot be read or does not fit the network."""


class EpitomeShape(BaseModel):
    """One layer's epitome in a plan file: ``{out, in, p, q}`` (channels and window)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    out: int = Field(ge=1)
    in_: int = Field(ge=1, alias="in")
    p: int = Field(ge=1)
    q: int = Field(ge=1)

    def epitome(self) -> Epitome:
        return Epitome(self.out, self.in_, self.p, self.q)


class EpitomePlan(BaseModel):
    """A plan file (``format: pimtune-epitomes/1``): ``layers`` by layer name, or one
    ``compression`` ratio for every conv layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[PLAN_FORMAT]
    compression: float | None = Field(default=None, ge=1)
    layers: dict[str, EpitomeShape] | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.compression is None) == (self.layers is None):
            raise ValueError("give either 'compression' (one ratio >= 1 for every conv layer) "
                             "or 'layers' (an epitome per layer name), not both")
        return self


def compressed_epitome(layer: Layer, ratio: float) -> Epitome:
    """The epitome the global ``compression: ratio`` gives conv ``layer``.

    The window stays the kernel (``p = kh``, ``q = kw``); starting from the layer's
    channels (``C_out``, ``C_in / groups``), ``out`` then ``in`` are halved alternately
    (rounding up; a dimension already at 1 is skipped) until
    ``stored_weights * ratio <= weights`` or both are 1 channel. The stored size is then at
    least ``ratio`` times smaller than the full kernel unless both reached 1.
    """
    kh, kw = layer.kernel
    dims = [layer.out_channels, layer.in_channels // layer.groups]
    turn = 0
    while dims[0] * dims[1] * kh * kw * ratio > layer.weights and dims != [1, 1]:
        if dims[turn] == 1:
            turn = 1 - turn
        dims[turn] = (dims[turn] + 1) // 2
        turn = 1 - turn
    return Epitome(dims[0], dims[1], kh, kw)


def apply_plan(network: Network, plan: EpitomePlan, label: str = "epitome plan") -> Network:
    """``network`` with the plan's epitomes set on its conv layers.

    Raises:
        EpitomePlanError: (one line, prefixed by ``label``) the plan names an unknown or a
            non-conv layer, or an epitome that cannot store its layer's kernel (a window
            smaller than the kernel, more channels than the layer has).
    """
    if plan.compression is not None:
        shapes = {l.name: compressed_epitome(l, plan.compression) for l in network.layers if l.kind == "conv"}
    else:
        shapes = {name: s.epitome() for name, s in plan.layers.items()}
    by_name = {l.name: l for l in network.layers}
    layers = list(network.layers)
    for name, epitome in shapes.items():
        layer = by_name.get(name)
        if layer is None:
            known = [l.name for l in network.layers if l.kind == "conv"]
            raise EpitomePlanError(f"{label}: layer '{name}' is not in {network.name}; use a conv layer name "
                                   f"that pimtune inspect lists (e.g. {', '.join(known[:3]) or 'none'})")
        if layer.kind != "conv":
            raise EpitomePlanError(f"{label}: layer '{name}' is a {layer.kind} layer; epitomes apply to conv "
                                   "layers only: remove it from the plan")
        problem = epitome.misfit(layer.out_channels, layer.in_channels // layer.groups, layer.kernel)
        if problem:
            raise EpitomePlanError(f"{label}: layer '{name}': {problem}")
        layers[layer.index] = replace(layer, epitome=epitome)
    return replace(network, layers=tuple(layers))


def load_plan(path: str | Path) -> EpitomePlan:
    """Read and validate an epitome plan file; EpitomePlanError (one line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise EpitomePlanError(f"{path}: no such epitome plan file; write one (format: {PLAN_FORMAT}, "
                               "see the README)")
    try:
        data = yaml.safe_load(read_text(path, EpitomePlanError, "epitome plan"))
    except yaml.YAMLError as exc:
        raise EpitomePlanError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    try:
        return EpitomePlan.model_validate(data)
    except ValidationError as exc:
        raise EpitomePlanError(f"{path}: {describe(first_error(exc), EpitomePlan)}") from None
