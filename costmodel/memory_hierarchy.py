"""TEMPORARY (replaced by the memtech branch)."""
from __future__ import annotations
from pydantic import Field
from costmodel.schema import NonNegative, Positive, Strict


class OffchipMemory(Strict):
    read_energy_pj_per_bit: float = NonNegative
    write_energy_pj_per_bit: float = NonNegative
    bandwidth_gbyte_per_s: float = Positive


class GlobalBuffer(Strict):
    capacity_kib: float = NonNegative
    read_energy_pj_per_bit: float = NonNegative
    write_energy_pj_per_bit: float = NonNegative
    leak_power_w: float = NonNegative
    area_mm2: float = NonNegative


class ArrayWrite(Strict):
    row_latency_ns: float = Positive
    cell_energy_pj: float = NonNegative
    rows_in_parallel_per_macro: int = Field(ge=1)
    endurance_writes: float | None = None
