"""What every technology file says about the memory around the in-memory arrays.

Segmented execution runs a network larger than the chip in segments: before each segment
the weights are read from off-chip DRAM and written into the in-memory arrays, and the
activations that cross a segment boundary wait in an on-chip global buffer (or spill to
DRAM). Three sections of every technology file, ReRAM (:class:`~costmodel.technology.Technology`)
and SRAM (:class:`~costmodel.families.sram.technology.SramTechnology`) alike, give the figures:

- ``offchip_memory``: :class:`OffchipMemory`, the DRAM behind the chip;
- ``global_buffer``: :class:`GlobalBuffer`, the on-chip SRAM/eDRAM holding the activations
  that cross segment boundaries;
- ``array_write``: :class:`ArrayWrite`, writing weights into the in-memory arrays.

Every key carries its unit (``_pj_per_bit`` picojoules per bit, ``_gbyte_per_s`` 10^9 bytes
per second, ``_kib`` kibibytes, ``_w`` watts, ``_mm2`` square millimetres, ``_ns``
nanoseconds, ``_pj`` picojoules); the read-only properties convert to the units the
evaluator works in (nJ, ns, bits).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from costmodel.schema import NonNegative, Positive, Strict

#: the three sections, in file order; each is required in every technology file
SECTIONS = ("offchip_memory", "global_buffer", "array_write")

_PJ_PER_NJ = 1000.0
_BITS_PER_BYTE = 8


class PerBitAccess(Strict):
    """A memory accessed by the bit: its read and write energy per bit (pJ)."""

    read_energy_pj_per_bit: float = NonNegative
    write_energy_pj_per_bit: float = NonNegative

    @property
    def read_energy_nj_per_bit(self) -> float:
        """Energy of reading one bit (nJ)."""
        return self.read_energy_pj_per_bit / _PJ_PER_NJ

    @property
    def write_energy_nj_per_bit(self) -> float:
        """Energy of writing one bit (nJ)."""
        return self.write_energy_pj_per_bit / _PJ_PER_NJ


class OffchipMemory(PerBitAccess):
    """The DRAM behind the chip (device and interface).

    Attributes:
        read_energy_pj_per_bit: energy of reading one bit from DRAM, device and I/O (pJ).
        write_energy_pj_per_bit: energy of writing one bit to DRAM, device and I/O (pJ).
        bandwidth_gbyte_per_s: sustained bandwidth of the chip's DRAM channel(s), in
            10^9 bytes per second (= bytes per ns).
    """

    bandwidth_gbyte_per_s: float = Positive

    @property
    def bandwidth_bits_per_ns(self) -> float:
        """Bits moved per ns (GB/s x 8: one GB/s is one byte per ns)."""
        return self.bandwidth_gbyte_per_s * _BITS_PER_BYTE


class GlobalBuffer(PerBitAccess):
    """The on-chip buffer holding the activations that cross segment boundaries.

    Attributes:
        capacity_kib: capacity (KiB, 1024 bytes).
        capacity_options_kib: capacities a design may choose instead (KiB, ascending; its
            ``buffer_kib``), their leakage and area scaled by capacity from this row's,
            their per-bit energies this row's; empty: ``capacity_kib`` only.
        read_energy_pj_per_bit: energy of reading one bit (pJ).
        write_energy_pj_per_bit: energy of writing one bit (pJ).
        leak_power_w: leakage (and refresh, for eDRAM) power while powered (W).
        area_mm2: area (mm^2).
    """

    capacity_kib: float = Positive
    leak_power_w: float = NonNegative
    area_mm2: float = NonNegative
    capacity_options_kib: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ascending(self):
        opts = self.capacity_options_kib
        if opts != sorted(set(opts)) or any(c <= 0 for c in opts):
            raise ValueError(f"capacity_options_kib must be ascending distinct positive KiB, got {opts}")
        return self

    @property
    def sizes_kib(self) -> tuple[float, ...]:
        """The capacities a design may have (KiB, ascending)."""
        return tuple(self.capacity_options_kib) or (self.capacity_kib,)

    @property
    def capacity_bits(self) -> float:
        """Capacity in bits (KiB x 1024 x 8)."""
        return self.capacity_kib * 1024 * _BITS_PER_BYTE

    @property
    def peak_power_w(self) -> float:
        """What a power budget pays for: the leakage (access energy is per bit moved)."""
        return self.leak_power_w


class ArrayWrite(Strict):
    """Writing weights into the in-memory arrays.

    Attributes:
        row_latency_ns: time to program one array row, all its cells, write-verify
            iterations included (ns).
        cell_energy_pj: energy to program one cell, i.e. one weight slice of the array's
            bits per cell, verify included (pJ).
        rows_in_parallel_per_macro: array rows one macro programs at the same time (>= 1).
        endurance_writes: write cycles a cell survives; ``null`` when unknown or effectively
            unlimited (SRAM).
    """

    row_latency_ns: float = Positive
    cell_energy_pj: float = NonNegative
    rows_in_parallel_per_macro: int = Field(ge=1)
    endurance_writes: float | None = Positive

    @property
    def cell_energy_nj(self) -> float:
        """Energy to program one cell (nJ)."""
        return self.cell_energy_pj / _PJ_PER_NJ

    @property
    def rows_per_ns_per_macro(self) -> float:
        """Programming throughput of one macro, in rows per ns."""
        return self.rows_in_parallel_per_macro / self.row_latency_ns

    @property
    def limited_endurance(self) -> bool:
        """True when the file gives a finite endurance (a cell wears out)."""
        return self.endurance_writes is not None

