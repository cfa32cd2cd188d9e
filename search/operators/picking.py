"""Random choice among the allowed entries of each row, vectorised (for the operators)."""

from __future__ import annotations

import numpy as np


def pick(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(R,) index of a uniformly random True entry of each row of ``mask`` (R, K); -1 if none."""
    if mask.shape[-1] == 0:
        return np.full(mask.shape[0], -1)
    keys = rng.random(mask.shape, dtype=np.float32) + mask          # True entries in [1, 2), the others below
    idx = keys.argmax(-1)
    return np.where(mask[np.arange(len(idx)), idx], idx, -1)
