"""Designs as arrays: a batch of N candidate accelerators for one network.

Shapes: globals ``(N,)``; per weighted layer (conv and fc in network order, L of them)
``(N, L)``; explicit component counts ``(N, L, C)`` with C = len(COMPONENTS). The JSON
form of one design (``to_dict`` / ``from_dicts``, schema in :mod:`costmodel.design_json`)
is documented in README.md and round-trips exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from costmodel.design_json import COMPONENTS, DATAFLOWS, DESIGN_FORMAT, MACRO_MODES, DesignJSON, network_mismatch
from costmodel.sparsity import SPARSE_MODES
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from onnx_frontend.schema_errors import describe, first_error
from onnx_frontend.text_files import read_text

#: Keys of a layer's epitome in design files and reports (MODEL.md section 11).
EPITOME_KEYS = ("out", "in", "p", "q")

__all__ = ["COMPONENTS", "DATAFLOWS", "DESIGN_FORMAT", "MACRO_MODES", "SPARSE_MODES", "DesignBatch", "DesignError", "load_design", "save_design"]


class DesignError(PimtuneError):
    """A design (array batch or JSON file) is malformed or does not fit the network."""


@dataclass
class DesignBatch:
    """N designs of one network.

    Attributes:
        rram_ratio: ``(N,)`` share of the budget for crossbars or SRAM arrays (0..1).
        cell_bits: ``(N,)`` bits per ReRAM cell (SRAM: the weight bits; one array
            column holds whole weights).
        xbar_size: ``(N,)`` crossbar rows = columns (SRAM: the array's rows; its columns
            follow from the file's ``chip.arrays``).
        dac_bits: ``(N,)`` DAC resolution; the ADC resolution follows from the rule
            (SRAM: input bits per cycle).
        adc_bits: ``(N,)`` ADC resolution of SRAM analog (``sram_aimc``) arrays; 0 for
            every other family (None: 0).
        buffer_kib: ``(N,)`` capacity of the global buffer a reloading design keeps its
            activations in (KiB, one of ``global_buffer.sizes_kib``); 0 (None): the
            technology's ``global_buffer.capacity_kib``.
        dup: ``(N, L)`` weight copies per weighted layer.
        macros: ``(N, L)`` macros per weighted layer.
        share: ``(N, L)`` index of the earlier weighted layer whose macros are shared, or -1.
        offchip_links: ``(N,)`` 1 if the chip pays for off-chip I/O links (ISAAC), else 0.
        counts: optional ``(N, L, C)`` explicit component counts (per layer; a macro set
            gets the sum over its layers); None selects the closed-form allocation.
        alloc_weights: optional ``(N, L, C)`` positive multipliers of each set's work in
            the closed-form allocation (named by the set's first layer): a searched
            allocation that still spends exactly the peripheral budget; None means 1.
        segment: ``(N, L)`` segment of each weighted layer: 0 for the first layer, then
            equal to the previous layer's or one more (MODEL.md section 8); None: one
            segment holding every layer.
        batch: ``(N,)`` inferences run through each segment before its weights are
            replaced (>= 1); None: 1.
        dataflow: ``(N, L)`` loop order of each layer at the buffer level, an index of
            ``DATAFLOWS`` (0 weight-, 1 input-, 2 output-stationary); None: 0.
        sparse_mode: ``(N, L)`` how each layer exploits zeros, an index of ``SPARSE_MODES``
            (0 none, 1 gate, 2 skip, 3 compact; MODEL.md section 10); None: 0.
        epitome: ``(N, L, 4)`` each layer's epitome ``(out, in, p, q)``, zeros where dense
            (MODEL.md section 11); None: the network's own.
        weight_bits: ``(N, L)`` each layer's weight precision; None: the network's own (a
            plan's, else the technology's).
        macro_mode: "specialised" (per-set peripherals) or "identical" (every macro alike).
    """

    rram_ratio: np.ndarray
    cell_bits: np.ndarray
    xbar_size: np.ndarray
    dac_bits: np.ndarray
    dup: np.ndarray
    macros: np.ndarray
    share: np.ndarray
    adc_bits: np.ndarray | None = None
    buffer_kib: np.ndarray | None = None
    offchip_links: np.ndarray | None = None
    counts: np.ndarray | None = None
    alloc_weights: np.ndarray | None = None
    segment: np.ndarray | None = None
    batch: np.ndarray | None = None
    dataflow: np.ndarray | None = None
    sparse_mode: np.ndarray | None = None
    epitome: np.ndarray | None = None
    weight_bits: np.ndarray | None = None
    macro_mode: str = "specialised"
    _checked: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.rram_ratio = np.atleast_1d(np.asarray(self.rram_ratio, dtype=float))
        n = self.rram_ratio.shape[0]
        for name in ("cell_bits", "xbar_size", "dac_bits"):
            setattr(self, name, _per_design(name, getattr(self, name), n))
        for name in ("dup", "macros", "share"):
            arr = np.asarray(getattr(self, name), dtype=np.int64)
            if arr.ndim == 1:
                arr = np.broadcast_to(arr, (n, arr.shape[0])).copy()
            setattr(self, name, arr)
        links = np.zeros(n, dtype=np.int64) if self.offchip_links is None else self.offchip_links
        self.offchip_links = _per_design("offchip_links", links, n)
        self.batch = _per_design("batch", 1 if self.batch is None else self.batch, n)
        self.adc_bits = _per_design("adc_bits", 0 if self.adc_bits is None else self.adc_bits, n)
        self.buffer_kib = _per_design("buffer_kib", 0 if self.buffer_kib is None else self.buffer_kib, n)
        L = self.dup.shape[1]
        for name in ("segment", "dataflow", "sparse_mode"):
            arr = np.zeros((n, L), dtype=np.int64) if getattr(self, name) is None else np.asarray(getattr(self, name), dtype=np.int64)
            if arr.ndim == 1:
                arr = np.broadcast_to(arr, (n, arr.shape[0])).copy()
            setattr(self, name, arr)
        for name in ("counts", "alloc_weights"):
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        if self.weight_bits is not None:
            self.weight_bits = np.broadcast_to(np.asarray(self.weight_bits, dtype=np.int64), (n, L)).copy()
        if self.epitome is not None:
            e = np.asarray(self.epitome, dtype=np.int64)
            if e.shape[-2:] != (L, 4):
                raise DesignError(f"epitome must be (N, {L}, 4) (out, in, p, q per layer); got {e.shape}")
            self.epitome = np.broadcast_to(e, (n, L, 4)).copy()
        if self.macro_mode not in MACRO_MODES:
            raise DesignError(f"macro_mode must be one of {MACRO_MODES}, got {self.macro_mode!r}")
        shapes = {f: getattr(self, f).shape for f in ("dup", "macros", "share", "segment", "dataflow", "sparse_mode")}
        if len(set(shapes.values())) != 1 or shapes["dup"][0] != n:
            raise DesignError(f"per-layer arrays must all be (N={n}, L); got {shapes}")
        for name in ("counts", "alloc_weights"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (*self.dup.shape, len(COMPONENTS)):
                raise DesignError(f"{name} must be (N, L, {len(COMPONENTS)}); got {arr.shape}")

    def __len__(self) -> int:
        return self.rram_ratio.shape[0]

    @property
    def n_layers(self) -> int:
        return self.dup.shape[1]

    @property
    def n_segments(self) -> np.ndarray:
        """(N,) segments of each design."""
        return self.segment[:, -1] + 1 if self.n_layers else np.ones(len(self), dtype=np.int64)

    def subset(self, index) -> "DesignBatch":
        """The designs selected by ``index`` (an int, slice, or index array)."""
        idx = np.atleast_1d(np.arange(len(self))[index])
        return DesignBatch(
            **{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[idx])
               for f in fields(self) if f.name not in ("macro_mode", "_checked")},
            macro_mode=self.macro_mode,
        )

    @classmethod
    def concat(cls, batches: list["DesignBatch"]) -> "DesignBatch":
        modes = {b.macro_mode for b in batches}
        if len(modes) != 1:
            raise DesignError(f"cannot join designs with different macro modes {sorted(modes)}")
        for name in ("counts", "alloc_weights", "epitome", "weight_bits"):
            if len({getattr(b, name) is not None for b in batches}) != 1:
                raise DesignError(f"cannot join designs with and without {name}")
        arrays = {}
        for f in fields(cls):
            if f.name in ("macro_mode", "_checked"):
                continue
            parts = [getattr(b, f.name) for b in batches]
            arrays[f.name] = None if parts[0] is None else np.concatenate(parts)
        return cls(**arrays, macro_mode=modes.pop())

    # --- one design as JSON ----------------------------------------------------------
    def to_dict(self, n: int, network: Network) -> dict:
        """Design ``n`` in the documented JSON form."""
        names = [l.name for l in network.weighted_layers]
        return {
            "format": DESIGN_FORMAT,
            "network": network.name,
            "layers": names,
            "rram_ratio": float(self.rram_ratio[n]),
            "cell_bits": int(self.cell_bits[n]),
            "xbar_size": int(self.xbar_size[n]),
            "dac_bits": int(self.dac_bits[n]),
            **({"adc_bits": int(self.adc_bits[n])} if self.adc_bits[n] > 0 else {}),
            **({"buffer_kib": int(self.buffer_kib[n])} if self.buffer_kib[n] > 0 else {}),
            "offchip_links": int(self.offchip_links[n]),
            "macro_mode": self.macro_mode,
            "dup": self.dup[n].tolist(),
            "macros": self.macros[n].tolist(),
            "share": self.share[n].tolist(),
            "segment": self.segment[n].tolist(),
            "dataflow": [DATAFLOWS[int(v)] for v in self.dataflow[n]],
            "batch": int(self.batch[n]),
            **({"sparsity": [SPARSE_MODES[int(v)] for v in self.sparse_mode[n]]} if self.sparse_mode[n].any() else {}),
            **self._mapping_keys(n, network),
            **{name: None if getattr(self, name) is None else {
                c: getattr(self, name)[n, :, i].tolist() for i, c in enumerate(COMPONENTS)
            } for name in ("counts", "alloc_weights")},
        }

    def _mapping_keys(self, n: int, network: Network) -> dict:
        """``epitome`` and ``weight_bits`` of design ``n`` (its own, else the network's),
        written only when some layer has one."""
        layers = network.weighted_layers
        out = {}
        if self.epitome is not None or any(l.epitome is not None for l in layers):
            rows = self.epitome[n].tolist() if self.epitome is not None else [
                [l.epitome.out, l.epitome.in_, l.epitome.p, l.epitome.q] if l.epitome else [0] * 4 for l in layers]
            out["epitome"] = [dict(zip(EPITOME_KEYS, r)) if r[0] > 0 else None for r in rows]
        if self.weight_bits is not None or any(l.weight_bits is not None for l in layers):
            out["weight_bits"] = (self.weight_bits[n].tolist() if self.weight_bits is not None
                                  else [l.weight_bits for l in layers])
        return out

    @classmethod
    def from_dicts(cls, designs: list[dict], network: Network, source: str = "design") -> "DesignBatch":
        """Designs in JSON form (all of one network) as a batch, each validated against
        :class:`~costmodel.design_json.DesignJSON` and ``network``; DesignError (one line,
        naming ``source``, the design and the key) otherwise."""
        rows = []
        for i, d in enumerate(designs):
            label = source if len(designs) == 1 else f"{source}: design {i}"
            try:
                row = DesignJSON.model_validate(d)
            except ValidationError as exc:
                raise DesignError(f"{label}: {describe(first_error(exc), DesignJSON)}; "
                                  f"see the design format in README.md") from None
            problem = network_mismatch(row, network)
            if problem:
                raise DesignError(f"{label}: {problem}")
            rows.append(row)
        per_component = {}
        for name in ("counts", "alloc_weights"):
            given = {getattr(d, name) is not None for d in rows}
            if len(given) > 1:
                raise DesignError(f"{source}: some designs have {name!r} and some do not; give it for all or none")
            per_component[name] = None if given == {False} else np.array(
                [[getattr(getattr(d, name), c) for c in COMPONENTS] for d in rows], dtype=float).transpose(0, 2, 1)
        modes = {d.macro_mode for d in rows}
        if len(modes) > 1:
            raise DesignError(f"{source}: designs of one file share one 'macro_mode'; got {sorted(modes)}")
        L = len(network.weighted_layers)
        return cls(
            **{key: [getattr(d, key) for d in rows]
               for key in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits", "offchip_links", "dup", "macros", "share",
                           "batch")},
            adc_bits=[d.adc_bits or 0 for d in rows],
            buffer_kib=[d.buffer_kib or 0 for d in rows],
            segment=[d.segment if d.segment is not None else [0] * L for d in rows],
            dataflow=[[DATAFLOWS.index(v) for v in d.dataflow] if d.dataflow is not None else [0] * L for d in rows],
            sparse_mode=[[SPARSE_MODES.index(v) for v in d.sparsity] if d.sparsity is not None else [0] * L
                         for d in rows],
            **_mapping_arrays(rows, network),
            **per_component,
            macro_mode=modes.pop(),
        )


def _mapping_arrays(rows: list[DesignJSON], network: Network) -> dict:
    """``epitome`` (N, L, 4) and ``weight_bits`` (N, L) of JSON designs, where any has
    them (a design without them, or a layer given as null, keeps the network's own)."""
    layers = network.weighted_layers
    out = {}
    if any(d.epitome is not None for d in rows):
        own = [[l.epitome.out, l.epitome.in_, l.epitome.p, l.epitome.q] if l.epitome else [0] * 4 for l in layers]
        out["epitome"] = [[[e.out, e.in_, e.p, e.q] if e is not None else [0] * 4 for e in d.epitome]
                          if d.epitome is not None else own for d in rows]
    if any(d.weight_bits is not None for d in rows):
        own_bits = [l.weight_bits or 0 for l in layers]
        out["weight_bits"] = [[b or o for b, o in zip(d.weight_bits, own_bits)] if d.weight_bits is not None
                              else own_bits for d in rows]
        if any(0 in bits for bits in out["weight_bits"]):
            raise DesignError("a design gives 'weight_bits' as null for a layer without its own precision; "
                              "give every layer's weight bits")
    return out


def _per_design(name: str, values, n: int) -> np.ndarray:
    """A global as an (N,) int array; a scalar applies to every design."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n)):
        raise DesignError(f"{name} must be a scalar or one value per design (N={n}); got shape {arr.shape}")
    return np.broadcast_to(arr, (n,)).copy()


def save_design(path: str | Path, batch: DesignBatch, n: int, network: Network) -> None:
    Path(path).write_text(json.dumps(batch.to_dict(n, network), indent=2) + "\n")


def load_design(path: str | Path, network: Network) -> DesignBatch:
    """Read a design JSON file (one design, or a list of designs) for ``network``."""
    path = Path(path)
    if not path.is_file():
        raise DesignError(f"{path}: no such design file; pass isaac, no-dup, heuristic or a JSON file")
    text = read_text(path, DesignError, "JSON design file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DesignError(f"{path}: not valid JSON ({exc}); write it with costmodel.save_design or by hand (format in README.md)") from None
    designs = data if isinstance(data, list) else [data]
    if not designs or not all(isinstance(d, dict) for d in designs):
        raise DesignError(f"{path}: expected a design object or a list of them")
    return DesignBatch.from_dicts(designs, network, source=str(path))
