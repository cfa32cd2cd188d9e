"""PIMSYN's SA filter over duplication vectors, batched over instances.

An instance is one outer point at one DAC resolution: its globals are fixed, so each conv
layer's crossbars per copy and the crossbars the copies may use are fixed too. For E
instances, ``chains`` SA chains each anneal the conv layers' copies with PIMSYN's move
(:func:`search.operators.annealing.move_copies`, then :func:`~search.operators.annealing.fill_copies` so the
budget stays used) under PIMSYN's Eq.-4 energy (:func:`~search.operators.annealing.duplication_energy`,
lower is better). Every proposal enters an archive of the ``keep`` best distinct vectors
of its instance: the candidates the EA then partitions. All E * chains chains are rows of
one array, so a step costs the same few numpy calls whatever E is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search.operators.annealing import (PIMSYN_ALPHA, accept, conv_copies, duplication_energy, energy_terms, fill_copies,
                              move_copies, temperature)
from search.operators.evolution import rows_of
from space import DesignSpace


@dataclass
class FilterResult:
    """Candidates of E instances.

    Attributes:
        dup: (E, keep, C) conv-layer copies, best first.
        energy: (E, keep) their energy; ``inf`` where an instance met fewer than ``keep``
            distinct vectors (those rows repeat its best one).
        best_energy: (steps + 1, E) best energy seen so far, per step.
    """

    dup: np.ndarray
    energy: np.ndarray
    best_energy: np.ndarray

    def found(self) -> np.ndarray:
        """(E, keep) bool: which candidates are real (finite energy)."""
        return np.isfinite(self.energy)


def filter_duplication(space: DesignSpace, X: np.ndarray, chains: int, steps: int, keep: int,
                       rng: np.random.Generator, *, t0: float = 0.05, decay: float = 0.95,
                       steps_per_temperature: int = 100, alpha: float = PIMSYN_ALPHA) -> FilterResult:
    """Anneal ``chains`` chains per instance for ``steps`` proposals; keep the best vectors.

    Args:
        space: the design space.
        X: (E, D) one repaired row per instance; its globals fix the instance, its copies
            are ignored (every chain starts from one copy per layer, then fills the
            budget in a random layer order).
        chains, steps, keep: chains per instance, proposals per chain, candidates kept.
        rng: random source of every draw.
        t0, decay, steps_per_temperature: the cooling schedule (:func:`~search.operators.annealing.temperature`).
        alpha: Eq. 4's weight of the access-balance term.
    """
    E = len(X)
    dup1, sets1, limit1 = conv_copies(space, X)
    dmax = space.dup_max[space.conv]
    dmov = dmax > 1
    rows = np.repeat(np.arange(E), chains)
    sets, limit = sets1[rows], limit1[rows]
    pixels, access = energy_terms(space)

    def energy(d: np.ndarray) -> np.ndarray:
        return duplication_energy(d, pixels, access, alpha)

    dup = fill_copies(np.ones_like(sets), sets, limit, dmax, dmov, rng)
    e = energy(dup)
    weights = rng.integers(1, 2**62, size=dup.shape[1])       # row hash for de-duplication
    arch_dup, arch_e = np.zeros((E, 0, dup.shape[1]), dtype=np.int64), np.zeros((E, 0))
    arch_dup, arch_e = _merge(arch_dup, arch_e, dup.reshape(E, chains, -1), e.reshape(E, chains), weights, keep)
    history = [arch_e[:, 0].copy()]
    everyone = np.ones(len(dup), dtype=bool)
    for step in range(steps):
        moved = move_copies(dup, sets, limit, dmax, dmov, everyone, rng)
        new = fill_copies(moved, sets, limit, dmax, dmov, rng)
        e_new = energy(new)
        acc = accept(-e, -e_new, temperature(step, t0, decay, steps_per_temperature), rng)
        dup[acc], e[acc] = new[acc], e_new[acc]
        arch_dup, arch_e = _merge(arch_dup, arch_e, new.reshape(E, chains, -1), e_new.reshape(E, chains),
                                  weights, keep)
        history.append(arch_e[:, 0].copy())
    if arch_e.shape[1] < keep:                                # fewer distinct vectors than asked
        pad = keep - arch_e.shape[1]
        arch_dup = np.concatenate([arch_dup, np.repeat(arch_dup[:, :1], pad, 1)], 1)
        arch_e = np.concatenate([arch_e, np.full((E, pad), np.inf)], 1)
    return FilterResult(dup=arch_dup, energy=arch_e, best_energy=np.array(history))


def _merge(arch_dup: np.ndarray, arch_e: np.ndarray, dup: np.ndarray, e: np.ndarray, weights: np.ndarray,
           keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``keep`` lowest-energy distinct vectors of the archive (E, k, C) and new rows
    (E, K, C) per instance, best first (equal vectors have equal energy, so after sorting
    by (energy, hash) repeats are neighbours); a repeat that still makes the cut (fewer
    distinct vectors than ``keep``) gets energy ``inf``."""
    all_dup = np.concatenate([arch_dup, dup], 1)
    all_e = np.concatenate([arch_e, e], 1)
    h = all_dup @ weights
    order = np.lexsort((h, all_e), axis=-1)
    all_dup = rows_of(all_dup, order)
    all_e = np.take_along_axis(all_e, order, 1)
    h = np.take_along_axis(h, order, 1)
    repeat = np.zeros(all_e.shape, dtype=bool)
    repeat[:, 1:] = h[:, 1:] == h[:, :-1]
    all_e = np.where(repeat, np.inf, all_e)
    order = np.argsort(all_e, axis=1, kind="stable")[:, :keep]
    return rows_of(all_dup, order), np.take_along_axis(all_e, order, 1)
