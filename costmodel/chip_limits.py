"""What one chip can be: the bounds of a power or area budget and the area a design may report.

- A power budget is a finite number of watts in (0, :data:`MAX_POWER_W`]; above it no
  single chip draws that much (a wafer-scale engine draws about 23 kW), so the budget is
  a typo or a unit slip and is refused.
- An area budget is a finite number of mm^2 in (0, :data:`MAX_AREA_MM2`]; above it no
  single chip is that large (a 300 mm wafer holds about 70,000 mm^2), so the budget is a
  typo or a unit slip (mm^2, not um^2) and is refused.
- A design larger than one die (:data:`DIE_AREA_MM2`, the lithography reticle of
  26 mm x 33 mm) is still scored, but every command that reports one says so in a
  warning line: the budget, not the design, is what is wrong.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator

#: Largest power budget accepted, in W.
MAX_POWER_W = 1e5
#: Largest area budget accepted, in mm^2 (a whole 300 mm wafer).
MAX_AREA_MM2 = 7e4
#: Largest area of one die, in mm^2 (the 26 mm x 33 mm reticle).
DIE_AREA_MM2 = 858.0


def _budget_problem(value: float, what: str, unit: str, most: float, note: str, example: str) -> str | None:
    if not math.isfinite(value) or value <= 0:
        return f"the {what} budget must be a positive, finite number of {unit}"
    if value > most:
        article = "an" if what[0] in "aeiou" else "a"
        return (f"{article} {what} budget of {value:g} {unit} is beyond any single chip (at most {most:g} {unit}{note}); "
                f"give the budget in {unit}, e.g. {example}")
    return None


def power_problem(watts: float) -> str | None:
    """Why ``watts`` is not a power budget, or None."""
    return _budget_problem(watts, "power", "W", MAX_POWER_W, "", "49")


def area_problem(mm2: float) -> str | None:
    """Why ``mm2`` is not an area budget, or None."""
    return _budget_problem(mm2, "area", "mm^2", MAX_AREA_MM2, ", a whole wafer", "100")


def _checked(problem):
    """A pydantic after-validator raising ``problem(value)`` when there is one."""
    def check(value: float) -> float:
        why = problem(value)
        if why:
            raise ValueError(why)
        return value
    return check


#: A power budget in a YAML or JSON file (pydantic type).
Watts = Annotated[float, AfterValidator(_checked(power_problem))]
#: An area budget in a YAML or JSON file (pydantic type).
SquareMillimetres = Annotated[float, AfterValidator(_checked(area_problem))]


def area_warning(area_mm2: float, power_w: float | None, area_budget_mm2: float | None = None) -> str | None:
    """The warning for a design of ``area_mm2`` at ``power_w`` (W) and ``area_budget_mm2``
    (mm^2; None: no budget of that kind), or None if it fits one die."""
    if not area_mm2 > DIE_AREA_MM2:
        return None
    head = (f"the design needs {area_mm2:.3g} mm^2 of silicon, more than one die holds ({DIE_AREA_MM2:g} mm^2, "
            f"the reticle): ")
    if area_budget_mm2 is None:
        return head + f"{power_w:g} W is more power than one chip can use; lower --power"
    return head + f"an area budget of {area_budget_mm2:g} mm^2 is more than one chip holds; lower --area"
