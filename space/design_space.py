"""The design space of one (network, technology, budgets), declared once.

The budgets are a power budget ``power_w`` (W), an area budget ``area_mm2`` (mm^2) or
both (None: no budget of that kind; :mod:`costmodel.budgets`); every bound the space
puts on a design (the crossbars the share pays for, the periphery left beside them)
holds in each budget's currency.

Every variable is a column of an integer matrix ``X`` of shape (N, D): the samplers'
operators, ``repair`` and ``to_batch`` work on such matrices, and the same variables are
exported to Optuna (``to_optuna``, ``suggest``) and Ray Tune (``to_tune``). Columns:

- ``rram_ratio``: index of the crossbar share on its grid (low + i * step);
- ``cell_bits``, ``xbar_size``, ``dac_bits``: index of the choice (SRAM families: the
  weight bits, the array's rows, the input bits per cycle);
- ``adc_bits`` (analog SRAM arrays only, after the four): index of the ADC resolution;
- ``dup_j`` (conv layers j, weighted positions): weight copies, 1..``dup_max[j]``;
- ``macros_j`` (every weighted layer): level 0..levels-1 of the macro-count fraction; the
  count is the divisor of ``dup * blocks`` (blocks: row groups x column groups of one
  copy) about ``(dup * blocks)^(level/(levels-1))``, raised to the layer's *floor*: the
  smallest divisor whose macros hold at most ``macro.max_crossbars`` crossbars each
  (:meth:`DesignSpace.floor_counts`; every level below it decodes to it);
- ``share_j`` (j >= 1, when sharing is on): the earlier layer whose macros j shares, -1 none;
- ``alloc_j_c`` (searched allocation): v in -2..2, the set's work multiplier 2^(v/2);
- segmented spaces (a network that fits nowhere in the box, or ``segments="searched"``;
  MODEL.md section 8): ``seg_j`` (j >= 1) 1 where a new segment starts at layer j;
  ``batch``: index of the batch on its grid (1, 2, 4, ... ``batch_max``, or the fixed
  batch); ``flow_j``: the layer's dataflow (0 weight-, 1 input-, 2 output-stationary);
  ``buffer_kib`` (a technology offering several global-buffer sizes): index of the size;
- ``sparse_j`` (every weighted layer, only in a space with densities: ``--sparsity``
  other than dense; MODEL.md section 10): the layer's sparsity mode, a code of
  ``SPARSE_MODES`` (0 none, 1 gate, 2 skip, 3 compact; 0..2 on digital ``sram_dimc``
  arrays, :func:`costmodel.sparsity.choices.mode_count`), last in every row but the
  epitome columns;
- ``epitome_j`` (conv layers with a candidate, only in a space with epitome choices:
  ``--epitomes search``; MODEL.md section 11): index of the layer's epitome shape among
  its candidates (0: dense; :mod:`space.epitome_choices`); ``wbits_j`` (weighted layers,
  with ``--weight-bits``): index of its weight precision (0: its own). Last in every row.

Each layer's copy (its crossbars, blocks and weight slices) follows the row's epitome
and precision choices where the space has them (:meth:`DesignSpace.layer_blocks`,
:meth:`DesignSpace.layer_slices`, looked up in tables built once per space); a network
with a plan's epitomes or precisions (``--epitomes PLAN``) uses its own, per layer.

A fixed global keeps its column with a single value and is not exported. A space with
densities (:mod:`costmodel.sparsity.densities`) maps each layer's weights without their
structured zero rows and columns (``build_workload(network, tech, densities)``) and
scores every design with them; without densities the space is exactly the dense one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import optuna

from costmodel.array_figures import affordable_arrays, array_figures
from costmodel.budgets import budget_label, budget_text
from costmodel.design import COMPONENTS, DesignBatch
from costmodel.epitome.mapping import matrix_geometry, sram_pack, stored, weight_slices
from costmodel.evaluator import Results, evaluate
from costmodel.sparsity.choices import mode_count
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology, load_technology, require_network_family
from costmodel.workload import Workload, build_workload
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network
from costmodel.macro_capacity import blocks_per_macro, fewest_dividing_macros
from costmodel.segments import alone_in_segment, weight_tiles
from space.divisors import divisor_at
from space.epitome_choices import EpitomeChoices, EpitomeSearch, epitome_choices, mapping_fingerprint
from space.options import FAMILY_GLOBALS, GLOBALS, SpaceOptions

ALLOC_LEVELS = (-2, 2)


class SpaceError(PimtuneError):
    """A parameter set or option does not fit the design space."""


@dataclass(frozen=True)
class Column:
    """One variable: integer matrix values ``low..high``; ``choices`` map them to values."""

    name: str
    low: int
    high: int
    choices: tuple | None = None      # categorical / grid values, indexed by (v - low)
    log: bool = False

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def value(self, v: int):
        return self.choices[v - self.low] if self.choices is not None else int(v)

    def index(self, value) -> int:
        if self.choices is None:
            return int(value)
        for i, c in enumerate(self.choices):
            if (math.isclose(c, value, rel_tol=1e-9, abs_tol=1e-12) if isinstance(c, float) else c == value):
                return self.low + i
        raise SpaceError(f"parameter {self.name}={value!r} is not one of {list(self.choices)}")


class DesignSpace:
    """Variables, exports, encodings and repair for one network, technology and budget."""

    def __init__(self, network: Network, tech: Technology, power_w: float | None, options: SpaceOptions,
                 columns: list[Column], dup_max: np.ndarray, segmented: bool = False,
                 area_mm2: float | None = None, densities: Densities | None = None,
                 epitomes: EpitomeChoices | None = None) -> None:
        self.network, self.tech, self.options = network, tech, options
        self.epitomes = epitomes                                          # None: no epitome_j / wbits_j columns
        self.power_w = None if power_w is None else float(power_w)        # W, None: no power budget
        self.area_mm2 = None if area_mm2 is None else float(area_mm2)     # mm^2, None: no area budget
        self.segmented = segmented
        self.densities = densities                                        # None: dense (no sparse_j columns)
        self.workload: Workload = build_workload(network, tech, densities)
        self.columns = columns
        self.dup_max = dup_max
        self.index = {c.name: i for i, c in enumerate(columns)}
        L = self.workload.n_weighted
        self.conv = ~self.workload.is_fc[self.workload.layer_of_w]
        self.dup_cols = np.array([self.index.get(f"dup_{j:02d}", -1) for j in range(L)])
        self.macro_cols = np.array([self.index[f"macros_{j:02d}"] for j in range(L)])
        self.share_cols = np.array([self.index.get(f"share_{j:02d}", -1) for j in range(L)])
        self.alloc_cols = np.array([[self.index.get(f"alloc_{j:02d}_{c}", -1) for c in COMPONENTS] for j in range(L)])
        self.seg_cols = np.array([self.index.get(f"seg_{j:02d}", -1) for j in range(L)])
        self.flow_cols = np.array([self.index.get(f"flow_{j:02d}", -1) for j in range(L)])
        self.sparse_cols = np.array([self.index.get(f"sparse_{j:02d}", -1) for j in range(L)], dtype=np.int64)
        self.epitome_cols = np.array([self.index.get(f"epitome_{j:02d}", -1) for j in range(L)], dtype=np.int64)
        self.wbits_cols = np.array([self.index.get(f"wbits_{j:02d}", -1) for j in range(L)], dtype=np.int64)
        self.batch_col = self.index.get("batch", -1)
        self.buffer_col = self.index.get("buffer_kib", -1)
        # globals, duplication and segments: what a search over macro partitioning keeps fixed
        #: the global columns, first in every row: GLOBALS and the family's own (adc_bits)
        self.global_names = tuple(g for g in GLOBALS + FAMILY_GLOBALS if g in self.index)
        # (and the epitome and precision columns: they set the copies' crossbars)
        self.base_cols = np.array([self.index[g] for g in self.global_names] + [c for c in self.dup_cols if c >= 0]
                                  + [c for c in self.seg_cols if c >= 0] + [c for c in self.epitome_cols if c >= 0]
                                  + [c for c in self.wbits_cols if c >= 0])
        self.low = np.array([c.low for c in columns])
        self.high = np.array([c.high for c in columns])
        sizes = self.columns[self.index["xbar_size"]].choices          # blocks per size choice
        at = np.searchsorted(tech.tables.xbar_sizes, sizes)
        self._blocks = self.workload.row_groups[at] * self.workload.col_groups[at]
        cells = np.asarray(self.columns[self.index["cell_bits"]].choices)
        #: (C, L, 1) weight slices per cell choice and layer at its own precision
        self._slices = weight_slices(self.workload.weight_bits[None, :], cells[:, None], tech.sram is not None)[..., None]
        self._ep_blocks = None
        if epitomes is not None:                                      # (S, C, L, K, B) and (C, L, B)
            self._ep_blocks, self._slices = _epitome_tables(self.workload, tech, epitomes, at, cells)
        self._arange_l = np.arange(L)
        self._choice_take = [np.maximum(c, 0) for c in (self.epitome_cols, self.wbits_cols)]
        self._choice_has = [(c >= 0).astype(np.int64) for c in (self.epitome_cols, self.wbits_cols)]
        self._slice_values, self._slice_row = np.unique(self._slices, return_inverse=True)
        self._slice_row = self._slice_row.reshape(self._slices.shape)
        self._gcols = np.array([self.index[g] for g in self.global_names])
        self._gradix = np.cumprod(np.concatenate([[1], (self.high - self.low + 1)[self._gcols][:-1]])).astype(np.int64)
        self._gcache: dict = {}
        self._level_table: np.ndarray | None = None
        self._floor_table: np.ndarray | None = None
        self._smallest_split: np.ndarray | None = None

    # --- construction ---------------------------------------------------------------
    @classmethod
    def for_network(cls, network: Network, tech: Technology | str, power_w: float | None,
                    options: SpaceOptions | None = None, segmented: bool | None = None,
                    area_mm2: float | None = None, densities: Densities | None = None,
                    epitomes: EpitomeSearch | None = None) -> "DesignSpace":
        """Declare the space (BACKGROUND.md section 4) for ``network`` at ``power_w`` W
        and/or ``area_mm2`` mm^2 (None: no budget of that kind; at least one is given).

        ``segmented`` overrides ``options.segments`` (a synthesis whose outer grid holds
        no point where one copy fits searches segments, :func:`search.synth.synthesis.synthesis_space`).
        ``densities`` (from ``--sparsity``, :func:`costmodel.sparsity.source.sparsity_densities`):
        the zeros the designs may exploit, which adds the ``sparse_j`` columns; None: dense.
        ``epitomes`` (``--epitomes search``): what each layer's epitome and precision may be
        (:mod:`space.epitome_choices`), which adds the ``epitome_j`` (and ``wbits_j``)
        columns; None: the network's own."""
        tech = require_network_family(load_technology(tech))
        options = options or SpaceOptions()
        if power_w is not None and (not math.isfinite(power_w) or power_w <= 0):
            raise SpaceError(f"power budget must be a positive number of watts, got {power_w}")
        if area_mm2 is not None and (not math.isfinite(area_mm2) or area_mm2 <= 0):
            raise SpaceError(f"area budget must be a positive number of mm^2, got {area_mm2}")
        if power_w is None and area_mm2 is None:
            raise SpaceError("no budget: give a power budget (W), an area budget (mm^2) or both")
        _check_densities(network, tech, densities)
        wl = build_workload(network, tech, densities)
        choices_ep = tables = None
        if epitomes is not None:
            if densities is not None:
                raise SpaceError("--epitomes search with --sparsity other than dense is not modelled (epitomes and "
                                 "measured zeros together); use --sparsity dense")
            if tech.epitome is None:
                raise SpaceError(f"--epitomes search: technology '{tech.name}' has no 'epitome:' section (what the "
                                 "address tables and routing muxes cost); copy it from the bundled "
                                 "costmodel/tech/reram.yaml or search without epitomes")
            choices_ep = epitome_choices(network, epitomes, wl.weight_bits,
                                         min(tech.cell_bits_options) if tech.sram is not None else None)
            at_all = np.arange(len(tech.xbar_sizes))
            tables = _epitome_tables(wl, tech, choices_ep, at_all, np.asarray(tech.cell_bits_options))
        lo, hi, step = options.rram_ratio
        if tech.sram is not None and "rram_ratio" not in options.model_fields_set:
            shares = tech.sram.chip.array_shares                          # the family's own box
            lo, hi = min(lo, shares[0]), max(hi, shares[-1])
        grid = tuple(round(lo + i * step, 10) for i in range(int(math.floor((hi - lo) / step + 1e-9)) + 1))
        choices = {"rram_ratio": grid, "cell_bits": tech.cell_bits_options,
                   "xbar_size": tech.xbar_sizes, "dac_bits": tech.dac_bits_options}
        if tech.sram is not None and tech.sram.searched_adc_bits:
            choices["adc_bits"] = tech.sram.searched_adc_bits
        elif "adc_bits" in options.fixed:
            raise SpaceError(f"fixed adc_bits: {tech.name} searches no ADC resolution (only sram_aimc files with "
                             "chip.adc_bits_rule: searched do)")
        columns = []
        for name in choices:
            values = choices[name]
            if name in options.fixed:
                fixed = options.fixed[name]
                if not any(math.isclose(v, fixed) for v in values):
                    raise SpaceError(f"fixed {name}={fixed} is not one of {list(values)}")
                values = (type(values[0])(fixed),)
            columns.append(Column(name, 0, len(values) - 1, tuple(values)))
        globals_ = list(columns)
        budgets = (power_w, area_mm2)
        modes = 0 if densities is None else mode_count(tech)
        space = cls(network, tech, power_w, options,
                    *_layer_columns(network, tech, wl, budgets, options, globals_, False, modes, choices_ep, tables),
                    area_mm2=area_mm2, densities=densities, epitomes=choices_ep)
        if segmented is None:
            segmented = options.segments == "searched" or (options.segments == "auto" and not space.fits_somewhere())
        if not segmented:
            return space
        if epitomes is not None:
            raise SpaceError(f"--epitomes search: one copy of {network.name}'s dense weights fits no point of the box, "
                             "and a search of epitomes over segments is not supported; raise the budget, or give the "
                             "epitomes in a plan (--epitomes PLAN.yaml)")
        return cls(network, tech, power_w, options,
                   *_layer_columns(network, tech, wl, budgets, options, globals_, True, modes),
                   segmented=True, area_mm2=area_mm2, densities=densities)

    def dense_twin(self) -> "DesignSpace":
        """This space without its epitome choices (itself when it has none): the dense
        synthesis an epitome search starts from and compares against."""
        if self.epitomes is None:
            return self
        if getattr(self, "_dense_twin", None) is None:
            self._dense_twin = DesignSpace.for_network(self.network, self.tech, self.power_w, self.options,
                                                       self.segmented, area_mm2=self.area_mm2)
        return self._dense_twin

    def rows_from(self, other: "DesignSpace", X: np.ndarray) -> np.ndarray:
        """Rows ``X`` (N, D') of ``other`` (a space of the same network, e.g. its dense twin)
        as rows of this space, column by column name; a column ``other`` lacks takes its
        neutral value (0 where in range, else its low: dense epitome, own precision)."""
        X = np.atleast_2d(X)
        out = np.tile(np.where((self.low <= 0) & (self.high >= 0), 0, self.low), (len(X), 1))
        for k, c in enumerate(self.columns):
            if c.name in other.index:
                out[:, k] = X[:, other.index[c.name]]
        return out

    def fits_somewhere(self) -> bool:
        """Whether one copy of every layer fits some point of the box (at its largest
        crossbar share): the space then keeps one segment under ``segments="auto"``."""
        names = self.global_names[1:]
        choices = [range(self.columns[self.index[g]].low, self.columns[self.index[g]].high + 1) for g in names]
        grid = np.array(np.meshgrid(*choices, indexing="ij")).reshape(len(choices), -1).T
        X = np.tile(np.where(self.low < 0, 0, self.low), (len(grid), 1))
        X[:, [self.index[g] for g in names]] = grid
        X[:, self.index["rram_ratio"]] = self.high[self.index["rram_ratio"]]
        return bool((self.crossbar_sets(X).sum(1) <= self.crossbar_limit(X)).any())

    def budget_label(self) -> str:
        """The budgets in names: ``49W``, ``20mm2`` or ``49W-20mm2`` (:mod:`costmodel.budgets`)."""
        return budget_label(self.power_w, self.area_mm2)

    def budget_text(self) -> str:
        """The budgets in titles: ``49 W``, ``20 mm^2`` or ``49 W and 20 mm^2``."""
        return budget_text(self.power_w, self.area_mm2)

    def budget_identity(self) -> dict:
        """The budgets, for study identities: ``power_w`` (W, None when absent) and, only
        when given, ``area_mm2`` (mm^2), so that studies made with a power budget alone
        keep their identity."""
        return {"power_w": self.power_w, **({} if self.area_mm2 is None else {"area_mm2": self.area_mm2})}

    def options_label(self) -> str:
        """``[-TECH][-segMODE][-bBATCH][-sp-FINGERPRINT]``: what tells apart default study and
        output names of an SRAM technology (its file's name; crossbar files keep their names
        as before), of the segmented-execution options and of the densities (:meth:`sparsity_label`;
        empty for the defaults)."""
        o = self.options
        tech = "" if self.tech.sram is None else f"-{self.tech.name}"
        return (tech + ("" if o.segments == "auto" else f"-seg{o.segments}") + ("" if o.batch is None else f"-b{o.batch}")
                + self.sparsity_label() + self.epitome_label())

    def sparsity_label(self) -> str:
        """``-sp-FINGERPRINT`` (:meth:`Densities.fingerprint`) in names of a space with
        densities; empty for a dense space, whose names stay as they were."""
        return "" if self.densities is None else f"-sp-{self.densities.fingerprint()}"

    def epitome_label(self) -> str:
        """``-ep-XXXXXXXX`` in names of an epitome search (the setting's fingerprint,
        :meth:`EpitomeSearch.fingerprint`) or of a network carrying a plan's epitomes or
        precisions (theirs, :func:`~space.epitome_choices.mapping_fingerprint`); empty
        otherwise, so that dense names stay as they were."""
        if self.epitomes is not None:
            return f"-ep-{self.epitomes.spec.fingerprint()}"
        fp = mapping_fingerprint(self.network)
        return "" if fp is None else f"-ep-{fp}"

    def epitome_identity(self) -> dict:
        """The epitome setting, for study identities (a resume with another is refused):
        ``epitomes`` ``search`` (with the floor, the accuracy table's fingerprint and the
        precisions) or ``plan`` (the network's fingerprint tells plans apart); nothing for
        the dense network, so that its studies keep their identity."""
        if self.epitomes is not None:
            return self.epitomes.spec.identity()
        fp = mapping_fingerprint(self.network)
        return {} if fp is None else {"epitomes": "plan", "epitome_fingerprint": fp}

    def sparsity_identity(self) -> dict:
        """The densities, for study identities (a resume with others is refused): their
        source and fingerprint; nothing for a dense space, so that its studies keep their
        identity."""
        d = self.densities
        return {} if d is None else {"sparsity": d.source, "sparsity_fingerprint": d.fingerprint()}

    def segment_identity(self) -> dict:
        """The segmented-execution options, for study identities (resumes refuse a study
        made with others): nothing for a space with one segment and no fixed batch, so
        that studies of networks that fit keep their identity."""
        o = self.options
        if not self.segmented and o.batch is None:
            return {}
        return {"segmented": self.segmented, "batch": o.batch, "batch_max": o.batch_max}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def dims(self) -> int:
        return len(self.columns)

    def size_log10(self) -> float:
        """log10 of the number of points in the declared box (every column independent)."""
        return float(sum(math.log10(c.size) for c in self.columns))

    # --- exports ----------------------------------------------------------------------
    def to_optuna(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Optuna distributions by parameter name (for ``study.ask(fixed_distributions=...)``)."""
        dists = {}
        for c in self.columns:
            if c.size == 1:
                continue
            if c.name == "rram_ratio":
                lo, hi, step = c.choices[0], c.choices[-1], self.options.rram_ratio[2]
                dists[c.name] = optuna.distributions.FloatDistribution(lo, hi, step=step)
            elif c.choices is not None:
                dists[c.name] = optuna.distributions.CategoricalDistribution(c.choices)
            else:
                dists[c.name] = optuna.distributions.IntDistribution(c.low, c.high, log=c.log and c.low > 0)
        return dists

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict:
        """Define-by-run: suggest every parameter on ``trial``; returns the parameter dict."""
        params = {}
        for name, dist in self.to_optuna().items():
            if isinstance(dist, optuna.distributions.FloatDistribution):
                params[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step)
            elif isinstance(dist, optuna.distributions.CategoricalDistribution):
                params[name] = trial.suggest_categorical(name, dist.choices)
            else:
                params[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        return params

    def to_tune(self) -> dict:
        """A Ray Tune ``param_space`` with the same names and domains."""
        from ray import tune

        space = {}
        for name, dist in self.to_optuna().items():
            if isinstance(dist, optuna.distributions.FloatDistribution):   # the rram_ratio grid
                space[name] = tune.choice(list(self.columns[self.index[name]].choices))
            elif isinstance(dist, optuna.distributions.CategoricalDistribution):
                space[name] = tune.choice(list(dist.choices))
            elif dist.log:
                space[name] = tune.lograndint(dist.low, dist.high + 1)
            else:
                space[name] = tune.randint(dist.low, dist.high + 1)
        return space

    # --- encodings ---------------------------------------------------------------------
    def encode(self, params: list[dict] | dict) -> np.ndarray:
        """Parameter dicts -> (N, D) integer matrix (missing fixed globals take their value)."""
        rows = [params] if isinstance(params, dict) else params
        X = np.empty((len(rows), self.dims), dtype=np.int64)
        for i, p in enumerate(rows):
            for k, c in enumerate(self.columns):
                if c.name in p:
                    X[i, k] = c.index(p[c.name])
                elif c.size == 1:
                    X[i, k] = c.low
                else:
                    raise SpaceError(f"parameter {c.name!r} missing; this space has {self.dims} parameters")
            if (X[i] < self.low).any() or (X[i] > self.high).any():
                bad = [c.name for k, c in enumerate(self.columns) if not c.low <= X[i, k] <= c.high]
                raise SpaceError(f"parameters out of range: {bad}")
        return X

    def decode(self, X: np.ndarray) -> list[dict]:
        """(N, D) integer matrix -> parameter dicts (exported parameters only)."""
        exported = [k for k, c in enumerate(self.columns) if c.size > 1]
        return [{self.columns[k].name: _plain(self.columns[k].value(row[k])) for k in exported}
                for row in np.atleast_2d(X)]

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform points of the box (log-uniform for log columns)."""
        X = rng.integers(self.low, self.high + 1, size=(n, self.dims))
        for k, c in enumerate(self.columns):
            if c.log and c.size > 1:
                X[:, k] = np.clip(np.floor(np.exp(rng.uniform(0, np.log(c.high + 1), size=n))), c.low, c.high)
        return X

    # --- designs ---------------------------------------------------------------------
    def globals_of(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """(N,) arrays of the global values of each row."""
        out = {"adc_bits": np.zeros(len(X), dtype=np.int64)}
        for name in self.global_names:
            c = self.columns[self.index[name]]
            out[name] = np.asarray(c.choices)[X[:, self.index[name]] - c.low]
        return out

    def dup_values(self, X: np.ndarray) -> np.ndarray:
        """(N, L) duplication (1 for fc layers)."""
        dup = np.ones((len(X), len(self.dup_cols)), dtype=np.int64)
        dup[:, self.conv] = X[:, self.dup_cols[self.conv]]
        return dup

    def crossbar_sets(self, X: np.ndarray) -> np.ndarray:
        """(N, L) crossbars of one copy of each weighted layer (its blocks x weight slices)."""
        return self.layer_blocks(X) * self.layer_slices(X)

    def choice_indices(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, L) each, every layer's epitome and precision index (0: dense, own bits; all
        0 in a space without epitome choices)."""
        # one gather per kind; a layer without the column reads column 0 and is zeroed
        return (X[:, self._choice_take[0]] * self._choice_has[0], X[:, self._choice_take[1]] * self._choice_has[1])

    def layer_blocks(self, X: np.ndarray) -> np.ndarray:
        """(N, L) blocks (row groups x column groups) of one copy of each weighted layer,
        for the rows' crossbar size and, in a space with epitome choices, their epitomes
        and precisions."""
        xbar = X[:, self.index["xbar_size"]] - self.columns[self.index["xbar_size"]].low
        if self._ep_blocks is None:
            return self._blocks[xbar]
        return self.blocks_at(X, *self.choice_indices(X))

    def blocks_at(self, X: np.ndarray, e: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, L) :meth:`layer_blocks` of rows ``X`` had their layers the epitome and
        precision indices ``e`` and ``b`` (N, L) (a space with epitome choices)."""
        xbar = X[:, self.index["xbar_size"]] - self.columns[self.index["xbar_size"]].low
        S, C, L, K, B = self._ep_blocks.shape
        flat = ((xbar * C + self._cell(X))[:, None] * L + self._arange_l) * (K * B) + e * B + b
        return self._ep_blocks.ravel().take(flat)

    def sets_at(self, X: np.ndarray, e: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, L) :meth:`crossbar_sets` of rows ``X`` with epitome and precision indices
        ``e`` and ``b`` (N, L) instead of their own (a space with epitome choices)."""
        return self.blocks_at(X, e, b) * self._slices[self._cell(X)[:, None], self._arange_l, b]

    def layer_slices(self, X: np.ndarray) -> np.ndarray:
        """(N, L) crossbars one weight's bits occupy, per layer (``ceil(bits / cell_bits)``
        at the layer's precision; 1 for SRAM)."""
        if (self.wbits_cols < 0).all():                      # each layer at its own precision
            return self._slices[:, :, 0].take(self._cell(X), axis=0)
        return self._slices[self._cell(X)[:, None], self._arange_l, self._bits_index(X)]

    def _cell(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.index["cell_bits"]] - self.columns[self.index["cell_bits"]].low

    def _bits_index(self, X: np.ndarray) -> np.ndarray:
        """(N, L) precision index (0 without ``wbits_j`` columns)."""
        if (self.wbits_cols < 0).all():
            return np.zeros((len(X), len(self.wbits_cols)), dtype=np.int64)
        return self.choice_indices(X)[1]

    def accuracy_use(self, X: np.ndarray) -> np.ndarray:
        """(N,) each row's drops added up over its layers (:mod:`space.epitome_choices`;
        inf where a layer's configuration is not allowed; 0 without epitome choices)."""
        if self.epitomes is None:
            return np.zeros(len(X))
        return self.epitomes.drops(*self.choice_indices(X)).sum(1)

    def crossbar_budget(self, X: np.ndarray) -> np.ndarray:
        """(N,) crossbars (arrays) the crossbar share of the budgets pays for (the smaller
        count of the power and the area budget, as the evaluator counts them)."""
        return self._per_globals("budget", X, lambda G: affordable_arrays(self.tech, self.globals_of(G), self.power_w,
                                                                           self.area_mm2))

    def crossbar_limit(self, X: np.ndarray) -> np.ndarray:
        """(N,) crossbars a design may use: within the crossbar share of the budgets, and
        with their fixed periphery (DACs, sample-and-hold, registers) plus one macro per
        layer within the rest of each budget (``fixed_costs``). Repair keeps designs within it."""
        return self._per_globals("limit", X, self._crossbar_limit)

    def _crossbar_limit(self, X: np.ndarray) -> np.ndarray:
        limit = self.crossbar_budget(X)
        for _, left, per_xbar, per_macro in self.fixed_costs(X):
            limit = np.minimum(limit, _periphery_crossbars(left - len(self.dup_cols) * per_macro, per_xbar))
        return limit

    def fixed_costs(self, X: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
        """Per budget that is given (power, then area): ``(budget, left, per_xbar,
        per_macro)``, the budget (W or mm^2) and :meth:`fixed_power` or :meth:`fixed_area`
        of ``X``, in that budget's currency."""
        out = []
        if self.power_w is not None:
            out.append((self.power_w, *self.fixed_power(X)))
        if self.area_mm2 is not None:
            out.append((self.area_mm2, *self.fixed_area(X)))
        return out

    def fixed_power(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,) each: the power left for everything but crossbars, ``(1 - r) * P`` minus one
        unit of each main peripheral per layer (W); the fixed periphery each crossbar brings
        (DACs, sample-and-hold, registers, W); and each macro's (smallest scratchpad,
        router, registers, W). Lower bounds of what the evaluator will charge."""
        return self._fixed(X, "power")

    def fixed_area(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`fixed_power` in mm^2: the area left for everything but crossbars,
        ``(1 - r) * A`` minus one unit of each main peripheral per layer; the fixed
        periphery's area per crossbar; and each macro's (smallest scratchpad, router,
        registers). Lower bounds of the area the evaluator will count."""
        return self._fixed(X, "area")

    def _fixed(self, X: np.ndarray, currency: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._per_globals(currency, X, lambda G: self._fixed_of(G, currency))

    def _per_globals(self, name: str, X: np.ndarray, fn):
        """``fn(rows)`` (an (N,) array or a tuple of them) of rows ``X``, computed once per
        distinct combination of the global columns a space instance meets (they alone
        decide it) and looked up after: a search meets a few dozen combinations in
        millions of rows."""
        n = len(X)
        if n == 0:
            return fn(X)
        code = (X[:, self._gcols] - self.low[self._gcols]) @ self._gradix
        uniq, first, inv = np.unique(code, return_index=True, return_inverse=True)
        cache = self._gcache.setdefault(name, {})
        missing = [i for i, c in enumerate(uniq.tolist()) if c not in cache]
        if missing:
            values = fn(X[first[missing]])
            single = not isinstance(values, tuple)
            parts = (values,) if single else values
            for k, i in enumerate(missing):
                cache[int(uniq[i])] = (single, tuple(np.asarray(v)[k] for v in parts))
        rows = [cache[c][1] for c in uniq.tolist()]
        single = cache[int(uniq[0])][0]
        out = tuple(np.array([r[o] for r in rows])[inv] for o in range(len(rows[0])))
        return out[0] if single else out

    def _fixed_of(self, X: np.ndarray, currency: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = self.globals_of(X)
        tech = self.tech
        a = array_figures(tech, g)
        S = g["xbar_size"].astype(float)
        power = currency == "power"
        pick = (lambda unit: unit.peak_power_w) if power else (lambda unit: unit.area_mm2)  # noqa: E731
        per_xbar = S * (a.dac_peak_w if power else a.dac_area_mm2) + S * (
            tech.sample_hold.static_power_w if power else tech.sample_hold.area_mm2) + (
            tech.registers.per_crossbar_power_w if power else tech.registers.per_crossbar_area_mm2)
        per_macro = np.full(len(X), pick(tech.scratchpad.sizes[0]) + (
            tech.noc.router_static_power_w + tech.registers.per_macro_power_w if power
            else tech.noc.router_area_mm2 + tech.registers.per_macro_area_mm2))
        vu = tech.vector_units
        units = (a.adc_peak_w if power else a.adc_area_mm2) + sum(pick(getattr(vu, c)) for c in ("shift_add", "activation"))
        budget = _or_inf(self.power_w if power else self.area_mm2)
        left = (1 - g["rram_ratio"]) * budget - len(self.dup_cols) * units
        return left, per_xbar, per_macro

    def macro_limits(self, X: np.ndarray, dup: np.ndarray | None = None) -> np.ndarray:
        """(N, L) largest macro count of each layer, ``dup * blocks`` (row groups x
        column groups of one copy, for the rows' crossbar size); a tiled layer's, the
        blocks of one tile (MODEL.md section 8)."""
        dup = self.dup_values(X) if dup is None else dup
        blocks = dup * self.layer_blocks(X)
        if not self.segmented:
            return blocks
        return self.tiles(X, blocks).blocks

    def segments_of(self, X: np.ndarray) -> np.ndarray:
        """(N, L) segment of each weighted layer (all 0 in a space with one segment)."""
        seg = np.zeros((len(X), len(self.seg_cols)), dtype=np.int64)
        if self.segmented and len(self.seg_cols) > 1:
            seg[:, 1:] = np.cumsum(X[:, self.seg_cols[1:]], 1)
        return seg

    def tiles(self, X: np.ndarray, blocks: np.ndarray | None = None):
        """The weight tiles of each layer of rows ``X`` (:func:`costmodel.segments.weight_tiles`)."""
        xbar = X[:, self.index["xbar_size"]] - self.columns[self.index["xbar_size"]].low
        rg_cg = [self.workload.row_groups, self.workload.col_groups]
        at = np.searchsorted(self.tech.tables.xbar_sizes, np.asarray(self.columns[self.index["xbar_size"]].choices))[xbar]
        blocks = self.dup_values(X) * self.layer_blocks(X) if blocks is None else blocks
        cap = np.floor(self.crossbar_budget(X)[:, None] / self.layer_slices(X)).astype(np.int64)
        return weight_tiles(blocks, rg_cg[0][at], rg_cg[1][at], lambda: alone_in_segment(self.segments_of(X)), cap)

    def macro_values(self, X: np.ndarray, dup: np.ndarray | None = None) -> np.ndarray:
        """(N, L) macro counts: the divisor of dup * blocks chosen by each level, at least
        the layer's floor (the capacity of a macro)."""
        limit = self.macro_limits(X, dup)
        return np.maximum(self.level_table()[limit, X[:, self.macro_cols]], self.floor_counts(X, limit))

    def floor_counts(self, X: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """(N, L) the fewest macros of each layer that keep every macro within
        ``macro.max_crossbars`` crossbars, a divisor of its ``limit`` (:meth:`macro_limits`
        of ``X``); the limit itself where not even one block fits (the evaluator then
        reports ``macro_capacity``)."""
        if (self.wbits_cols < 0).all():                      # each layer at its own precision
            rows = self._slice_row[:, :, 0].take(self._cell(X), axis=0)
        else:
            rows = self._slice_row[self._cell(X)[:, None], self._arange_l, self._bits_index(X)]
        return self.floor_table()[rows, limit]

    def level_counts(self, X: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """(N, L, levels) the count every level of every layer decodes to (non-decreasing
        in level: the level table raised to the layer's floor)."""
        return np.maximum(self.level_table()[limit], self.floor_counts(X, limit)[..., None])

    def pair_fits(self, slices_a: np.ndarray, slices_b: np.ndarray, limit_a: np.ndarray, limit_b: np.ndarray,
                  pair: np.ndarray) -> np.ndarray:
        """Whether two layers of ``limit_a`` and ``limit_b`` blocks of ``slices_a`` and
        ``slices_b`` crossbars each (:meth:`layer_slices`; all broadcast together) sharing
        ``pair`` macros keep every macro within ``macro.max_crossbars`` crossbars: the
        busiest macro holds ``ceil(limit / pair)`` blocks of each."""
        pair = np.maximum(pair, 1)
        return -(-limit_a // pair) * slices_a - (-limit_b // pair) * slices_b <= self.tech.macro.max_crossbars

    def level_table(self) -> np.ndarray:
        """(M + 1, levels) int64: the macro count of every level (columns) for every
        limit ``dup * blocks`` up to the space's largest, M (rows; row 0 unused).
        Built once per space (``divisor_at`` over the level grid), then looked up."""
        if self._level_table is None:
            lv = self.options.macro_levels
            blocks = self._blocks if self._ep_blocks is None else self._ep_blocks.max(axis=(1, 3, 4))
            top = int((self.dup_max[None, :] * blocks).max())
            x = np.maximum(np.arange(top + 1), 1)
            self._level_table = divisor_at(x[:, None], np.arange(lv) / (lv - 1))
        return self._level_table

    def floor_table(self) -> np.ndarray:
        """(slice counts, M + 1) int64: per distinct count of crossbars a block takes
        (``slices``, :meth:`layer_slices`) and limit, the floor count (see
        :meth:`floor_counts`)."""
        if self._floor_table is None:
            top = len(self.level_table()) - 1
            per = [blocks_per_macro(int(k), self.tech.macro.max_crossbars) for k in self._slice_values]
            self._floor_table = np.stack([fewest_dividing_macros(top, int(k)) for k in per])
        return self._floor_table

    def smallest_split(self) -> np.ndarray:
        """(M + 1,) int64: per limit, the smallest macro count above 1 that a level gives
        (int64 max when every level gives 1); from :meth:`level_table`."""
        if self._smallest_split is None:
            t = self.level_table()
            self._smallest_split = np.where(t > 1, t, np.iinfo(np.int64).max).min(1)
        return self._smallest_split

    def to_batch(self, X: np.ndarray) -> DesignBatch:
        """Designs of (repaired) rows; sharing that breaks the rules is dropped by repair."""
        g = self.globals_of(X)
        dup = self.dup_values(X)
        share = np.full(dup.shape, -1, dtype=np.int64)
        has = self.share_cols >= 0
        share[:, has] = X[:, self.share_cols[has]]
        alloc = None
        if self.options.allocation == "searched":
            alloc = 2.0 ** (X[:, self.alloc_cols] / 2.0)
        batch = self.options.batch or 1
        dataflow = buffer_kib = sparse_mode = epitome = weight_bits = None
        if self.densities is not None:
            sparse_mode = X[:, self.sparse_cols]
        if self.epitomes is not None:
            e, b = self.choice_indices(X)
            epitome, weight_bits = self.epitomes.shape_rows(e), self.epitomes.bit_values(b)
        if self.segmented:
            c = self.columns[self.batch_col]
            batch = np.asarray(c.choices)[X[:, self.batch_col] - c.low]
            dataflow = X[:, self.flow_cols]
            if self.buffer_col >= 0:
                c = self.columns[self.buffer_col]
                buffer_kib = np.asarray(c.choices)[X[:, self.buffer_col] - c.low]
        return DesignBatch(rram_ratio=g["rram_ratio"], cell_bits=g["cell_bits"], xbar_size=g["xbar_size"],
                           dac_bits=g["dac_bits"], adc_bits=g["adc_bits"], dup=dup, macros=self.macro_values(X, dup), share=share,
                           alloc_weights=alloc, segment=self.segments_of(X), batch=batch, dataflow=dataflow,
                           buffer_kib=buffer_kib, sparse_mode=sparse_mode, epitome=epitome, weight_bits=weight_bits,
                           macro_mode=self.options.macro_mode)

    def evaluate(self, X: np.ndarray, latency: bool = True) -> Results:
        """Score (repaired) rows with the vectorised evaluator (``latency``: as there),
        with the space's densities."""
        return evaluate(self.network, self.tech, self.to_batch(X), self.power_w, latency, area_mm2=self.area_mm2,
                        densities=self.densities)

    def constraints(self, results: Results, X: np.ndarray | None = None) -> np.ndarray:
        """(N, 2) Optuna constraint values (<= 0 feasible): crossbars used over the budget
        minus 1, and 1 for any other infeasibility (0 otherwise); with the scored rows ``X``
        in a space with an accuracy table, (N, 3): also the drops used minus the table's
        budget (:meth:`accuracy_use`)."""
        r = results.resolved
        used = r.chip_crossbars.astype(float) / np.maximum(r.n_xbar_budget, 1) - 1
        other = ((results.reason != 0) & (results.reason != 3)).astype(float)
        cols = [used, other]
        if X is not None and self.epitomes is not None and self.epitomes.has_table:
            cols.append(self.accuracy_use(X) - self.epitomes.budget)
        return np.stack(cols, 1)


def _periphery_crossbars(left: np.ndarray, per_xbar: np.ndarray) -> np.ndarray:
    """Whole crossbars whose fixed periphery (``per_xbar`` each) fits ``left`` (clipped at
    0); unbounded where a crossbar brings none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(per_xbar > 0, np.floor(np.maximum(left, 0) / per_xbar), np.inf)


def _or_inf(budget: float | None) -> float:
    return math.inf if budget is None else budget


def _check_densities(network: Network, tech: Technology, densities: Densities | None) -> None:
    """SpaceError (one line, with the fix) when densities do not fit the network or the
    technology has no ``sparsity:`` section to exploit them with."""
    if densities is None:
        return
    L = len(network.weighted_layers)
    if densities.n_layers != L:
        raise SpaceError(f"the densities ({densities.source}) cover {densities.n_layers} weighted layers, "
                         f"{network.name} has {L}; measure them for this network (pimtune profile)")
    if tech.sparsity is None:
        raise SpaceError(f"technology '{tech.name}' has no 'sparsity:' section, so no layer can exploit zeros; "
                         "copy the section from the bundled costmodel/tech/reram.yaml (or sram-*.yaml) or use "
                         "--sparsity dense")


def _layer_columns(network, tech, wl, budgets, options, columns, segmented: bool, modes: int = 0,
                   epitomes: EpitomeChoices | None = None, tables=None):
    """``(columns, dup_max)``: the globals ``columns`` followed by the per-layer columns
    (and, when ``segmented``, the segment, batch and dataflow columns; with ``modes`` > 0,
    each layer's sparsity mode 0..modes-1; with ``epitomes``, last, each conv layer's
    epitome index and each layer's precision index where it has a choice);
    ``budgets`` is ``(power_w, area_mm2)``; ``tables``: :func:`_epitome_tables` over every
    crossbar size and cell resolution of the technology."""
    columns = list(columns)
    dup_max = _dup_max(network, tech, wl, budgets, options, columns, segmented, epitomes, tables)
    L = wl.n_weighted
    conv = ~wl.is_fc[wl.layer_of_w]
    for j in range(L):
        if conv[j]:
            columns.append(Column(f"dup_{j:02d}", 1, int(dup_max[j]), log=True))
    for j in range(L):
        columns.append(Column(f"macros_{j:02d}", 0, options.macro_levels - 1))
    if options.sharing:
        for j in range(1, L):
            columns.append(Column(f"share_{j:02d}", -1, j - 1))
    if options.allocation == "searched":
        for j in range(L):
            for c in COMPONENTS:
                columns.append(Column(f"alloc_{j:02d}_{c}", *ALLOC_LEVELS))
    if segmented:
        for j in range(1, L):
            columns.append(Column(f"seg_{j:02d}", 0, 1))
        batches = (options.batch,) if options.batch else tuple(2 ** k for k in range(options.batch_max.bit_length()))
        columns.append(Column("batch", 0, len(batches) - 1, batches))
        for j in range(L):
            columns.append(Column(f"flow_{j:02d}", 0, 2))
        sizes = tuple(int(s) for s in tech.global_buffer.sizes_kib)
        if len(sizes) > 1:
            columns.append(Column("buffer_kib", 0, len(sizes) - 1, sizes))
    if modes:
        for j in range(L):
            columns.append(Column(f"sparse_{j:02d}", 0, modes - 1))
    if epitomes is not None:
        for j in range(L):
            if epitomes.count[j] > 1:
                columns.append(Column(f"epitome_{j:02d}", 0, int(epitomes.count[j]) - 1))
        for j in range(L):
            if epitomes.nbits[j] > 1:
                columns.append(Column(f"wbits_{j:02d}", 0, int(epitomes.nbits[j]) - 1))
    return columns, dup_max


def _dup_max(network, tech, wl, budgets, options, columns, segmented: bool = False,
             epitomes: EpitomeChoices | None = None, tables=None) -> np.ndarray:
    """Largest useful copies per weighted layer: its output pixels, within the largest
    budget (beside one copy of every other layer; in a segmented space, alone; with
    ``epitomes``, each layer's copies at their fewest crossbars);
    ``budgets`` is ``(power_w, area_mm2)``."""
    power_w, area_mm2 = budgets
    names = [c.name for c in columns]
    combos = list(itertools.product(*(c.choices for c in columns[1:])))      # every global but the share
    g = {name: np.array([combo[k] for combo in combos]) for k, name in enumerate(names[1:])}
    g["rram_ratio"] = np.full(len(combos), columns[0].choices[-1])
    si = np.searchsorted(tech.tables.xbar_sizes, g["xbar_size"])
    if epitomes is None:
        slices = weight_slices(wl.weight_bits[None, :], g["cell_bits"][:, None], tech.sram is not None)
        sets = wl.row_groups[si] * wl.col_groups[si] * slices               # (combos, L)
    else:                                                                   # each layer's smallest allowed copy
        blocks, slices = tables
        ci = np.searchsorted(np.asarray(tech.cell_bits_options), g["cell_bits"])
        every = blocks[si, ci] * slices[ci][:, :, None, :]                 # (combos, L, K, B)
        sets = np.where(np.isfinite(epitomes.drop)[None], every, np.iinfo(np.int64).max).min(axis=(2, 3))
    affordable = affordable_arrays(tech, g, power_w, area_mm2, eps=0.0)
    others = 0 if segmented else sets.sum(1, keepdims=True) - sets
    spare = affordable[:, None] - others                                    # crossbars left for layer j
    copies = np.minimum(np.maximum(spare // sets, 1).max(0), 2 ** 62)
    pixels = wl.out_pixels[wl.layer_of_w]
    return np.where(wl.is_fc[wl.layer_of_w], 1, np.clip(copies, 1, pixels)).astype(np.int64)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _epitome_tables(wl: Workload, tech: Technology, choices: EpitomeChoices, at: np.ndarray,
                    cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(blocks, slices)`` of every candidate: ``blocks`` (S, C, L, K, B) int64, the row
    groups x column groups of one copy of layer l with shape k at precision b on the
    technology's array shape ``at[s]`` with ``cells[c]``-bit cells (SRAM: packed by the
    precision); ``slices`` (C, L, B), the crossbars one weight's bits take
    (:mod:`costmodel.epitome.mapping`, as the evaluator lays them out)."""
    sram = tech.sram is not None
    L, K, _ = choices.shapes.shape
    B = choices.bits.shape[1]
    shapes = np.broadcast_to(choices.shapes.transpose(1, 0, 2)[:, None], (K, B, L, 4))
    bits = np.broadcast_to(choices.bits.T[None], (K, B, L))
    sizes = np.asarray(tech.xbar_sizes, dtype=np.int64)[at]
    cols = np.asarray(tech.array_cols, dtype=np.int64)[at]
    blocks = np.empty((len(at), len(cells), L, K, B), dtype=np.int64)
    slices = np.empty((len(cells), L, B), dtype=np.int64)
    for c, cell in enumerate(cells):
        st = stored(wl.dims, shapes, sram_pack(bits, int(cell), sram))               # (K, B, L) each
        for s, (size, col) in enumerate(zip(sizes, cols)):
            rg, cg = matrix_geometry(st.rows_g, st.cols_g, st.groups, size, col)[:2]
            blocks[s, c] = np.broadcast_to(rg * cg, (K, B, L)).transpose(2, 0, 1)
        slices[c] = weight_slices(choices.bits, int(cell), sram)
    return blocks, slices
