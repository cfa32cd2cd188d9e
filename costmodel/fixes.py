"""What fixes an infeasible request: the advice a message gives for its reasons.

A reason is a :data:`costmodel.resolve.REASONS` name (``adc_resolution``) or the text of
an outer point's reason ("no ADC is precise enough for 2-bit DACs"); only reasons a
larger budget removes are answered with "raise --power" (or the ``budget`` fix given:
"raise --area" under an area budget).
"""

from __future__ import annotations

# (words that identify a reason, its fix), the first match wins
_FIXES = (
    (("adc",), "add a more precise ADC to the technology file (--tech)"),
    (("macro_capacity", "crossbars in a macro"),
     "give the layers more macros, or raise macro.max_crossbars in the technology file (--tech)"),
    (("scratchpad",), "add a larger scratchpad size to the technology file (--tech)"),
    (("partition", "missing_component"), "fix the design's macros, sharing or counts"),
    (("crossbar", "weights", "peripher", "budget", "power"), "raise --power"),
)


def fix_for(reasons, budget: str = "raise --power") -> str:
    """The fixes of ``reasons`` (each once, in order), joined with " or "; ``budget`` is
    how a larger budget is asked for (:func:`costmodel.budgets.budget_fix`: ``raise
    --area`` for an area budget)."""
    fixes = []
    for reason in reasons:
        text = str(reason).lower()
        fix = next((f for words, f in _FIXES if any(w in text for w in words)), "raise --power")
        fix = budget if fix == "raise --power" else fix
        if fix not in fixes:
            fixes.append(fix)
    return " or ".join(fixes) or budget
