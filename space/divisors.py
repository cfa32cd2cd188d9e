"""Choosing a divisor of many integers at once.

A layer's macro count must be a product of a divisor of its duplication and a divisor of
its row-group count, i.e. a divisor of ``dup * row_groups`` (every divisor of a product
splits into divisors of the factors). The search encodes the choice as a fraction
``u`` in [0, 1]; :func:`divisor_at` returns ``prod_p p^round(u * e_p)`` over the prime
factorisation ``x = prod_p p^e_p``: 1 at u = 0, x at u = 1, about ``x^u`` between, always
a divisor. Factorisation uses a smallest-prime-factor sieve, vectorised over all values.
"""

from __future__ import annotations

import numpy as np

_SIEVE = np.zeros(0, dtype=np.int64)


def smallest_prime_factor(limit: int) -> np.ndarray:
    """``spf[k]`` = smallest prime factor of k for k <= limit (cached, grown on demand)."""
    global _SIEVE
    if len(_SIEVE) > limit:
        return _SIEVE
    size = max(limit + 1, 2 * len(_SIEVE), 1 << 16)
    spf = np.arange(size, dtype=np.int64)
    for p in range(2, int(size ** 0.5) + 1):
        if spf[p] == p:
            block = spf[p * p :: p]
            np.minimum(block, p, out=block, where=block == np.arange(p * p, size, p))
    _SIEVE = spf
    return spf


def divisor_at(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A divisor of each ``x`` (positive ints) chosen by the fraction ``u`` in [0, 1]."""
    x = np.asarray(x, dtype=np.int64)
    u = np.broadcast_to(np.asarray(u, dtype=float), x.shape)
    spf = smallest_prime_factor(int(x.max(initial=1)))
    out = np.ones_like(x)
    rest = x.copy()
    while (rest > 1).any():
        p = np.where(rest > 1, spf[rest], 1)
        e = np.zeros_like(x)
        while True:
            divisible = (p > 1) & (rest % np.maximum(p, 1) == 0)
            if not divisible.any():
                break
            rest = np.where(divisible, rest // np.maximum(p, 1), rest)
            e += divisible
        out *= p ** np.rint(u * e).astype(np.int64)
    return out
