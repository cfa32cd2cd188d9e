"""What the epitome datapath costs N designs (MODEL.md section 11): address-table
lookups and routing muxes, from the technology file's ``epitome:`` section
(:class:`~costmodel.epitome.support.EpitomeSupport`).

Per copy of an epitome layer and crossbar pass: one lookup in each of the three tables;
per bit iteration: a row mux per driven row and a column mux per converted column. The
tables' first lookups of a step (input address, then reuse) precede its first pass; the
later ones overlap the previous pass. Each copy has its own tables: ``2 * passes``
entries (input address and reuse, per pass) plus ``out_blocks`` (output address); each
array row of an epitome layer has a row mux.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.design import DesignError
from costmodel.layer_map import LayerMap
from costmodel.technology import Technology

F = np.float32


@dataclass(frozen=True)
class EpitomeOverheads:
    """Attributes:
        occurrence_pj: (N, L) pJ per occurrence of the iterated chain (one bit iteration
            of one pass of a step, all copies; a tile's share), 0 for dense layers.
        feed_ns: (N, L) ns of the lookups before a step's first pass.
        static_w, area_mm2: (N, L) the tables' and muxes' leakage and area per layer.
    """

    occurrence_pj: np.ndarray
    feed_ns: np.ndarray
    static_w: np.ndarray
    area_mm2: np.ndarray


def epitome_overheads(tech: Technology, m: LayerMap, dup: np.ndarray, running: np.ndarray, xbars: np.ndarray,
                      array_rows: np.ndarray, driven_rows: np.ndarray, converted_cols: np.ndarray,
                      tiles: np.ndarray) -> EpitomeOverheads:
    """The overheads of N designs' epitome layers: ``dup`` (N, L) copies (their tables),
    ``running`` (N, L) the mean copies a step runs (their lookups), ``xbars`` (N, L)
    arrays resident, ``array_rows`` (N,) rows per array, ``driven_rows`` and
    ``converted_cols`` (N, L) per occurrence (all copies that run), ``tiles`` (N, L)
    weight tiles.

    Raises:
        DesignError: a design has an epitome and the technology file no ``epitome:`` section.
    """
    e = tech.epitome
    if e is None:
        raise DesignError(f"technology {tech.name} has no 'epitome:' section, so epitome layers cannot be costed; "
                          "add one (see the bundled reram.yaml) or use a network without epitomes")
    st = m.stored
    on = st.epitome.astype(F)
    tables = (e.input_address_table, e.reuse_table, e.output_address_table)
    lookup_pj = sum(t.read_energy_pj_per_access for t in tables)
    per_pass = running * lookup_pj / (m.bit_iterations * tiles)           # spread over a pass's iterations
    occurrence = (driven_rows * e.row_mux_energy_pj_per_row + converted_cols * e.column_mux_energy_pj_per_column
                  + per_pass) * on
    rows = xbars * array_rows[:, None]

    def per_entry(field: str) -> np.ndarray:
        """Per layer: a figure per entry over every copy's tables."""
        per_pass = getattr(tables[0], field) + getattr(tables[1], field)      # one entry each per pass
        return dup * (st.passes * per_pass + st.out_blocks * getattr(tables[2], field))

    static = (per_entry("static_power_w_per_entry") + rows * e.row_mux_static_power_w_per_row) * on
    area = (per_entry("area_mm2_per_entry") + rows * e.row_mux_area_mm2_per_row) * on
    feed = np.broadcast_to(F(e.input_address_table.read_latency_ns + e.reuse_table.read_latency_ns) * on, dup.shape)
    return EpitomeOverheads(occurrence_pj=occurrence.astype(F), feed_ns=feed, static_w=static, area_mm2=area)
