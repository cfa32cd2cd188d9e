"""The ``epitome`` section of a technology file: the datapath an epitome layer adds
(MODEL.md section 11; EPIM, DAC 2024).

Every figure carries its unit in its key (``_pj`` picojoules, ``_ns`` nanoseconds,
``_mm2`` square millimetres, ``_w`` watts). Three SRAM address tables serve each copy of
an epitome layer, one access each per crossbar pass:

- the input-feature address table (IFAT): per pass, where the patch's inputs come from
  (the window's offset in the epitome and the input-channel block); one entry per pass;
- the input-feature reuse table (IFRT): per pass, whether the input registers already
  hold that block (feature-map reuse); one entry per pass;
- the output-feature address table (OFAT): per pass, which output channels its columns
  serve (output-channel wrapping); one entry per output block.

The routing of a patch's inputs to the window's rows is the input-register write the
input-feature address table addresses; a row mux in front of every array row of an
epitome layer selects its register bit or zero (rows outside the pass's window), and a
column mux after every converted column steers the partial sum to its output channel.
"""

from __future__ import annotations

from costmodel.schema import NonNegative, Strict


class AddressTable(Strict):
    """One SRAM lookup table: per access and per entry."""

    read_energy_pj_per_access: float = NonNegative
    read_latency_ns: float = NonNegative
    area_mm2_per_entry: float = NonNegative
    static_power_w_per_entry: float = NonNegative


class EpitomeSupport(Strict):
    """Address tables and routing muxes of the epitome datapath (module docstring)."""

    input_address_table: AddressTable
    reuse_table: AddressTable
    output_address_table: AddressTable
    row_mux_energy_pj_per_row: float = NonNegative
    row_mux_area_mm2_per_row: float = NonNegative
    row_mux_static_power_w_per_row: float = NonNegative
    column_mux_energy_pj_per_column: float = NonNegative
