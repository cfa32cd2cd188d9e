"""Which epitome (and weight precision) each layer may take in a search (issue 16, item 4).

``pimtune synth MODEL --epitomes search`` adds a searched column per conv layer,
``epitome_NN``, an index into the layer's candidate shapes, and with ``--weight-bits``
one per weighted layer, ``wbits_NN``, an index into its precisions (MODEL.md section 11).
The accuracy side is the user's (nothing is trained), in one of two forms, or both:

- a floor, ``--min-ratio R`` (R >= 1): each layer is either dense (ratio 1) or stores an
  epitome whose compression (full weights / stored weights) is at least R. The dense
  network is always one of the designs, so a search that starts from it (the synthesis
  does) ends at least as good as the dense synthesis;
- an accuracy table, ``--accuracy-table FILE`` (:class:`AccuracyTable`, format
  ``pimtune-epitome-accuracy/1``): per layer the configurations the user measured and
  their accuracy drop (or loss increase); a layer not listed stays dense, dense costs 0,
  and a design's drops add up to at most the table's ``budget`` (repair reverts layers to
  dense, :func:`space.repair.fit_epitomes`).

Candidates of a conv layer ``C_out x C_in/g x kh x kw`` (:func:`layer_shapes`): index 0
is the dense layer; then every ``out x in x kh x kw`` with ``out`` in ``C_out / {1, 2, 4,
8, 16}`` and ``in`` in ``(C_in/g) / {1, 2, 4, 8, 16}`` (rounded up, distinct), except the
full kernel, that passes the floor; with a table, instead, the table's shapes for the
layer (any shape that can store the kernel). The window stays the kernel: in this cost
model a larger window ``p > kh`` only adds rows. Precisions: index 0 is the layer's own
(the technology's, or a plan's), then the ``--weight-bits`` values (crossbars:
``ceil(bits / cell_bits)`` slices per weight; SRAM: at most the arrays' weight bits).

A layer's configuration ``(shape k, bits b)`` is allowed when ``drop[j, k, b]`` is finite
(:class:`EpitomeChoices`): every combination without a table, the table's entries with
one (an entry without ``weight_bits`` is at the layer's own precision).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from onnx_frontend.epitome import Epitome
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from search.yaml_files import load_yaml_model

ACCURACY_FORMAT = "pimtune-epitome-accuracy/1"
#: Divisors of a layer's channels that give the candidate shapes (each axis).
CHANNEL_DIVISORS = (1, 2, 4, 8, 16)
#: Grow / shrink directions of a shape move: (axis, sign); axis 0 out, 1 in; sign +1 grows.
DIRECTIONS = ((0, +1), (0, -1), (1, +1), (1, -1))
#: Largest weight precision ``--weight-bits`` and a table may name.
MAX_WEIGHT_BITS = 32


class EpitomeSearchError(PimtuneError):
    """An epitome search setting (floor, accuracy table, weight bits) is unusable."""


# --- the accuracy table ------------------------------------------------------------------
class AccuracyEntry(BaseModel):
    """One measured configuration of a layer: an epitome ``{out, in, p, q}`` (the full
    kernel's shape is the dense layer, then with ``weight_bits``), its precision (absent:
    the layer's own) and what it costs, ``drop`` (in the table's ``metric``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    out: int = Field(ge=1)
    in_: int = Field(ge=1, alias="in")
    p: int = Field(ge=1)
    q: int = Field(ge=1)
    weight_bits: int | None = Field(default=None, ge=1, le=MAX_WEIGHT_BITS)
    drop: float = Field(ge=0, allow_inf_nan=False)


class AccuracyTable(BaseModel):
    """``format: pimtune-epitome-accuracy/1``; ``metric``: ``accuracy_drop`` (percentage
    points) or ``loss_increase``; ``budget``: the most a design's drops may add up to;
    ``layers``: per conv (or, for precision alone, fc) layer name its measured entries.

    Example::

        format: pimtune-epitome-accuracy/1
        metric: accuracy_drop
        budget: 1.5
        layers:
          layer1.0.conv1:
            - {out: 32, in: 64, p: 3, q: 3, drop: 0.2}
            - {out: 32, in: 32, p: 3, q: 3, drop: 0.6}
          layer4.1.conv2:
            - {out: 256, in: 512, p: 3, q: 3, drop: 0.1}
            - {out: 256, in: 512, p: 3, q: 3, weight_bits: 8, drop: 0.3}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[ACCURACY_FORMAT]
    metric: Literal["accuracy_drop", "loss_increase"]
    budget: float = Field(ge=0, allow_inf_nan=False)
    layers: dict[str, list[AccuracyEntry]]

    def fingerprint(self) -> str:
        """16 hex digits of the table's contents (not its file's formatting)."""
        return hashlib.sha1(self.model_dump_json(by_alias=True).encode()).hexdigest()[:16]


def load_accuracy_table(path: str | Path) -> AccuracyTable:
    """Read and validate an accuracy table; EpitomeSearchError (one line, naming the key
    and the fix) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise EpitomeSearchError(f"--accuracy-table {path}: no such file; write one (format: {ACCURACY_FORMAT}, "
                                 "see README: Epitomes)")
    try:
        return load_yaml_model(path, AccuracyTable, EpitomeSearchError, f"accuracy table ({ACCURACY_FORMAT})")
    except EpitomeSearchError as exc:                                   # name the option that gave the file
        raise EpitomeSearchError(f"--accuracy-table {exc}") from None


