"""Segments of a design: per-segment sums and maxima, and weight tiles (MODEL.md section 8).

A design runs its weighted layers in consecutive segments (``segment`` (N, L), 0, then
equal to the previous layer's or one more); a weightless layer belongs to the segment of
the weighted layer whose macros run it. Arrays indexed by segment are ``(N, S)`` with S
the most segments of any design of the batch; segments a design does not have hold 0.
A layer alone in its segment whose one copy exceeds the chip is split into weight tiles
that run one after another (:func:`weight_tiles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.reduce import row_max


def segment_sum(values: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N, S) float64 sums of ``values`` (N, X) over the entries of each segment ``seg`` (N, X)."""
    return segment_sums(values[..., None], seg, S)[..., 0]


def largest_segment(values: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N, C) the largest sum of one segment of each last-axis slice of ``values`` (N, X, C)
    (non-negative; slices that are zero everywhere, such as components a family does not
    use, are left out of the sums)."""
    used = np.flatnonzero(values.any((0, 1)))
    if len(used) == values.shape[2]:
        return row_max(segment_sums(values, seg, S).transpose(0, 2, 1))
    out = np.zeros((values.shape[0], values.shape[2]))
    if len(used):
        out[:, used] = row_max(segment_sums(values[..., used], seg, S).transpose(0, 2, 1))
    return out


def segment_sums(values: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N, S, C) float64 sums of ``values`` (N, X, C) over the entries of each segment
    ``seg`` (N, X): :func:`segment_sum` of every last-axis slice in one ``bincount``."""
    n, X, C = values.shape
    return np.bincount(_flat_index(seg, S, C), weights=values.ravel(), minlength=n * S * C).reshape(n, S, C)


_INDEX_CACHE: list[tuple[np.ndarray, int, int, np.ndarray]] = []
_INDEX_CACHE_SIZE = 8


def _flat_index(seg: np.ndarray, S: int, C: int) -> np.ndarray:
    """The ``bincount`` bin of every entry of (N, X, C) values for segments ``seg``:
    ``(n * S + seg) * C + c``. One evaluation sums many arrays over the same segments,
    so the last few indices are kept, each with a copy of its segments (a hit compares
    them: an array changed in place is not mistaken for the one cached); a read-only
    array (:func:`frozen`) is found by identity alone."""
    frozen_seg = not seg.flags.writeable                                   # a read-only view: found by identity
    for ref, cached, s, c, flat in _INDEX_CACHE:
        if s == S and c == C and (ref is seg if frozen_seg else
                                  (cached.shape == seg.shape and np.array_equal(cached, seg))):
            return flat
    flat = ((((np.arange(seg.shape[0])[:, None] * S + seg) * C)[..., None] + np.arange(C))).ravel()
    _INDEX_CACHE.insert(0, (seg, seg.copy(), S, C, flat))
    del _INDEX_CACHE[_INDEX_CACHE_SIZE:]
    return flat


def frozen(seg: np.ndarray) -> np.ndarray:
    """A read-only view of ``seg``: the segment sums find its cached index without comparing."""
    view = seg.view()
    view.flags.writeable = False
    return view


