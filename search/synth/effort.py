"""How hard one synthesis searches: the presets behind ``pimtune synth --effort``.

``default`` is PIMSYN's own effort per outer point (BACKGROUND.md section 5): an SA filter
of 10 chains keeping 10 duplication candidates, and for every candidate and each of the
3 DAC resolutions an EA of population 40 over 200 generations. ``quick`` is for tests
and a first look; ``thorough`` doubles the candidates and generations and searches a finer
rram_ratio grid.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from onnx_frontend.errors import PimtuneError


class Effort(BaseModel):
    """Search effort of the inner synthesis of one outer point, and the outer grid.

    Attributes:
        sa_chains: SA chains per (outer point, DAC resolution).
        sa_steps: proposals per chain; the temperature falls by ``sa_decay`` every
            ``sa_steps_per_temperature`` proposals from ``sa_t0`` (relative units).
        candidates: distinct duplication vectors the filter keeps per (point, DAC).
        population: EA children per generation (and survivors kept).
        generations: EA generations after the initial population.
        segmented_generations: EA generations in a segmented space (a network that fits
            nowhere, MODEL.md section 8): one duplication candidate per (point, DAC), the
            EA moves the segments too; None: ``generations``.
        rram_ratios: the outer grid's crossbar shares of the power budget.
        points_per_batch: outer points searched together as one population matrix.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sa_chains: int = Field(ge=1)
    sa_steps: int = Field(ge=0)
    sa_t0: float = Field(default=0.05, gt=0)
    sa_decay: float = Field(default=0.95, gt=0, le=1)
    sa_steps_per_temperature: int = Field(default=100, ge=1)
    candidates: int = Field(ge=1)
    population: int = Field(ge=2)
    generations: int = Field(ge=0)
    segmented_generations: int | None = Field(default=None, ge=0)
    rram_ratios: tuple[float, ...]
    points_per_batch: int = Field(default=3, ge=1)


#: PIMSYN's rram_ratio grid (its released code's values).
PIMSYN_RRAM_RATIOS = (0.15, 0.2, 0.25, 0.3)

EFFORTS: dict[str, Effort] = {
    "quick": Effort(name="quick", sa_chains=4, sa_steps=200, candidates=2, population=12, generations=15,
                    rram_ratios=PIMSYN_RRAM_RATIOS),
    "default": Effort(name="default", sa_chains=10, sa_steps=1000, candidates=10, population=40,
                      generations=200, segmented_generations=100, rram_ratios=PIMSYN_RRAM_RATIOS),
    "thorough": Effort(name="thorough", sa_chains=20, sa_steps=3000, candidates=20, population=40,
                       generations=400, segmented_generations=400, rram_ratios=(0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)),
}


def generations_for(effort: Effort, segmented: bool) -> int:
    """EA generations of an inner search in a space that is segmented or not."""
    if segmented and effort.segmented_generations is not None:
        return effort.segmented_generations
    return effort.generations


def effort_named(name: str) -> Effort:
    """The preset ``name``; PimtuneError (one line) for an unknown one."""
    if name not in EFFORTS:
        raise PimtuneError(f"unknown effort {name!r}; choose from {', '.join(EFFORTS)}")
    return EFFORTS[name]