# --- the user's setting ------------------------------------------------------------------
@dataclass(frozen=True)
class EpitomeSearch:
    """What ``--epitomes search`` searches: the floor ``min_ratio`` (None: none), the
    accuracy ``table`` (None: none; ``table_source`` its path, for messages) and the
    extra weight precisions ``weight_bits`` (empty: each layer keeps its own)."""

    min_ratio: float | None = None
    table: AccuracyTable | None = None
    table_source: str | None = field(default=None, compare=False)
    weight_bits: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.min_ratio is not None and not (math.isfinite(self.min_ratio) and self.min_ratio >= 1):
            raise EpitomeSearchError(f"--min-ratio {self.min_ratio:g}: a compression floor is at least 1 (1: any "
                                     "epitome; 2: each epitome layer stores at most half its weights); give R >= 1")
        if self.min_ratio is None and self.table is None:
            raise EpitomeSearchError("--epitomes search needs the accuracy side: --min-ratio R (each layer dense or "
                                     "compressed at least R times) or --accuracy-table FILE (measured drops and a "
                                     "budget)")
        bad = [b for b in self.weight_bits if not 1 <= b <= MAX_WEIGHT_BITS]
        if bad:
            raise EpitomeSearchError(f"--weight-bits {bad[0]}: give precisions from 1 to {MAX_WEIGHT_BITS} bits, "
                                     "e.g. --weight-bits 3,4,8")

    def identity(self) -> dict:
        """Study identity keys (:mod:`search.storage.studies`)."""
        return {"epitomes": "search", "epitome_fingerprint": self.fingerprint(), "epitome_min_ratio": self.min_ratio,
                "epitome_table": None if self.table is None else self.table.fingerprint(),
                "epitome_weight_bits": list(self.weight_bits) or None}

    def fingerprint(self) -> str:
        """8 hex digits of the setting (floor, table contents, precisions): the ``-ep-``
        suffix of default names."""
        text = json.dumps([self.min_ratio, None if self.table is None else self.table.fingerprint(),
                           list(self.weight_bits)])
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def text(self) -> str:
        """One phrase for reports, e.g. ``compression >= 2 per epitome layer``."""
        parts = []
        if self.min_ratio is not None:
            parts.append(f"each layer dense or compressed at least {self.min_ratio:g}x")
        if self.table is not None:
            what = "accuracy drop" if self.table.metric == "accuracy_drop" else "loss increase"
            unit = " pp" if self.table.metric == "accuracy_drop" else ""
            parts.append(f"the measured {what} of `{self.table_source or 'the accuracy table'}`, at most "
                         f"{self.table.budget:g}{unit} in total")
        if self.weight_bits:
            parts.append(f"weight bits from {', '.join(str(b) for b in self.weight_bits)} or the layer's own")
        return "; ".join(parts)


