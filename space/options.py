"""What a design space includes: the user's choices, validated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GLOBALS = ("rram_ratio", "cell_bits", "xbar_size", "dac_bits")
#: globals of one family only: the ADC resolution of analog SRAM arrays (sram_aimc)
FAMILY_GLOBALS = ("adc_bits",)


class SpaceOptions(BaseModel):
    """Options of :meth:`space.DesignSpace.for_network`.

    Attributes:
        macro_mode: "specialised" (each macro set gets its own peripherals) or
            "identical" (every macro alike).
        sharing: whether layers may share an earlier layer's macros.
        allocation: "closed_form" (PIMSYN Eq. 5-6) or "searched" (per-set multipliers of
            the closed-form work, still spending exactly the peripheral budget).
        fixed: globals held at one value, e.g. ``{"xbar_size": 128}``.
        rram_ratio: ``(low, high, step)`` of the crossbar share of the budget.
        macro_levels: resolution of the macro-count fraction (values 0..levels-1).
        segments: "auto" (searched when one copy of the network fits nowhere in the box,
            else one segment: a network that fits keeps today's space), "one" or
            "searched" (MODEL.md section 8).
        batch: a fixed batch (inferences per segment run; 1 for latency-bound use), or
            None to search powers of two up to ``batch_max``.
        batch_max: the largest batch searched, a power of two.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    macro_mode: Literal["specialised", "identical"] = "specialised"
    sharing: bool = True
    allocation: Literal["closed_form", "searched"] = "closed_form"
    fixed: dict[str, float] = Field(default_factory=dict)
    rram_ratio: tuple[float, float, float] = (0.1, 0.4, 0.01)
    macro_levels: int = Field(default=33, ge=2, le=1025)
    segments: Literal["auto", "one", "searched"] = "auto"
    batch: int | None = Field(default=None, ge=1, le=4096)
    batch_max: int = Field(default=64, ge=1, le=4096)

    @model_validator(mode="after")
    def _check(self):
        unknown = set(self.fixed) - set(GLOBALS + FAMILY_GLOBALS)
        if unknown:
            raise ValueError(f"fixed: unknown globals {sorted(unknown)}; choose from {list(GLOBALS + FAMILY_GLOBALS)}")
        if self.batch_max & (self.batch_max - 1):
            raise ValueError(f"batch_max must be a power of two (1, 2, 4, ... 4096); got {self.batch_max}")
        lo, hi, step = self.rram_ratio
        if not (0 < lo <= hi < 1 and step > 0):
            raise ValueError(f"rram_ratio must be (low, high, step) with 0 < low <= high < 1, step > 0; got {self.rram_ratio}")
        return self
