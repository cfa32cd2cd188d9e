"""What every technology file's schema shares: strict frozen sections and number bounds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Positive = Field(gt=0)
NonNegative = Field(ge=0)


class Strict(BaseModel):
    """A section of a technology file: known keys only, read-only once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
