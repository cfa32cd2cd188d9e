"""ScoreMemo: a memoised vectorised objective returns exactly the objective's scores and
scores every distinct row once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from search.synth.score_memo import ScoreMemo


class CountingObjective:
    """A pure objective of int rows that records every row it was asked to score."""

    def __init__(self, dims: int):
        self.weights = np.linspace(0.5, 3.0, dims)
        self.seen: list[tuple[int, ...]] = []

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.seen.extend(map(tuple, rows.tolist()))
        return np.sin((rows * self.weights).sum(1)) + rows[:, 0]   # row by row: exact on any subset


@settings(max_examples=60, deadline=None)
@given(dims=st.integers(1, 12), span=st.integers(1, 6), batches=st.lists(st.integers(0, 300), min_size=1, max_size=8),
       capacity=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_memo_returns_the_objective_and_scores_each_distinct_row_once(dims, span, batches, capacity, seed):
    rng = np.random.default_rng(seed)
    objective = CountingObjective(dims)
    memo = ScoreMemo(objective, dims, capacity=capacity)
    everything = []
    for n in batches:
        rows = rng.integers(-span, span + 1, size=(n, dims))        # small ranges: many repeats
        everything.append(rows)
        assert np.array_equal(memo(rows), CountingObjective(dims)(rows))
    seen = np.array(objective.seen).reshape(-1, dims)
    distinct = np.unique(np.concatenate(everything), axis=0)
    assert len(seen) == len(np.unique(seen, axis=0)) == len(distinct) == len(memo)
    assert memo.misses == len(distinct)
    assert memo.hits + memo.misses == sum(batches)


def test_memo_grows_past_its_initial_capacity_and_keeps_every_score():
    objective = CountingObjective(3)
    memo = ScoreMemo(objective, 3, capacity=16)
    rows = np.stack(np.meshgrid(np.arange(40), np.arange(30), np.arange(-2, 3), indexing="ij"), -1).reshape(-1, 3)
    first = memo(rows)
    assert len(memo) == len(rows) == 6000
    again = memo(rows[::-1])
    assert np.array_equal(again, first[::-1])
    assert memo.misses == 6000 and memo.hits == 6000
    assert len(objective.seen) == 6000


def test_memo_tells_apart_rows_differing_in_one_column_by_one():
    memo = ScoreMemo(lambda rows: rows.sum(1).astype(float), 5)
    base = np.zeros((1, 5), dtype=np.int64)
    variants = np.repeat(base, 11, 0)
    variants[1:6] += np.eye(5, dtype=np.int64)
    variants[6:] -= np.eye(5, dtype=np.int64)
    assert np.array_equal(memo(variants), variants.sum(1))
    assert memo.misses == 11


def test_memo_keeps_apart_rows_whose_first_hashes_collide():
    """Rows with equal first hash but different second hash are different rows: both in
    one call and across calls."""
    memo = ScoreMemo(lambda rows: rows[:, 0] * 10.0 + rows[:, 1], 2)
    w = memo._weights[:, 0]                          # the first hash's weights (2,)
    colliding = np.array([[0, 0], [int(w[1]), -int(w[0])], [0, 0]], dtype=np.int64)   # both hash to 0
    assert np.array_equal(memo(colliding), colliding[:, 0] * 10.0 + colliding[:, 1])
    assert memo.misses == 2 and memo.hits == 1
    again = memo(colliding[::-1])
    assert np.array_equal(again, colliding[::-1, 0] * 10.0 + colliding[::-1, 1])
    assert memo.misses == 2 and memo.hits == 4
