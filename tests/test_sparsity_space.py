"""The design space, operators and random designs with densities (``--sparsity``, issue 15).

A dense space is exactly the space without sparsity; a space with densities adds one
``sparse_j`` column per weighted layer (codes 0..3, 0..2 on ``sram_dimc``), decodes it into
``DesignBatch.sparse_mode``, exports it like the other per-layer columns and keeps it through
repair; the SA and EA moves change a layer's mode and nothing else.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import evaluate
from costmodel.random_designs import random_designs
from costmodel.reference_designs import reference_design
from costmodel.sparsity.choices import mode_count
from costmodel.sparsity.source import sparsity_densities
from costmodel.technology import load_technology, require_network_family
from costmodel.workload import build_workload
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from onnx_frontend.zoo.random_weights import with_random_weights
from search.operators.annealing import propose
from search.operators.evolution import crossover, layer_gene_columns, mutate
from search.operators.sparse_moves import sparse_columns
from search.storage.studies import open_study
from search.synth.effort import effort_named
from search.synth.inner_search import search_points
from search.synth.synthesis import SynthesisPlan, default_study_name, identity, synthesis_space
from space import DesignSpace, SpaceError, repair

NET = "alexnet-cifar"


@lru_cache(maxsize=None)
def pruned(name: str = NET, prune: float = 0.7):
    """``(model, network)``: a zoo network with random weights, ``prune`` of them zero."""
    model = with_random_weights(build_model(name), prune=prune)
    return model, load_network(model, name=name)


@lru_cache(maxsize=None)
def tech_named(name: str):
    return require_network_family(load_technology(name))


@lru_cache(maxsize=None)
def measured(tech_name: str = "reram"):
    model, network = pruned()
    return sparsity_densities("measured", network, tech_named(tech_name), model)


def structured(densities, rows: float = 0.25, cols: float = 0.125):
    """``densities`` with every layer's share of all-zero rows and columns set (structured pruning)."""
    L = densities.n_layers
    return dataclasses.replace(densities, zero_rows=np.full(L, rows), zero_cols=np.full(L, cols),
                               tile_zero_rows=np.full_like(densities.tile_zero_rows, rows),
                               tile_zero_cols=np.full_like(densities.tile_zero_cols, cols))


@lru_cache(maxsize=None)
def space_of(tech_name: str = "reram", power: float = 20.0, sparse: bool = True):
    network = pruned()[1]
    return DesignSpace.for_network(network, tech_named(tech_name), power,
                                   densities=measured(tech_name) if sparse else None)


# --- the space ------------------------------------------------------------------------------------
def test_a_dense_space_is_the_space_without_sparsity():
    network, tech = pruned()[1], tech_named("reram")
    plain = DesignSpace.for_network(network, tech, 20.0)
    dense = DesignSpace.for_network(network, tech, 20.0, densities=None)
    assert plain.names == dense.names and not any(n.startswith("sparse_") for n in plain.names)
    assert (plain.sparse_cols == -1).all() and len(sparse_columns(plain)) == 0
    assert plain.sparsity_label() == "" and plain.sparsity_identity() == {} and plain.densities is None
    X = repair(plain, plain.random(64, np.random.default_rng(3)))
    assert (plain.to_batch(X).sparse_mode == 0).all()
    a, b = plain.evaluate(X), evaluate(network, tech, plain.to_batch(X), 20.0)
    assert np.array_equal(a.tops_per_watt, b.tops_per_watt, equal_nan=True)


@pytest.mark.parametrize("tech_name, modes", [("reram", 4), ("sram-aimc", 4), ("sram-dimc", 3)])
def test_the_space_with_densities_has_one_mode_column_per_layer(tech_name, modes):
    space = space_of(tech_name)
    L = space.workload.n_weighted
    names = [f"sparse_{j:02d}" for j in range(L)]
    assert space.names[-L:] == names and list(space.sparse_cols) == [space.index[n] for n in names]
    assert mode_count(space.tech) == modes
    assert (space.low[space.sparse_cols] == 0).all() and (space.high[space.sparse_cols] == modes - 1).all()
    dists = space.to_optuna()
    assert all(dists[n] == optuna.distributions.IntDistribution(0, modes - 1) for n in names)
    assert space.sparsity_label() == f"-sp-{space.densities.fingerprint()}"
    assert space.sparsity_identity() == {"sparsity": space.densities.source,
                                         "sparsity_fingerprint": space.densities.fingerprint()}


