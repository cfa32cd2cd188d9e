"""Stored flat searches run in memory and are written back per batch: what lands in a
SQLite database or a journal file is exactly what an in-memory search holds."""

from __future__ import annotations

import optuna
import pytest

from search.flat.flat_search import directions_of, run_search
from search.storage.rdb_append import append_trials
from search.samplers.sampler_factory import make_sampler
from search.storage.studies import open_storage
from search.storage.study_lease import LEASE_KEY
from space import DesignSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def space(alexnet, tech):
    return DesignSpace.for_network(alexnet, tech, 20.0)


def run(space, name, n, storage, objectives=("tops_per_watt",)):
    sampler, batch = make_sampler(name, space, 5, len(objectives))
    study = optuna.create_study(sampler=sampler, directions=directions_of(objectives), storage=storage,
                                study_name="m", load_if_exists=True)
    run_search(space, study, batch, n, objectives)
    return study


def content(study):
    return [(t.number, t.state, t.values, t.params, t.distributions, t.user_attrs, t.system_attrs,
             t.intermediate_values, t.datetime_start, t.datetime_complete) for t in study.get_trials()]


@pytest.mark.parametrize("name,objectives", [("ea", ("tops_per_watt",)), ("sa", ("tops_per_watt",)),
                                             ("nsga2", ("tops_per_watt", "area"))])
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_stored_search_holds_what_memory_holds(space, tmp_path, name, objectives, kind):
    url = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else str(tmp_path / "s.log")
    memory = run(space, name, 130, None, objectives)
    run(space, name, 130, open_storage(url), objectives)
    stored = optuna.load_study(study_name="m", storage=open_storage(url))      # a fresh reader
    mem, got = content(memory), content(stored)
    assert len(got) == len(mem) >= 130
    for a, b in zip(mem, got):
        assert a[:8] == b[:8]
        assert b[8] <= b[9]                           # times of this run, in local time as Optuna's
    # the sampler's study attributes went along, so a resumed search continues from them
    def attrs(study):                                 # the sampler's, without the released lease
        return {k: v for k, v in study._storage.get_study_system_attrs(study._study_id).items()
                if k != LEASE_KEY}

    assert attrs(stored) == attrs(memory)


def test_resumed_stored_search_matches_one_run(space, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run(space, "ea", 80, open_storage(url))
    resumed = run(space, "ea", 200, open_storage(url))
    whole = run(space, "ea", 200, None)
    assert content(resumed)[:200] and [c[:8] for c in content(resumed)] == [c[:8] for c in content(whole)]


def test_bulk_insert_refuses_an_unknown_schema(space, tmp_path, monkeypatch):
    from optuna.storages._rdb import models

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'x.db'}")
    study = optuna.create_study(storage=storage)
    trial = optuna.trial.create_trial(value=1.0)
    monkeypatch.setattr(models.TrialParamModel, "__tablename__", "renamed")
    assert append_trials(storage, study._study_id, [trial]) is False
    assert study.trials == []
