"""Runs of equal consecutive rows: compute what depends on them once per run.

A search scores many designs that share their globals and duplication, in a row (the
EA's population of one outer point, DAC resolution and duplication candidate); what
depends only on those columns is computed for the first row of each run and repeated.
"""

from __future__ import annotations

import numpy as np


class Runs:
    """The runs of equal consecutive rows of ``keys`` (N, K)."""

    def __init__(self, keys: np.ndarray):
        n = len(keys)
        changed = (keys[1:] != keys[:-1]).any(1) if n else np.zeros(0, dtype=bool)
        self.starts = np.flatnonzero(np.concatenate([[n > 0], changed]))    # (R,) first row of each run
        self.lengths = np.diff(np.append(self.starts, n))                  # (R,)

    def first(self, a: np.ndarray) -> np.ndarray:
        """The first row of each run of ``a`` (N, ...) -> (R, ...)."""
        return a[self.starts]

    def spread(self, a: np.ndarray, axis: int = 0) -> np.ndarray:
        """Per-run values ``a`` (R along ``axis``) repeated to every row (N along ``axis``)."""
        return a if len(self.starts) == self.lengths.sum() else np.repeat(a, self.lengths, axis)