def test_the_modes_are_exported_to_ray_tune():
    pytest.importorskip("ray")
    space = space_of()
    tune_space = space.to_tune()
    domain = tune_space["sparse_00"]
    assert (domain.lower, domain.upper) == (0, 4)        # tune.randint: upper bound exclusive


@settings(max_examples=40, deadline=None)
@given(data=st.data(), tech_name=st.sampled_from(["reram", "sram-dimc"]))
def test_any_matrix_within_bounds_decodes_to_valid_modes_and_repair_keeps_them(data, tech_name):
    space = space_of(tech_name)
    n = data.draw(st.integers(1, 6))
    rows = [[data.draw(st.integers(int(lo), int(hi))) for lo, hi in zip(space.low, space.high)] for _ in range(n)]
    X = np.array(rows, dtype=np.int64)
    Y = repair(space, X)
    assert np.array_equal(Y[:, space.sparse_cols], X[:, space.sparse_cols])      # repair keeps the modes
    modes = space.to_batch(Y).sparse_mode
    assert modes.shape == (n, space.workload.n_weighted)
    assert np.array_equal(modes, X[:, space.sparse_cols])
    assert ((0 <= modes) & (modes < mode_count(space.tech))).all()
    params = space.decode(Y)
    assert np.array_equal(space.encode(params), Y)


@settings(max_examples=25, deadline=None)
@given(mode=st.integers(-5, 9), seed=st.integers(0, 2 ** 16))
def test_repair_clips_modes_out_of_range(mode, seed):
    space = space_of("sram-dimc")
    X = repair(space, space.random(4, np.random.default_rng(seed)))
    X[:, space.sparse_cols] = mode
    Y = repair(space, X)
    assert (Y[:, space.sparse_cols] == np.clip(mode, 0, 2)).all()
    assert np.array_equal(repair(space, Y), Y)


def test_the_space_scores_with_its_densities():
    space = space_of()
    X = repair(space, space.random(48, np.random.default_rng(0)))
    r = space.evaluate(X)
    direct = evaluate(space.network, space.tech, space.to_batch(X), 20.0, densities=space.densities)
    assert np.array_equal(r.tops_per_watt, direct.tops_per_watt, equal_nan=True)
    assert r.metrics(0)["sparsity"] == space.densities.source
    assert r.feasible.any()


def test_structured_zeros_shrink_the_space_and_the_reference_designs():
    network, tech = pruned()[1], tech_named("reram")
    d = structured(measured())
    dense, sparse = build_workload(network, tech), build_workload(network, tech, d)
    assert (sparse.row_groups * sparse.col_groups <= dense.row_groups * dense.col_groups).all()
    assert (sparse.row_groups * sparse.col_groups < dense.row_groups * dense.col_groups).any()
    space = DesignSpace.for_network(network, tech, 20.0, densities=d)
    assert space.workload is sparse
    for name, power in (("heuristic", 20.0), ("no-dup", 20.0), ("isaac", 100.0)):
        ref = reference_design(name, network, tech, power, densities=d)
        r = evaluate(network, tech, ref, power, densities=d)
        assert r.feasible[0], name
        assert (ref.sparse_mode == 0).all()
    no_dup = reference_design("no-dup", network, tech, 20.0, densities=d)
    r_sparse = evaluate(network, tech, no_dup, 20.0, densities=d).resolved
    r_dense = evaluate(network, tech, no_dup, 20.0).resolved
    assert r_sparse.crossbars.sum() < r_dense.crossbars.sum()      # the same copies need fewer crossbars


def test_densities_of_another_network_or_a_technology_without_support_are_refused():
    network, tech = pruned()[1], tech_named("reram")
    other = load_network(build_model("resnet18-cifar"))
    with pytest.raises(SpaceError, match="weighted layers"):
        DesignSpace.for_network(other, tech, 20.0, densities=measured())
    bare = tech.model_copy(update={"sparsity": None})
    with pytest.raises(SpaceError, match="no 'sparsity:' section"):
        DesignSpace.for_network(network, bare, 20.0, densities=measured())


# --- the moves ------------------------------------------------------------------------------------
@pytest.mark.parametrize("tech_name", ["reram", "sram-dimc"])
@pytest.mark.parametrize("move", [mutate, propose], ids=["ea", "sa"])
def test_a_mode_move_changes_one_mode_and_nothing_else(tech_name, move):
    space = space_of(tech_name)
    rng = np.random.default_rng(1)
    X = repair(space, space.random(200, rng))
    cols = sparse_columns(space)
    Y = move(space, X, rng, columns=cols)
    changed = Y != X
    assert not changed[:, np.setdiff1d(np.arange(space.dims), cols)].any()
    assert (changed[:, cols].sum(1) == 1).all()                 # every row: one layer, another mode
    assert ((Y[:, cols] >= 0) & (Y[:, cols] <= space.high[cols])).all()