def segment_max(values: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N, S) maxima of non-negative ``values`` (N, X) over the entries of each segment."""
    n = values.shape[0]
    out = np.zeros(n * S, dtype=values.dtype)
    np.maximum.at(out, (np.arange(n)[:, None] * S + seg).ravel(), values.ravel())
    return out.reshape(n, S)


def chip_total(values: np.ndarray, seg: np.ndarray, S: int) -> np.ndarray:
    """(N,) what the chip must hold of a resource counted per layer or set (N, L): the sum
    over every entry with one segment (exactly today's total), else the largest sum of
    one segment (segments run one at a time on the same hardware)."""
    total = values.sum(1)
    if S == 1:
        return total
    return np.where(seg[:, -1] == 0, total, row_max(segment_sum(values, seg, S)))


@dataclass(frozen=True)
class Tiles:
    """Weight tiles of each weighted layer, (N, L) each.

    Attributes:
        count: tiles T = rows x cols (1: the layer's copies are resident at once).
        rows: T_r, tiles along the row groups (the accumulation dimension: each tile
            yields partial sums of every output of its column tiles).
        cols: T_c, tiles along the column groups (output channels).
        blocks: blocks one tile holds (the whole layer's ``dup x row x column groups``
            when untiled).
    """

    count: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    blocks: np.ndarray

    @property
    def tiled(self) -> np.ndarray:
        return self.count > 1


def weight_tiles(blocks: np.ndarray, row_groups: np.ndarray, col_groups: np.ndarray, alone,
                 tile_blocks_max: np.ndarray) -> Tiles:
    """The fewest weight tiles of each layer that fit the chip.

    ``blocks`` (N, L) are a layer's blocks (copies x row groups x column groups),
    ``alone`` (N, L) whether it is the only weighted layer of its segment (or a function
    returning it, called only when some layer exceeds the chip), and
    ``tile_blocks_max`` (N,) or (N, L) the blocks the chip holds (crossbar budget / each layer's slices). A layer
    that is not alone, or fits, has one tile. Otherwise whole column groups (every row
    group of some output channels) go to a tile if one fits (T_r = 1, T_c = ceil(cg /
    cols per tile)); else every column group is split along its rows (T_c = cg, T_r =
    ceil(rg / tile_blocks_max)). A chip that holds no block gets one tile (the design is
    infeasible by the crossbar budget)."""
    most = tile_blocks_max if np.ndim(tile_blocks_max) == 2 else np.asarray(tile_blocks_max)[:, None]
    cap = np.maximum(most, 1).astype(np.int64)
    split = (blocks > cap) & (most >= 1)
    if not split.any():
        one = np.ones(blocks.shape, dtype=np.int64)
        return Tiles(count=one, rows=one, cols=one, blocks=blocks)
    split &= alone() if callable(alone) else alone
    cols_per_tile = cap // row_groups
    whole_cols = cols_per_tile >= 1
    t_r = np.where(whole_cols, 1, -(-row_groups // cap))
    t_c = np.where(whole_cols, -(-col_groups // np.maximum(cols_per_tile, 1)), col_groups)
    t_r, t_c = np.where(split, t_r, 1), np.where(split, t_c, 1)
    per_tile = np.where(split, -(-row_groups // t_r) * -(-col_groups // t_c), blocks)
    return Tiles(count=t_r * t_c, rows=t_r, cols=t_c, blocks=per_tile)


def alone_in_segment(seg: np.ndarray) -> np.ndarray:
    """(N, L) whether each weighted layer is the only one of its segment."""
    n, L = seg.shape
    S = L
    sizes = segment_sum(np.ones((n, L)), seg, S)
    return sizes[np.arange(n)[:, None], seg] == 1


def greedy_segments(sets: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """(N, L) segments of layers packed in order: a new segment starts where the current
    one's crossbars ``sets`` (N, L, one copy each) would exceed ``capacity`` (N,); a layer
    above it alone gets a segment of its own (it runs in weight tiles)."""
    n, L = sets.shape
    seg = np.zeros((n, L), dtype=np.int64)
    acc = np.zeros(n)
    for j in range(L):
        new = (acc > 0) & (acc + sets[:, j] > capacity) if j else np.zeros(n, dtype=bool)
        seg[:, j] = (seg[:, j - 1] + new) if j else 0
        acc = np.where(new, 0, acc) + sets[:, j]
    return seg


def copies_filling_segments(sets: np.ndarray, seg: np.ndarray, room: np.ndarray, pixels: np.ndarray,
                            top: np.ndarray, steps: int = 24) -> np.ndarray:
    """(N, L) copies ``clip(floor(alpha_s * pixels), 1, top)`` with the largest factor
    ``alpha_s`` per segment whose copies' crossbars (``sets`` (N, L) per copy) fit the
    segment's ``room`` (N, S): PIMSYN's H_out x W_out heuristic, per segment (one
    bisection of ``steps`` halvings over every segment at once; 2^-24 resolves one copy of
    16M pixels). ``top`` (N, L) or (L,) caps each layer (1: one copy)."""
    n, S = room.shape
    rows = np.arange(n)[:, None]

    def copies(alpha: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(alpha[rows, seg] * pixels), 1, top).astype(np.int64)

    lo, hi = np.zeros((n, S)), np.ones((n, S))
    for _ in range(steps):
        mid = (lo + hi) / 2
        fits = segment_sum(copies(mid) * sets, seg, S) <= room
        lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
    return copies(lo)
