"""Epitome plan files: which conv layers store an epitome, of which shape, and at which
precision.

A plan (``format: pimtune-epitomes/1``, YAML) gives per conv layer name an epitome shape
``{out, in, p, q}`` (:class:`~onnx_frontend.epitome.Epitome`), or one global
``compression: R`` (R >= 1) that :func:`compressed_epitome` turns into a shape for every
conv layer; a layer named under ``layers`` keeps its own entry. Precision (the per-network
override of the technology's bits, MODEL.md section 11) is ``weight_bits`` and
``activation_bits``, globally or per layer (conv or fc). :func:`apply_plan` returns the
network with those set; a plan's epitome replaces one the model itself carries.

Example::

    format: pimtune-epitomes/1
    weight_bits: 3                 # every weighted layer
    layers:
      conv1: {out: 32, in: 3, p: 7, q: 7, weight_bits: 8}
      layer1.0.conv1: {out: 32, in: 32, p: 4, q: 4}
      fc: {weight_bits: 8}
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
#: Largest weight or activation precision a plan may name (bits).
MAX_BITS = 32


class EpitomePlanError(PimtuneError):
    """An epitome plan cannot be read or does not fit the network."""


class LayerEntry(BaseModel):
    """One layer in a plan file: an epitome ``{out, in, p, q}`` (all four or none) and/or
    its ``weight_bits`` and ``activation_bits``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    out: int | None = Field(default=None, ge=1)
    in_: int | None = Field(default=None, ge=1, alias="in")
    p: int | None = Field(default=None, ge=1)
    q: int | None = Field(default=None, ge=1)
    weight_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    activation_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)

    @model_validator(mode="after")
    def _whole_shape(self):
        given = [v is not None for v in (self.out, self.in_, self.p, self.q)]
        if any(given) and not all(given):
            raise ValueError("an epitome needs all of out, in, p and q")
        if not any(given) and self.weight_bits is None and self.activation_bits is None:
            raise ValueError("give an epitome {out, in, p, q}, weight_bits or activation_bits")
        return self

    def epitome(self) -> Epitome | None:
        return None if self.out is None else Epitome(self.out, self.in_, self.p, self.q)


#: Kept for callers that build plans in code: a layer entry with an epitome.
EpitomeShape = LayerEntry


class EpitomePlan(BaseModel):
    """A plan file (``format: pimtune-epitomes/1``): ``layers`` by layer name, one
    ``compression`` ratio for every conv layer, and global ``weight_bits`` and
    ``activation_bits`` (at least one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[PLAN_FORMAT]
    compression: float | None = Field(default=None, ge=1)
    weight_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    activation_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    layers: dict[str, LayerEntry] | None = None

    @model_validator(mode="after")
    def _something(self):
        if (self.compression, self.weight_bits, self.activation_bits, self.layers) == (None,) * 4:
            raise ValueError("give 'compression' (one ratio >= 1 for every conv layer), 'layers' (an entry per "
                             "layer name), 'weight_bits' or 'activation_bits'")
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
    """``network`` with the plan's epitomes and precisions set.

    Raises:
        EpitomePlanError: (one line, prefixed by ``label``) the plan names an unknown
            layer, an epitome for a non-conv layer, bits for a weightless layer, or an
            epitome that cannot store its layer's kernel (a window smaller than the kernel,
            more channels than the layer has).
    """
    shapes: dict[str, Epitome] = {}
    if plan.compression is not None:
        shapes = {l.name: compressed_epitome(l, plan.compression) for l in network.layers if l.kind == "conv"}
    entries = plan.layers or {}
    by_name = {l.name: l for l in network.layers}
    for name, entry in entries.items():
        layer = by_name.get(name)
        if layer is None:
            known = [l.name for l in network.layers if l.is_weighted]
            raise EpitomePlanError(f"{label}: layer '{name}' is not in {network.name}; use a conv or fc layer name "
                                   f"that pimtune inspect lists (e.g. {', '.join(known[:3]) or 'none'})")
        epitome = entry.epitome()
        if epitome is not None:
            if layer.kind != "conv":
                raise EpitomePlanError(f"{label}: layer '{name}' is a {layer.kind} layer; epitomes apply to conv "
                                       "layers only: remove its epitome from the plan")
            shapes[name] = epitome
        elif not layer.is_weighted:
            raise EpitomePlanError(f"{label}: layer '{name}' is a {layer.kind} layer without weights; precision "
                                   "applies to conv and fc layers: remove it from the plan")
    layers = list(network.layers)
    for layer in network.layers:
        if not layer.is_weighted:
            continue
        entry = entries.get(layer.name)
        epitome = shapes.get(layer.name, layer.epitome)
        if layer.name in shapes:
            problem = epitome.misfit(layer.out_channels, layer.in_channels // layer.groups, layer.kernel)
            if problem:
                raise EpitomePlanError(f"{label}: layer '{layer.name}': {problem}")
        bits = {k: next((v for v in (getattr(entry, k, None), getattr(plan, k), getattr(layer, k)) if v is not None),
                        None) for k in ("weight_bits", "activation_bits")}
        layers[layer.index] = replace(layer, epitome=epitome, **bits)
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