def test_whole_row_moves_stay_repaired_and_in_range():
    space = space_of()
    rng = np.random.default_rng(2)
    X = repair(space, space.random(120, rng))
    Y = mutate(space, X, rng, p_other=0.5)
    assert np.array_equal(repair(space, Y), Y)
    assert ((Y >= space.low) & (Y <= space.high)).all()
    assert (Y[:, space.sparse_cols] != X[:, space.sparse_cols]).any()   # (e) drew for some rows
    genes = layer_gene_columns(space)
    assert all(space.sparse_cols[j] in g for j, g in enumerate(genes))
    B = repair(space, space.random(120, rng))
    C = crossover(space, X, B, rng)
    from_a = C[:, space.sparse_cols] == X[:, space.sparse_cols]
    from_b = C[:, space.sparse_cols] == B[:, space.sparse_cols]
    assert (from_a | from_b).all()
    Z = propose(space, X, rng, move_globals=1.0)               # SA's whole rows: some move a mode
    assert (Z[:, space.sparse_cols] != X[:, space.sparse_cols]).any() and np.array_equal(repair(space, Z), Z)


# --- random designs and the inner search ---------------------------------------------------------------
@pytest.mark.parametrize("tech_name", ["reram", "sram-dimc"])
def test_random_designs_draw_modes_from_their_own_stream(tech_name):
    network, tech = pruned()[1], tech_named(tech_name)
    d = measured(tech_name)
    plain = random_designs(network, tech, 20.0, 300, seed=5, densities=d, segmented=True)
    drawn = random_designs(network, tech, 20.0, 300, seed=5, densities=d, segmented=True, sparse_modes=True)
    assert (plain.sparse_mode == 0).all()
    assert set(np.unique(drawn.sparse_mode)) == set(range(mode_count(tech)))
    for key in ("rram_ratio", "cell_bits", "xbar_size", "dup", "macros", "share", "segment", "batch"):
        assert np.array_equal(getattr(plain, key), getattr(drawn, key)), key
    r = evaluate(network, tech, drawn, 20.0, densities=d)
    assert r.feasible.any()


def test_the_inner_search_searches_modes_with_duplication_and_macros():
    space = space_of()
    effort = effort_named("quick")
    points = [{"rram_ratio": 0.3, "cell_bits": 2, "xbar_size": 128}, {"rram_ratio": 0.3, "cell_bits": 4, "xbar_size": 256}]
    outcomes = search_points(space, points, effort, "tops_per_watt", np.random.default_rng(0))
    done = [o for o in outcomes if o.value is not None]
    assert done
    rows = np.stack([o.row for o in done])
    modes = space.to_batch(rows).sparse_mode
    assert ((modes >= 0) & (modes < 4)).all()
    again = space.evaluate(rows)
    assert np.allclose(again.tops_per_watt, [o.value for o in done])


def test_synthesis_identity_and_names_carry_the_densities():
    network, tech = pruned()[1], tech_named("reram")
    plan = SynthesisPlan(effort=effort_named("quick"))
    dense = synthesis_space(network, tech, 20.0, DesignSpace.for_network(network, tech, 20.0).options, plan)
    sparse = synthesis_space(network, tech, 20.0, dense.options, plan, densities=measured())
    assert "sparsity" not in identity(dense, plan) and default_study_name(dense, plan) == \
        "alexnet-cifar-20W-synth-tops_per_watt-quick"
    assert identity(sparse, plan)["sparsity_fingerprint"] == measured().fingerprint()
    assert default_study_name(sparse, plan) == f"alexnet-cifar-20W-synth-tops_per_watt-quick-sp-{measured().fingerprint()}"
    storage = optuna.storages.InMemoryStorage()
    open_study(storage, "s", None, ["maximize"], identity(sparse, plan))
    for other, words in ((dense, "sparsity 'measured"), (synthesis_space(network, tech, 20.0, dense.options, plan,
                                                                           densities=structured(measured())),
                                                         "sparsity densities")):
        with pytest.raises(Exception, match=words):
            open_study(storage, "s", None, ["maximize"], identity(other, plan))
