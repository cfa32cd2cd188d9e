"""Choosing a divisor of many integers at once.

A layer's macro count must be a product of a divisor of its duplication and a divisor of
its row-group count, i.e. a divisor of ``dup * row_groups`` (every divisor of a product
splits into divisors of the factors). The search encodes the choice as a fraction
``u`` in [0, 1]; :func:`divisor_at` returns ``prod_p p^round(u * e_p)`` over the prime
factorisation ``x = prod_p p^e_p``: 1 at u = 0, x at u = 1, about ``x^u`` between, always
a divisor. Factorisation uses a smallest-prime-factor sieve and runs once per distinct
value (a population repeats the same few hundred ``dup * row_groups`` values).
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


def factorise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prime factorisation of positive ints ``x`` (U,): primes (U, F) and exponents (U, F),
    F the most distinct primes of any value, padded with prime 1 and exponent 0."""
    x = np.asarray(x, dtype=np.int64)
    spf = smallest_prime_factor(int(x.max(initial=1)))
    primes, exps = [], []
    rest = x.copy()
    while (rest > 1).any():
        p = np.where(rest > 1, spf[rest], 1)
        e = np.zeros_like(x)
        divisible = p > 1
        while divisible.any():
            rest = np.where(divisible, rest // p, rest)
            e += divisible
            divisible = (p > 1) & (rest % p == 0)
        primes.append(p)
        exps.append(e)
    if not primes:
        return np.ones((len(x), 1), dtype=np.int64), np.zeros((len(x), 1), dtype=np.int64)
    return np.stack(primes, 1), np.stack(exps, 1)


def divisor_at(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A divisor of each ``x`` (positive ints) chosen by the fraction ``u`` in [0, 1];
    ``x`` and ``u`` broadcast, e.g. x (N, L, 1) with u (levels,) gives every level's count.

    Each distinct value is factorised once; when the distinct (value, fraction) pairs are
    fewer than the elements (fractions on a grid of levels, as the design space uses), the
    divisors come from a table over those pairs."""
    x = np.asarray(x, dtype=np.int64)
    u = np.asarray(u, dtype=float)
    shape = np.broadcast_shapes(x.shape, u.shape)
    values, x_inv = np.unique(x, return_inverse=True)
    fractions, u_inv = np.unique(u, return_inverse=True)
    p, e = factorise(values)
    x_inv = np.broadcast_to(x_inv.reshape(x.shape), shape)
    u_inv = np.broadcast_to(u_inv.reshape(u.shape), shape)
    if len(values) * len(fractions) <= int(np.prod(shape)):
        table = np.prod(p[:, None, :] ** np.rint(fractions[None, :, None] * e[:, None, :]).astype(np.int64), -1)
        return table[x_inv, u_inv]
    return np.prod(p[x_inv] ** np.rint(fractions[u_inv][..., None] * e[x_inv]).astype(np.int64), -1)
