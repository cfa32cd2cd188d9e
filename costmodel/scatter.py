"""Summing per-layer arrays into their macro sets without a Python loop over designs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def scatter_sum(values: np.ndarray, host: np.ndarray, n_sets: int) -> np.ndarray:
    """Sum kind-major ``values`` (X, N, La) into (X, N, n_sets) by each layer's set ``host`` (N, La)."""
    X, n, La = values.shape
    flat = (np.arange(n)[:, None] * n_sets + host).ravel()
    out = np.empty((X, n, n_sets))
    for x in range(X):
        out[x] = np.bincount(flat, weights=values[x].ravel(), minlength=n * n_sets).reshape(n, n_sets)
    return out


@dataclass(frozen=True)
class Sharing:
    """The weighted layers that share an earlier layer's macros, as flat indices into
    ``(N, L)`` arrays: ``layer`` (M,) ``n * L + j`` of each sharing layer j of design n,
    ``partner`` (M,) ``n * L + share[n, j]``."""

    layer: np.ndarray
    partner: np.ndarray

    @classmethod
    def of(cls, share: np.ndarray) -> "Sharing":
        """From ``share`` (N, L), -1 for none."""
        flat = np.flatnonzero(share >= 0)
        return cls(layer=flat, partner=flat - flat % share.shape[1] + share.ravel()[flat])

    def merge(self, per_group: np.ndarray) -> np.ndarray:
        """Fold the groups of kind-major ``per_group`` (X, N, L) into sets, in place: every
        sharing layer's group adds to its partner's set and has no set of its own (a set
        holds at most two groups). Returns ``per_group``."""
        if len(self.layer):
            flat = per_group.reshape(per_group.shape[0], -1)
            # one partner per set
            flat[:, self.partner] = flat.take(self.partner, axis=1) + flat.take(self.layer, axis=1)
            flat[:, self.layer] = 0
        return per_group


def set_sums(values: np.ndarray, group: np.ndarray, sharing: Sharing) -> np.ndarray:
    """Sum kind-major ``values`` (X, N, La) into macro sets, (X, N, L).

    ``group`` (La, L) is the static 0/1 matrix of which weighted layer's macros run each
    layer when nothing is shared (a BLAS product); ``sharing`` then folds shared groups.
    """
    return sharing.merge(values @ group)
