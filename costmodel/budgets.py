"""A chip's budgets: power (W), silicon area (mm^2), or both.

Every function that sizes or names a design takes the two budgets side by side,
``power_w`` and ``area_mm2``; None is "no budget of that kind" (the cost model reads it as
inf) and at least one must be given. The crossbar share ``rram_ratio`` of each budget pays
for the arrays; with both, the chip holds the smaller of the two allocations, so it keeps
within both (MODEL.md, :func:`costmodel.resolve.resolve`).

This module is the one place that turns budgets into words: :func:`budget_label` for
names of studies and folders (``49W``, ``20mm2``, ``49W-20mm2``; a power budget alone
reads as it always has), :func:`budget_text` for titles and messages (``49 W``,
``20 mm^2``, ``49 W and 20 mm^2``) and :func:`budget_fix` for the advice of a message
(``raise --power``, ``raise --area``, ``raise --power or --area``).
"""

from __future__ import annotations

import math

import numpy as np


def given(value) -> bool:
    """Whether ``value`` is a budget (not None, not inf)."""
    return value is not None and math.isfinite(float(value))


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None when it is no budget (None or inf)."""
    return float(value) if given(value) else None


def budget_label(power_w: float | None, area_mm2: float | None = None) -> str:
    """The budgets in names: ``49W``, ``20mm2`` or ``49W-20mm2``."""
    parts = []
    if given(power_w):
        parts.append(f"{power_w:g}W")
    if given(area_mm2):
        parts.append(f"{area_mm2:g}mm2")
    return "-".join(parts)


def budget_text(power_w: float | None, area_mm2: float | None = None) -> str:
    """The budgets in titles and messages: ``49 W``, ``20 mm^2`` or ``49 W and 20 mm^2``."""
    parts = []
    if given(power_w):
        parts.append(f"{power_w:g} W")
    if given(area_mm2):
        parts.append(f"{area_mm2:g} mm^2")
    return " and ".join(parts) or "no budget"


def budget_fix(power_w: float | None, area_mm2: float | None = None) -> str:
    """What a larger budget is called in advice: ``raise --power`` (a power budget alone,
    as always), ``raise --area`` or ``raise --power or --area``."""
    if not given(area_mm2):
        return "raise --power"
    return "raise --power or --area" if given(power_w) else "raise --area"


def crossbars_affordable(power_w, area_mm2, ratio, xbar_peak_w, xbar_area_mm2, eps: float = 1e-9) -> np.ndarray:
    """Crossbars the crossbar share ``ratio`` of the budgets pays for:
    ``floor(min(P * ratio / xbar_peak, A * ratio / xbar_area))`` (each term only for a
    budget that is given; ``eps`` is added before the floor, as resolve does). Broadcasts
    its array arguments; ValueError when neither budget is given."""
    out = None
    for budget, cost in ((power_w, xbar_peak_w), (area_mm2, xbar_area_mm2)):
        if not given(budget):
            continue
        n = np.floor(budget * np.asarray(ratio) / cost + eps)
        out = n if out is None else np.minimum(out, n)
    if out is None:
        raise ValueError("no budget: give a power budget (W), an area budget (mm^2) or both")
    return out
