"""The macro design space of one SRAM in-memory family: a geometry grid, its peak figures
in one vectorised :func:`~costmodel.families.sram.macro.macro_costs` call, and its Pareto front.

:class:`MacroGrid` lists the values of each geometry axis (rows, cols, input bits per
cycle, ADC bits); :func:`grid_batch` builds the :class:`~costmodel.families.sram.macro.MacroBatch`
of their full product directly as numpy arrays (shape (N,), N = the product of the axis
lengths; no pydantic object per design); :func:`evaluate_space` costs it and returns a
:class:`MacroSpace` of plain arrays with the front of (peak TOPS/W, peak TOPS/mm^2), both
maximised (:func:`costmodel.pareto.pareto_front`).

Units: peak TOPS/W (tera-operations per joule, 2 operations per MAC), peak TOPS/mm^2,
peak TOPS, area mm^2 (cell array included at the technology file's bitcell area unless
``cell_area_um2`` overrides it), energy per cycle pJ, clock period ns. Activity factors
(input toggle rate, weight sparsity) are the technology file's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from costmodel.pareto import pareto_front
from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.families.sram.technology import SramTechnology
from costmodel.technology import adc_bits_required

#: the study's axes: rows (accumulation dimension) and cols (output channels) per bank
ROWS = (32, 64, 128, 256, 512, 1024)
COLS = (32, 64, 128, 256, 512)
INPUT_BITS = (1, 2, 4, 8)
ADC_BITS = (3, 4, 5, 6, 7, 8)


def _power_of_two(n: int) -> bool:
    return n >= 1 and not n & (n - 1)


@dataclass(frozen=True)
class MacroGrid:
    """The values of each geometry axis; the grid is their full product.

    ``adc_bits`` is used for AIMC only (DIMC has no ADC). Every design has ``banks`` banks,
    ``weight_bits``-bit weights and ``activation_bits``-bit activations, one ADC per
    weight-bit column, no Booth encoding and whole weights per column (the technology
    files' optional structure keys at their defaults).
    """

    rows: tuple[int, ...] = ROWS
    cols: tuple[int, ...] = COLS
    input_bits_per_cycle: tuple[int, ...] = INPUT_BITS
    adc_bits: tuple[int, ...] = ADC_BITS
    weight_bits: int = 8
    activation_bits: int = 8
    banks: int = 1

    def check(self, analog: bool) -> None:
        """ValueError when an axis value is not a valid geometry of the family (the rules
        of :func:`costmodel.families.sram.technology.check_geometry_family`, on the axes)."""
        for name in ("rows", "cols", "input_bits_per_cycle") + (("adc_bits",) if analog else ()):
            values = getattr(self, name)
            if not values or any(int(v) != v or v < 1 for v in values):
                raise ValueError(f"grid {name} must be whole numbers >= 1, got {values}")
        bad = [r for r in self.rows if not _power_of_two(r) or (not analog and r < 2)]
        if bad:
            raise ValueError(f"grid rows must be powers of two (at least 2 for DIMC), got {bad}")
        bad = [b for b in self.input_bits_per_cycle
               if self.activation_bits % b or (not analog and not _power_of_two(b))]
        if bad:
            raise ValueError(f"grid input bits per cycle must divide activation_bits ({self.activation_bits})"
                             f"{'' if analog else ' and be powers of two (DIMC)'}, got {bad}")
        if analog and any(b > 16 for b in self.adc_bits):
            raise ValueError(f"grid ADC bits must be at most 16, got {self.adc_bits}")

    def size(self, analog: bool) -> int:
        n = len(self.rows) * len(self.cols) * len(self.input_bits_per_cycle)
        return n * (len(self.adc_bits) if analog else 1)


def grid_batch(tech: SramTechnology, grid: MacroGrid = MacroGrid(),
               cell_area_um2: float | None = None) -> MacroBatch:
    """The full product of ``grid``'s axes as one MacroBatch (arrays of shape (N,)), in
    C order over (rows, cols, input bits, ADC bits): the last axis varies fastest. ADC
    bits are 0 for DIMC. Activity and bitcell area (um^2) are the file's unless
    ``cell_area_um2`` is given."""
    analog = tech.is_analog
    grid.check(analog)
    axes = [grid.rows, grid.cols, grid.input_bits_per_cycle, grid.adc_bits if analog else (0,)]
    rows, cols, bs, adc = (a.ravel().astype(float) for a in np.meshgrid(*map(np.asarray, axes), indexing="ij"))
    n = len(rows)
    full = lambda v: np.full(n, float(v))  # noqa: E731
    area = tech.cell.area_um2 if cell_area_um2 is None else cell_area_um2
    return MacroBatch(
        rows=rows, cols=cols, banks=full(grid.banks), weight_bits=full(grid.weight_bits),
        activation_bits=full(grid.activation_bits), input_bits_per_cycle=bs, adc_bits=adc,
        cells_per_weight_group=full(1), weight_bits_per_adc=full(1), booth_encoding=full(0),
        adc_area_bits=full(0), output_adder_bits=full(0), weight_bits_per_column=full(0),
        column_adder_bits=full(0), input_toggle_rate=full(tech.activity.input_toggle_rate),
        weight_sparsity=full(tech.activity.weight_sparsity), cell_area_um2=full(area))


@dataclass(frozen=True)
class MacroSpace:
    """One family's grid, costed: every array has shape (N,), one entry per design.

    ``front`` holds the indices of the Pareto-optimal designs of (tops_per_w, tops_per_mm2),
    ordered by TOPS/mm^2 ascending.
    """

    family: str                 # "sram_aimc" or "sram_dimc"
    tech: str                   # the technology file's name
    rows: np.ndarray
    cols: np.ndarray
    input_bits_per_cycle: np.ndarray
    adc_bits: np.ndarray        # 0 for DIMC
    tops_per_w: np.ndarray      # peak TOPS/W
    tops_per_mm2: np.ndarray    # peak TOPS/mm^2
    peak_tops: np.ndarray       # TOPS
    area_mm2: np.ndarray        # mm^2
    energy_per_cycle_pj: np.ndarray   # pJ
    tclk_ns: np.ndarray         # ns
    macs_per_cycle: np.ndarray
    front: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    note: str = ""              # a subset's description, e.g. "lossless ADC"

    #: the per-design columns, in the order :meth:`records` and the CSV list them
    COLUMNS = ("rows", "cols", "input_bits_per_cycle", "adc_bits", "tops_per_w", "tops_per_mm2", "peak_tops",
               "area_mm2", "energy_per_cycle_pj", "tclk_ns", "macs_per_cycle")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def label(self) -> str:
        """"AIMC" / "DIMC", with the subset's note in brackets."""
        return family_label(self.family) + (f" ({self.note})" if self.note else "")

    @property
    def lossless(self) -> np.ndarray:
        """Boolean (N,): the design's ADC resolves a column's sum without loss (AIMC:
        ``adc_bits >= lossless_adc_bits(rows, input_bits_per_cycle)``); True for DIMC."""
        if self.family != "sram_aimc":
            return np.ones(len(self), dtype=bool)
        return self.adc_bits >= lossless_adc_bits(self.rows, self.input_bits_per_cycle)

    @property
    def on_front(self) -> np.ndarray:
        """Boolean (N,): design i is on the family's Pareto front."""
        mask = np.zeros(len(self), dtype=bool)
        mask[self.front] = True
        return mask

    def record(self, i: int) -> dict:
        """Design ``i`` as a plain dict: family, tech, the geometry (ints) and figures (floats)."""
        rec = {"family": self.family, "tech": self.tech}
        for name in self.COLUMNS:
            v = getattr(self, name)[i]
            rec[name] = int(v) if name in ("rows", "cols", "input_bits_per_cycle", "adc_bits") else float(v)
        rec["on_front"] = bool(self.on_front[i])
        rec["lossless_adc"] = bool(self.lossless[i])
        return rec

    def records(self, indices=None) -> list[dict]:
        """The designs at ``indices`` (default: all, in grid order) as :meth:`record` dicts."""
        return [self.record(int(i)) for i in (range(len(self)) if indices is None else indices)]

    def best(self, column: str) -> dict:
        """The front design with the largest ``column`` ("tops_per_w" or "tops_per_mm2") as a
        record: the largest of one objective, ties broken by the other."""
        if column not in ("tops_per_w", "tops_per_mm2"):
            raise ValueError(f"best takes tops_per_w or tops_per_mm2, got {column!r}")
        if not len(self.front):
            raise ValueError(f"{self.label}: no design with finite figures")
        return self.record(int(self.front[0 if column == "tops_per_w" else -1]))

    def subset(self, indices, note: str) -> "MacroSpace":
        """The designs at ``indices`` (in that order) as a space of their own, with its own front."""
        idx = np.asarray(indices, dtype=int)
        cols = {name: getattr(self, name)[idx] for name in self.COLUMNS}
        return _with_front(MacroSpace(family=self.family, tech=self.tech, note=note, **cols))


def lossless_adc_bits(rows, input_bits_per_cycle, cell_bits: int = 1):
    """The ADC resolution (bits) that reads a column's sum of ``rows`` products of
    ``input_bits_per_cycle``-bit inputs and ``cell_bits``-bit cells without loss: the ReRAM
    model's rule (:func:`costmodel.technology.adc_bits_required`, PIMSYN after ISAAC),
    log2(rows) + Bs + cell_bits - 1 when Bs > 1 and cell_bits > 1, else
    log2(rows) + Bs + cell_bits - 2. An SRAM AIMC column holds one weight bit per cell.
    Arrays of shape (N,) (rows powers of two) or scalars in, same shape out. The macro
    model itself has no accuracy cost: a lower resolution is only cheaper."""
    rows = np.asarray(rows)
    return adc_bits_required(rows if rows.ndim else int(rows), np.asarray(input_bits_per_cycle), cell_bits)


def family_label(family: str) -> str:
    """"sram_aimc" -> "AIMC", "sram_dimc" -> "DIMC" (anything else unchanged)."""
    return {"sram_aimc": "AIMC", "sram_dimc": "DIMC"}.get(family, family)


def evaluate_space(tech: SramTechnology, grid: MacroGrid = MacroGrid(),
                   cell_area_um2: float | None = None) -> MacroSpace:
    """Cost every design of ``grid`` with ``tech`` in one ``macro_costs`` call and find
    the front of (peak TOPS/W, peak TOPS/mm^2)."""
    b = grid_batch(tech, grid, cell_area_um2)
    c = macro_costs(tech, b)
    space = MacroSpace(
        family=tech.family, tech=tech.name, rows=b.rows.astype(int), cols=b.cols.astype(int),
        input_bits_per_cycle=b.input_bits_per_cycle.astype(int), adc_bits=b.adc_bits.astype(int),
        tops_per_w=c.peak_tops_per_w, tops_per_mm2=c.peak_tops_per_mm2, peak_tops=c.peak_tops,
        area_mm2=c.total_area_mm2, energy_per_cycle_pj=c.energy_per_cycle_pj, tclk_ns=c.tclk_ns,
        macs_per_cycle=c.macs_per_cycle)
    return _with_front(space)


def _with_front(space: MacroSpace) -> MacroSpace:
    return replace(space, front=pareto_front(space.tops_per_mm2, space.tops_per_w))


def lossless_subset(space: MacroSpace) -> MacroSpace | None:
    """The AIMC designs of ``space`` with a lossless ADC (:func:`lossless_adc_bits`), as a
    space noted "lossless ADC"; None for DIMC or when every or no design qualifies."""
    mask = space.lossless
    if space.family != "sram_aimc" or mask.all() or not mask.any():
        return None
    return space.subset(np.flatnonzero(mask), "lossless ADC")


def geometry_text(rec: dict) -> str:
    """A record's geometry in one phrase, e.g. "128x256, 2 input bit(s)/cycle, 5-bit ADC"
    (rows x cols)."""
    adc = f", {rec['adc_bits']}-bit ADC" if rec.get("adc_bits") else ""
    return f"{rec['rows']}x{rec['cols']}, {rec['input_bits_per_cycle']} input bit(s)/cycle{adc}"


def geometries_text(recs: list[dict]) -> str:
    """Several records' geometries, those differing only in cols merged:
    "32x{32,64,128}, 8 input bit(s)/cycle"."""
    groups: dict[tuple, list[int]] = {}
    for r in recs:
        groups.setdefault((r["rows"], r["input_bits_per_cycle"], r.get("adc_bits")), []).append(r["cols"])
    parts = []
    for (rows, bs, adc), cols in groups.items():
        cols = sorted(set(cols))
        c = str(cols[0]) if len(cols) == 1 else "{" + ",".join(map(str, cols)) + "}"
        parts.append(geometry_text({"rows": rows, "cols": c, "input_bits_per_cycle": bs, "adc_bits": adc}))
    return "; ".join(parts)
