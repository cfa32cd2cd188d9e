"""The ``sparsity`` section of a technology file: what exploiting zeros costs (MODEL.md 10).

Every figure carries its unit in its key (``_pj`` picojoules, ``_mm2`` square
millimetres, ``_w`` watts). A layer's sparsity mode (:data:`costmodel.sparsity.SPARSE_MODES`)
pays:

- gate, skip and compact: a zero detector per array row the layer drives, per bit
  iteration (``zero_detect_energy_pj_per_row``), with its area and leakage per array row
  (``detector_area_mm2_per_row``, ``detector_static_power_w_per_row``);
- skip and compact: the OR over the driven rows that finds an all-zero iteration and the
  control that skips it (``skip_energy_pj_per_row``);
- compact (analog arrays only; SRE-style operation units): per operation-unit cycle of
  ``ou_rows`` rows, the compaction index read (``index_bits_per_row`` bits per row at
  ``index_read_energy_pj_per_bit``) and the row muxes (``mux_energy_pj_per_row``); the
  index memory's area per array row (``index_bits_per_row`` x ``index_area_mm2_per_bit``).
"""

from __future__ import annotations

from pydantic import Field

from costmodel.schema import NonNegative, Positive, Strict


class SparsitySupport(Strict):
    """Costs of zero detection, skipping and operation-unit compaction (module docstring)."""

    zero_detect_energy_pj_per_row: float = NonNegative
    skip_energy_pj_per_row: float = NonNegative
    detector_area_mm2_per_row: float = NonNegative
    detector_static_power_w_per_row: float = NonNegative
    ou_rows: int = Field(gt=0, le=1024)
    index_bits_per_row: int = Positive
    index_read_energy_pj_per_bit: float = NonNegative
    index_area_mm2_per_bit: float = NonNegative
    mux_energy_pj_per_row: float = NonNegative
