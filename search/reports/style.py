"""Shared plot style of the study reports: matplotlib on the Agg backend (no display),
one colour per family, one marker per network."""

from __future__ import annotations

#: one colour per family label (``costmodel.families.sram.macro_space.family_label``)
FAMILY_COLOURS = {"AIMC": "tab:blue", "DIMC": "tab:orange"}
OTHER_COLOURS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
#: one line style per network (fronts of several networks in one colour)
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def pyplot():
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def family_colour(label: str, order: list[str]) -> str:
    """The colour of family ``label``; families other than AIMC and DIMC get the next free
    colour by their position in ``order``."""
    if label in FAMILY_COLOURS:
        return FAMILY_COLOURS[label]
    others = [f for f in order if f not in FAMILY_COLOURS]
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)] if label in others else "gray"


def front_steps(ax, x, y, **kwargs):
    """Draw a front of two maximised objectives, ordered by ``x`` ascending, as the step
    line bounding the region it dominates: down from each point, then right to the next."""
    return ax.step(x, y, where="pre", **kwargs)
