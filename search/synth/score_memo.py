"""Scores of design rows seen before, so that a search scores each distinct row once.

An EA over macro partitioning proposes many rows it has scored before (in ResNet-18's
synthesis about one child in five repeats an earlier design of its instance: a mutation
undone by repair, or one an earlier generation tried). :class:`ScoreMemo` wraps a
vectorised objective: rows found in its table take their stored score, and the others
are passed to the objective in one call, each distinct row once, in the order they
first occur.

The table is an open-addressing hash table in numpy arrays (linear probing, vectorised
over rows; it doubles when half full). A row is identified by two independent random
linear hashes of its integer columns modulo 2^64: two different rows whose columns differ
by less than 2^15 collide in both with probability below 2^-98, so for the millions of
rows of a synthesis the chance of any wrong lookup is below 2^-50.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_EMPTY = np.uint64(0)


class ScoreMemo:
    """``memo(rows)`` -> ``objective(rows)`` (M,), scoring only rows not seen before.

    Args:
        objective: (K, D) int rows -> (K,) float scores; must be a pure function of the row.
        dims: D, the number of columns.
        capacity: initial table slots (a power of two is used).
    """

    def __init__(self, objective: Callable[[np.ndarray], np.ndarray], dims: int, capacity: int = 1 << 16):
        self._objective = objective
        weights = np.random.default_rng(0x5EED).integers(0, np.iinfo(np.int64).max, size=(dims, 2), dtype=np.int64)
        self._weights = weights | 1                      # odd weights: a change of one column always shows
        size = 1 << max(int(capacity - 1).bit_length(), 4)
        self._alloc(size)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._count

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        key, check = self._hash(rows)
        slot = self._probe(key, check)
        found = self._key[slot] != _EMPTY
        out = np.empty(len(rows), dtype=float)
        out[found] = self._value[slot[found]]
        new = np.flatnonzero(~found)
        scored = 0
        if len(new):
            # equal rows among the new ones are scored once, in the order they first occur
            first, inverse = _distinct(key[new], check[new])
            order = np.argsort(first)
            unique = new[first[order]]
            value = np.empty(len(first), dtype=float)
            value[order] = np.asarray(self._objective(rows[unique]), dtype=float)
            out[new] = value[inverse]
            self._insert(key[unique], check[unique], out[unique], slot[unique])
            scored = len(unique)
        self.hits += len(rows) - scored
        self.misses += scored
        return out

    # --- the table --------------------------------------------------------------------
    def _alloc(self, size: int) -> None:
        self._key = np.zeros(size, dtype=np.uint64)
        self._check = np.zeros(size, dtype=np.uint64)
        self._value = np.zeros(size, dtype=float)
        self._count = 0

    def _hash(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two (M,) uint64 hashes of the rows; the first is never 0 (0 marks an empty slot)."""
        h = (rows @ self._weights).view(np.uint64)      # int64 products wrap modulo 2^64
        key = h[:, 0].copy()
        key[key == _EMPTY] = 1
        return key, h[:, 1].copy()

    def _probe(self, key: np.ndarray, check: np.ndarray, slot: np.ndarray | None = None) -> np.ndarray:
        """(M,) the slot holding each key, else the first empty slot of its probe sequence
        (from its home slot, or from ``slot``)."""
        mask = len(self._key) - 1
        slot = (key & np.uint64(mask)).astype(np.intp) if slot is None else slot
        todo = np.arange(len(key))
        while len(todo):
            s = slot[todo]
            k = self._key[s]
            done = (k == _EMPTY) | ((k == key[todo]) & (self._check[s] == check[todo]))
            todo = todo[~done]
            slot[todo] = (slot[todo] + 1) & mask
        return slot

    def _insert(self, key: np.ndarray, check: np.ndarray, value: np.ndarray, slot: np.ndarray | None = None) -> None:
        """Store distinct keys that are not in the table; ``slot``: the empty slots their
        probes ended in, if the table has not changed since."""
        if 2 * (self._count + len(key)) > len(self._key):
            self._grow(self._count + len(key))
            slot = None
        slot = self._probe(key, check) if slot is None else slot
        todo = np.arange(len(key))
        while len(todo):
            # where several keys want one empty slot, the first takes it and the others probe on
            _, first = np.unique(slot[todo], return_index=True)
            won = todo[first]
            self._key[slot[won]] = key[won]
            self._check[slot[won]] = check[won]
            self._value[slot[won]] = value[won]
            self._count += len(won)
            lost = np.ones(len(todo), dtype=bool)
            lost[first] = False
            todo = todo[lost]
            slot[todo] = self._probe(key[todo], check[todo], slot[todo])

    def _grow(self, needed: int) -> None:
        used = self._key != _EMPTY
        key, check, value = self._key[used], self._check[used], self._value[used]
        size = len(self._key)
        while 2 * needed > size:
            size *= 2
        self._alloc(size)
        self._insert(key, check, value)


def _distinct(key: np.ndarray, check: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the distinct (key, check) pairs, as ``np.unique`` gives them:
    sorting the keys alone is enough unless two pairs share a key but not a check."""
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if np.array_equal(check[first][inverse], check):
        return first, inverse
    pair = np.stack([key, check], 1).view([("key", np.uint64), ("check", np.uint64)]).ravel()
    _, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    return first, inverse
