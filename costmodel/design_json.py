"""The JSON form of one design (README.md, "Design files"), validated once at load.

:class:`DesignJSON` is the schema: known keys only, whole numbers where counts are meant
(``2.0`` is 2, ``2.5`` and ``true`` are errors), finite numbers in range, one entry per
weighted layer in every per-layer list, ``share`` naming an earlier layer. A new optional
key is one more field here. :func:`network_mismatch` checks a valid design against the
model it is evaluated on (layer names, network name, copies per layer).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from costmodel.sparsity import SPARSE_MODES
from onnx_frontend.network import Network

DESIGN_FORMAT = "pimtune-design/1"
MACRO_MODES = ("specialised", "identical")
#: Loop orders of a layer at the buffer level (MODEL.md section 8), by code 0, 1, 2.
DATAFLOWS: tuple[str, ...] = ("weight_stationary", "input_stationary", "output_stationary")
#: Largest batch a design may name.
MAX_BATCH = 4096
# Peripheral components allocated per macro set (order of the last axis of ``counts``).
COMPONENTS: tuple[str, ...] = ("adc", "shift_add", "addition", "activation", "sigmoid", "pool", "eltwise")
#: Largest count a design may name (copies, macros, crossbar size): int32, far above any chip.
MAX_COUNT = 2**31 - 1


def _whole(value):
    """A JSON number that is a whole number, as an int (``2.0`` -> 2; not ``2.5``, ``true``, ``"2"``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError("must be a whole number, not a fraction, NaN or infinity")
    return int(value)


def _finite(value):
    """A JSON number that is finite (not ``NaN``, ``Infinity``, ``true`` or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


Whole = Annotated[int, BeforeValidator(_whole)]
Count = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=MAX_COUNT)]
Bits = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=64)]
Finite = Annotated[float, BeforeValidator(_finite)]

#: Explicit peripheral counts per component, one finite count >= 0 per layer (may be fractional).
ComponentCounts = create_model(
    "ComponentCounts", __config__=ConfigDict(extra="forbid", frozen=True),
    **{c: (list[Annotated[Finite, Field(ge=0)]], ...) for c in COMPONENTS})
#: Allocation multipliers per component, one finite weight > 0 per layer.
ComponentWeights = create_model(
    "ComponentWeights", __config__=ConfigDict(extra="forbid", frozen=True),
    **{c: (list[Annotated[Finite, Field(gt=0)]], ...) for c in COMPONENTS})


class EpitomeJSON(BaseModel):
    """One layer's epitome in a design: ``{out, in, p, q}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    out: Count
    in_: Count = Field(alias="in")
    p: Count
    q: Count


class DesignJSON(BaseModel):
    """One design as written by ``DesignBatch.to_dict`` (the README's "Design files")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[DESIGN_FORMAT]
    network: str
    layers: list[str] = Field(min_length=1)
    rram_ratio: Annotated[Finite, Field(gt=0, lt=1)]
    cell_bits: Bits
    xbar_size: Count
    dac_bits: Bits
    # SRAM analog macros (family sram_aimc): the ADC resolution; absent elsewhere
    adc_bits: Bits | None = None
    # the global buffer's capacity (KiB), one of the technology's global_buffer options
    buffer_kib: Annotated[Whole, Field(ge=1, le=MAX_COUNT)] | None = None
    offchip_links: Annotated[Whole, Field(ge=0, le=1)] = 0
    macro_mode: Literal[MACRO_MODES] = "specialised"
    dup: list[Count]
    macros: list[Count]
    share: list[Annotated[Whole, Field(ge=-1)]]
    segment: list[Annotated[Whole, Field(ge=0)]] | None = None
    dataflow: list[Literal[DATAFLOWS]] | None = None
    # how each layer exploits zeros (MODEL.md section 10); absent: none
    sparsity: list[Literal[SPARSE_MODES]] | None = None
    # each layer's epitome (MODEL.md section 11), null where dense; absent: the network's own
    epitome: list[EpitomeJSON | None] | None = None
    # each layer's weight precision; absent: the network's own (a plan's, else the technology's)
    weight_bits: list[Bits | None] | None = None
    batch: Annotated[Whole, Field(ge=1, le=MAX_BATCH)] = 1
    counts: ComponentCounts | None = None
    alloc_weights: ComponentWeights | None = None

    @model_validator(mode="after")
    def _per_layer(self):
        n = len(self.layers)
        lists = {"dup": self.dup, "macros": self.macros, "share": self.share}
        lists.update({k: v for k, v in (("segment", self.segment), ("dataflow", self.dataflow),
                                        ("sparsity", self.sparsity), ("epitome", self.epitome),
                                        ("weight_bits", self.weight_bits)) if v is not None})
        for name in ("counts", "alloc_weights"):
            table = getattr(self, name)
            if table is not None:
                lists.update({f"{name}.{c}": getattr(table, c) for c in COMPONENTS})
        for key, values in lists.items():
            if len(values) != n:
                raise ValueError(f"key {key!r} has {len(values)} entries; give one per weighted layer ({n})")
        for j, partner in enumerate(self.share):
            if partner >= j:
                earlier = f"an earlier layer's (0..{j - 1}) or none (-1)" if j else "none (-1): it is the first"
                raise ValueError(f"key 'share[{j}]' is {partner}; a layer shares the macros of {earlier}")
        if self.segment is not None:
            if self.segment and self.segment[0] != 0:
                raise ValueError(f"key 'segment[0]' is {self.segment[0]}; the first layer runs in segment 0")
            for j, (a, b) in enumerate(zip(self.segment, self.segment[1:]), start=1):
                if b not in (a, a + 1):
                    raise ValueError(f"key 'segment[{j}]' is {b} after {a}; segments number the layers 0, 1, 2, ... "
                                     f"in order (each layer's segment equals the previous one's or is one more)")
        return self


def network_mismatch(design: DesignJSON, network: Network) -> str | None:
    """Why ``design`` does not fit ``network`` (the first mismatch), or None."""
    names = [l.name for l in network.weighted_layers]
    made_for = f"the design was made for network {design.network!r}"
    for j, (mine, theirs) in enumerate(zip(design.layers, names)):
        if mine != theirs:
            return (f"weighted layer {j} is {mine!r} in the design but {theirs!r} in network {network.name!r} "
                    f"({made_for}); pass that model, or synthesise a design for this one")
    if len(design.layers) != len(names):
        return (f"the design has {len(design.layers)} weighted layers, network {network.name!r} has {len(names)} "
                f"({made_for}); pass that model, or synthesise a design for this one")
    if design.network != network.name:
        return (f"{made_for}, not {network.name!r} (same layer names); pass the model it was made for, "
                f"or set its 'network' key to {network.name!r} if the model is the same")
    for j, (copies, layer) in enumerate(zip(design.dup, network.weighted_layers)):
        positions = layer.out_shape[1] * layer.out_shape[2]
        if copies > positions:
            return (f"key 'dup[{j}]' is {copies}, more copies than the {positions} output position(s) of "
                    f"{layer.kind} layer {layer.name!r}; use 1..{positions}")
    return None
