"""The digital chip around in-memory arrays, one schema for every family: vector units,
scratchpads, the network-on-chip, registers and off-chip links (MODEL.md sections 3-6).

The ReRAM file (``costmodel/tech/reram.yaml``) has them as top-level sections; an SRAM
file has them inside its ``chip:`` section (``costmodel/families/sram/technology.py``). Units are
in every key: ``_w`` watts, ``_ns`` nanoseconds, ``_nj`` nanojoules, ``_mm2`` square
millimetres, ``_kib`` kibibytes, ``_bits`` bits.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from costmodel.schema import NonNegative, Positive, Strict


class Unit(Strict):
    """A unit that operates: power while idle and extra while busy, one operation's time."""

    static_power_w: float = NonNegative
    dynamic_power_w: float = NonNegative
    latency_ns: float = Positive
    area_mm2: float = NonNegative

    @property
    def peak_power_w(self) -> float:
        return self.static_power_w + self.dynamic_power_w

    @property
    def energy_nj(self) -> float:
        """Dynamic energy of one operation (W x ns = nJ)."""
        return self.dynamic_power_w * self.latency_ns


class VectorUnits(Strict):
    width: int = Positive
    shift_add: Unit
    addition: Unit
    activation: Unit
    sigmoid: Unit
    pool: Unit
    eltwise: Unit


class ScratchpadRow(Strict):
    capacity_kib: float = Positive
    leak_power_w: float = NonNegative
    read_latency_ns: float = Positive
    write_latency_ns: float = Positive
    read_energy_nj: float = NonNegative
    write_energy_nj: float = NonNegative
    area_mm2: float = NonNegative

    @property
    def peak_power_w(self) -> float:
        """What a power budget pays for: the leakage (access energy is per word moved)."""
        return self.leak_power_w


class Scratchpad(Strict):
    bus_width_bits: int = Positive
    sizes: list[ScratchpadRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self):
        caps = [s.capacity_kib for s in self.sizes]
        if caps != sorted(set(caps)):
            raise ValueError(f"capacity_kib must be strictly ascending, got {caps}")
        return self


class Noc(Strict):
    flit_bits: int = Positive
    hop_latency_ns: float = Positive
    router_static_power_w: float = NonNegative
    flit_hop_energy_nj: float = NonNegative
    router_area_mm2: float = NonNegative


class Registers(Strict):
    per_crossbar_power_w: float = NonNegative
    per_crossbar_area_mm2: float = NonNegative
    per_macro_power_w: float = NonNegative
    per_macro_area_mm2: float = NonNegative


class OffchipLinks(Strict):
    static_power_w: float = NonNegative
    area_mm2: float = NonNegative
