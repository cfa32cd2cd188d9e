"""A cache keyed by the identity of its arguments (networks, technologies, densities).

Those objects are frozen but not cheaply hashable (numpy arrays, pydantic lists); what is
built from them (a workload, sparsity tables) is reused while the very same objects come
back, as in every evaluation of one search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class IdentityCache(Generic[T]):
    """At most ``size`` results of ``build(*objects)``, found again only for the same objects."""

    def __init__(self, build: Callable[..., T], size: int) -> None:
        self.build, self.size = build, size
        self.entries: dict[tuple[int, ...], tuple[tuple, T]] = {}

    def __call__(self, *objects) -> T:
        key = tuple(map(id, objects))
        hit = self.entries.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], objects)):
            return hit[1]
        if len(self.entries) > self.size:
            self.entries.clear()
        value = self.build(*objects)
        self.entries[key] = (objects, value)
        return value
