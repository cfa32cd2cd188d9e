"""Summing per-layer arrays into their macro sets without a Python loop over designs."""

from __future__ import annotations

import numpy as np


def scatter_sum(values: np.ndarray, host: np.ndarray, n_sets: int) -> np.ndarray:
    """Sum kind-major ``values`` (X, N, La) into (X, N, n_sets) by each layer's set ``host`` (N, La)."""
    X, n, La = values.shape
    flat = (np.arange(n)[:, None] * n_sets + host).ravel()
    out = np.empty((X, n, n_sets))
    for x in range(X):
        out[x] = np.bincount(flat, weights=values[x].ravel(), minlength=n * n_sets).reshape(n, n_sets)
    return out


def set_sums(values: np.ndarray, group: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Sum kind-major ``values`` (X, N, La) into macro sets, (X, N, L).

    ``group`` (La, L) is the static 0/1 matrix of which weighted layer's macros run each
    layer when nothing is shared (a BLAS product); then every layer that shares an
    earlier layer's macros (``share`` (N, L), -1 for none) adds its group to that
    layer's set and has no set of its own (a set holds at most two groups).
    """
    natural = values @ group                                            # (X, N, L)
    rows, cols = np.nonzero(share >= 0)
    if len(rows):
        natural[:, rows, share[rows, cols]] += natural[:, rows, cols]   # one partner per set
        natural[:, rows, cols] = 0
    return natural