def parse_weight_bits(text: str) -> tuple[int, ...]:
    """``--weight-bits 3,4,8`` as sorted distinct ints; EpitomeSearchError (one line) otherwise."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise EpitomeSearchError(f"--weight-bits {text}: give whole numbers separated by commas, e.g. 3,4,8") from None
    if not values:
        raise EpitomeSearchError(f"--weight-bits {text!r}: give at least one precision, e.g. 3,4,8")
    EpitomeSearch(min_ratio=1.0, weight_bits=tuple(values))           # range check
    return tuple(values)


def mapping_fingerprint(network: Network) -> str | None:
    """8 hex digits of the epitomes and precisions a network carries (a plan's, or the
    model's own), None when it carries none: the ``-ep-`` suffix of a plan network."""
    mapped = [(l.index, l.epitome, l.weight_bits, l.activation_bits) for l in network.layers
              if (l.epitome, l.weight_bits, l.activation_bits) != (None, None, None)]
    return hashlib.sha1(repr(mapped).encode()).hexdigest()[:8] if mapped else None


# --- candidates per layer -----------------------------------------------------------------
def channel_options(channels: int) -> list[int]:
    """``channels / {1, 2, 4, 8, 16}`` rounded up, distinct, largest first."""
    return sorted({-(-channels // d) for d in CHANNEL_DIVISORS}, reverse=True)


def layer_shapes(cout: int, cin_g: int, kh: int, kw: int, min_ratio: float | None) -> list[tuple[int, int, int, int]]:
    """The grid's epitome shapes of a conv layer that pass the floor (index 0, dense, not
    included): out-major, largest first."""
    full = cout * cin_g
    return [(o, i, kh, kw) for o in channel_options(cout) for i in channel_options(cin_g)
            if (o, i) != (cout, cin_g) and (min_ratio is None or full >= min_ratio * o * i - 1e-9)]


@dataclass(frozen=True)
class EpitomeChoices:
    """The searched configurations of a network's L weighted layers (module docstring).

    Attributes:
        spec: the user's setting.
        shapes: (L, K, 4) int64 ``(out, in, p, q)`` of each candidate; index 0 (and the
            padding beyond a layer's ``count``) zeros: dense.
        count: (L,) candidate shapes per layer (1: dense only).
        bits: (L, B) int64 precision of each choice; index 0 the layer's own (padding
            repeats it).
        nbits: (L,) precisions per layer.
        drop: (L, K, B) what each configuration costs in the table's metric (0 without a
            table); inf where not allowed (and in the padding).
        budget: the most a design's drops add up to (inf without a table).
        ratio: (L, K) compression, full weights / stored weights (1: dense).
        neighbours: (L, K, 4) the shape a move in each of :data:`DIRECTIONS` reaches, -1
            where none (:func:`_neighbours`).
        bit_neighbours: (L, B, 2) the precision one step fewer / more bits reaches, -1
            where none.
        names: the layers' names.
    """

    spec: EpitomeSearch
    shapes: np.ndarray
    count: np.ndarray
    bits: np.ndarray
    nbits: np.ndarray
    drop: np.ndarray
    budget: float
    ratio: np.ndarray
    neighbours: np.ndarray
    bit_neighbours: np.ndarray
    names: tuple[str, ...]

    @property
    def has_table(self) -> bool:
        return self.spec.table is not None

    def drops(self, e: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, L) drop of each layer's configuration (``e``, ``b``: (N, L) indices)."""
        return self.drop[np.arange(self.drop.shape[0]), e, b]

    def shape_rows(self, e: np.ndarray) -> np.ndarray:
        """(N, L, 4) epitome shapes of indices ``e`` (N, L) (zeros: dense)."""
        return self.shapes[np.arange(self.shapes.shape[0]), e]

    def bit_values(self, b: np.ndarray) -> np.ndarray:
        """(N, L) weight bits of indices ``b`` (N, L)."""
        return self.bits[np.arange(self.bits.shape[0]), b]


def epitome_choices(network: Network, spec: EpitomeSearch, own_bits: np.ndarray,
                    max_bits: int | None = None) -> EpitomeChoices:
    """The candidates of ``network``'s weighted layers under ``spec``; ``own_bits`` (L,)
    each layer's own precision, ``max_bits`` the most an array holds (SRAM), None: any.

    Raises:
        EpitomeSearchError: (one line) a network that already carries epitomes or
            precisions (a plan), a precision the arrays cannot hold, or an accuracy table
            that names an unknown layer or a shape that cannot store its kernel.
    """
    layers = network.weighted_layers
    if any(l.epitome is not None or l.weight_bits is not None for l in layers):
        raise EpitomeSearchError(f"{network.name} already carries epitomes or weight bits (a plan or the model's "
                                 "own); --epitomes search starts from the dense model: pass the model without a plan")
    if max_bits is not None:
        over = [b for b in spec.weight_bits if b > max_bits]
        if over:
            raise EpitomeSearchError(f"--weight-bits {over[0]}: the arrays hold at most {max_bits}-bit weights; give "
                                     f"precisions <= {max_bits}")
    L = len(layers)
    table = spec.table
    if table is not None:
        _check_table(network, spec, max_bits)
    extra = set(spec.weight_bits)
    if table is not None:                                   # the table's precisions join the choices
        extra |= {e.weight_bits for entries in table.layers.values() for e in entries if e.weight_bits is not None}
    per_layer_shapes, per_layer_bits = [], []
    for j, l in enumerate(layers):
        own = int(own_bits[j])
        bits = [own] + sorted(extra - {own})
        cout, cin_g, (kh, kw) = l.out_channels, l.in_channels // l.groups, l.kernel
        if table is None:
            shapes = layer_shapes(cout, cin_g, kh, kw, spec.min_ratio) if l.kind == "conv" else []
        else:
            listed = {(e.out, e.in_, e.p, e.q) for e in table.layers.get(l.name, [])}
            full = (cout, cin_g, kh, kw)
            shapes = sorted((s for s in listed if s != full and (spec.min_ratio is None or
                             cout * cin_g * kh * kw >= spec.min_ratio * s[0] * s[1] * s[2] * s[3] - 1e-9)),
                            key=lambda s: (-s[0], -s[1], s[2], s[3]))
        per_layer_shapes.append(shapes)
        per_layer_bits.append(bits)
    K = 1 + max((len(s) for s in per_layer_shapes), default=0)
    B = max(len(b) for b in per_layer_bits) if L else 1
    shapes = np.zeros((L, K, 4), dtype=np.int64)
    bits = np.zeros((L, B), dtype=np.int64)
    drop = np.full((L, K, B), np.inf)
    ratio = np.ones((L, K))
    for j, l in enumerate(layers):
        ks, bs = per_layer_shapes[j], per_layer_bits[j]
        if ks:
            shapes[j, 1:1 + len(ks)] = ks
        bits[j, :len(bs)] = bs
        bits[j, len(bs):] = bs[0]
        full = l.out_channels * (l.in_channels // l.groups) * l.kernel[0] * l.kernel[1]
        for k, s in enumerate(ks, start=1):
            ratio[j, k] = full / (s[0] * s[1] * s[2] * s[3])
        if table is None:
            drop[j, :1 + len(ks), :len(bs)] = 0.0
            continue
        drop[j, 0, 0] = 0.0                                   # dense at the layer's own precision
        index = {s: k for k, s in enumerate(ks, start=1)}
        full_shape = (l.out_channels, l.in_channels // l.groups, *l.kernel)
        for e in table.layers.get(l.name, []):
            s = (e.out, e.in_, e.p, e.q)
            k = 0 if s == full_shape else index.get(s)
            b = bs.index(e.weight_bits or bs[0])
            if k is None or (k, b) == (0, 0):                # below the floor; dense costs 0
                continue
            drop[j, k, b] = min(drop[j, k, b], e.drop)
    count = np.array([1 + len(s) for s in per_layer_shapes], dtype=np.int64)
    full_channels = np.array([(l.out_channels, l.in_channels // l.groups) for l in layers],
                             dtype=np.int64).reshape(L, 2)
    return EpitomeChoices(spec=spec, shapes=shapes, count=count, bits=bits,
                          nbits=np.array([len(b) for b in per_layer_bits], dtype=np.int64), drop=drop,
                          budget=math.inf if table is None else float(table.budget), ratio=ratio,
                          neighbours=_neighbours(shapes, count, full_channels),
                          bit_neighbours=_bit_neighbours(per_layer_bits, B), names=tuple(l.name for l in layers))


def _check_table(network: Network, spec: EpitomeSearch, max_bits: int | None) -> None:
    """EpitomeSearchError (one line) for a table entry naming an unknown layer, an epitome
    of a non-conv layer or a shape that cannot store its kernel."""
    src = f"--accuracy-table {spec.table_source or ''}".rstrip()
    by_name = {l.name: l for l in network.weighted_layers}
    for name, entries in spec.table.layers.items():
        layer = by_name.get(name)
        if layer is None:
            known = ", ".join(list(by_name)[:3])
            raise EpitomeSearchError(f"{src}: key 'layers.{name}': no weighted layer of {network.name} has that name; "
                                     f"use the names pimtune inspect lists (e.g. {known})")
        full = (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel)
        for i, e in enumerate(entries):
            shape = (e.out, e.in_, e.p, e.q)
            key = f"layers.{name}[{i}]"
            if layer.kind != "conv" and shape != full:
                raise EpitomeSearchError(f"{src}: key '{key}': {name} is a {layer.kind} layer, which takes no epitome; "
                                         f"give its full shape {full[0]}x{full[1]}x{full[2]}x{full[3]} with weight_bits")
            problem = Epitome(*shape).misfit(full[0], full[1], layer.kernel)
            if problem:
                raise EpitomeSearchError(f"{src}: key '{key}': {problem}")
            if max_bits is not None and e.weight_bits is not None and e.weight_bits > max_bits:
                raise EpitomeSearchError(f"{src}: key '{key}.weight_bits': the arrays hold at most {max_bits}-bit "
                                         f"weights, not {e.weight_bits}; give weight_bits <= {max_bits}")
            if shape == full and e.weight_bits is None:
                raise EpitomeSearchError(f"{src}: key '{key}': the full kernel's shape at the layer's own precision "
                                         "is the dense layer, which costs 0; remove the entry or give weight_bits")


def _neighbours(shapes: np.ndarray, count: np.ndarray, full: np.ndarray) -> np.ndarray:
    """(L, K, 4): per layer and shape, the shape reached by each of :data:`DIRECTIONS`
    (``full`` (L, 2): each layer's ``C_out`` and ``C_in/g``).

    Along an axis (out or in), with the other channel count and the window kept: growing
    takes the next larger candidate (past the largest, the dense layer, index 0; nothing
    where the axis already holds every channel), shrinking the next smaller. From the
    dense layer (index 0), shrinking along an axis takes the candidate with the most
    channels below the full count on that axis and the most on the other. -1 where no
    candidate lies that way."""
    L, K, _ = shapes.shape
    out = np.full((L, K, 4), -1, dtype=np.int64)
    for j in range(L):
        n = int(count[j])
        if n <= 1:
            continue
        cand = [tuple(int(v) for v in shapes[j, k]) for k in range(1, n)]
        for k in range(n):
            for d, (axis, sign) in enumerate(DIRECTIONS):
                if k == 0:
                    if sign > 0:
                        continue
                    # from dense: the candidate with the most channels below the full count on
                    # `axis`, then the most on the other
                    below = [t for t in range(1, n) if cand[t - 1][axis] < full[j, axis]]
                    if below:
                        out[j, k, d] = max(below, key=lambda t: (cand[t - 1][axis], cand[t - 1][1 - axis]))
                    continue
                s = cand[k - 1]
                same = [t for t in range(1, n) if t != k and cand[t - 1][1 - axis] == s[1 - axis]
                        and cand[t - 1][2:] == s[2:] and (cand[t - 1][axis] - s[axis]) * sign > 0]
                if same:
                    out[j, k, d] = min(same, key=lambda t: abs(cand[t - 1][axis] - s[axis]))
                elif sign > 0 and s[axis] < full[j, axis]:
                    out[j, k, d] = 0                          # growing past the largest: dense
    return out


def _bit_neighbours(per_layer: list[list[int]], B: int) -> np.ndarray:
    """(L, B, 2): per layer and precision index, the index of the next fewer and the next
    more bits among the layer's precisions (-1 where none)."""
    out = np.full((len(per_layer), B, 2), -1, dtype=np.int64)
    for j, bits in enumerate(per_layer):
        order = sorted(range(len(bits)), key=lambda i: bits[i])
        for pos, i in enumerate(order):
            if pos > 0:
                out[j, i, 0] = order[pos - 1]
            if pos + 1 < len(order):
                out[j, i, 1] = order[pos + 1]
    return out
