"""Optuna storages and studies as pimtune's commands use them.

- :func:`open_storage`: ``--storage`` as an RDB URL (``sqlite:///FILE``,
  ``postgresql://...``) or an Optuna journal file (a path ending in ``.log``), with
  one-line errors.
- :func:`open_study`: create a study or load it; a study made for something else (another
  network, budget, technology, options, command) is refused, never overwritten. What a
  study searches is its *identity*, a dict kept in the study's user attribute
  :data:`STUDY_KEY` and compared key by key when the study is opened again. The budgets
  are ``power_w`` (W; None when the study has none) and ``area_mm2`` (mm^2), kept only
  when given, so that studies made with a power budget alone keep their identity; the
  densities of a sparsity-aware search (``sparsity``: their source, ``sparsity_fingerprint``:
  their fingerprint) and the epitome setting (``epitomes``: ``plan`` or ``search``, with
  its fingerprint and, for a search, its floor, accuracy table and precisions) likewise
  only when given, so that dense studies keep theirs. Such
  keys must match on both sides (:data:`OPTIONAL_KEYS`).
- :func:`fail_stale_trials`: trials a killed run left RUNNING or WAITING become FAIL.
"""

from __future__ import annotations

import hashlib

import optuna
from optuna.trial import TrialState

from costmodel.technology import Technology
from onnx_frontend.errors import PimtuneError
from search.storage.journal_lock import OwnedSymlinkLock
from search.storage.storage_urls import JOURNAL_SUFFIXES, check_storage_file

#: Study user attribute holding what the study searches.
STUDY_KEY = "pimtune"
#: How identity keys read in messages.
LABELS = {"command": "command", "network": "network", "power_w": "power budget (W)",
          "area_mm2": "area budget (mm^2)", "tech": "technology",
          "tech_sha1": "technology file contents", "sharing": "sharing", "macros": "macro mode",
          "parameters": "number of parameters", "sampler": "sampler", "objectives": "objectives",
          "objective": "objective", "outer": "outer sampler", "effort": "effort",
          "effort_sha1": "effort settings", "seed": "seed", "duplication": "duplication source",
          "network_sha1": "network structure", "sparsity": "sparsity",
          "sparsity_fingerprint": "sparsity densities (fingerprint)", "epitomes": "epitomes",
          "epitome_fingerprint": "epitome setting (fingerprint)", "epitome_min_ratio": "epitome compression floor",
          "epitome_table": "epitome accuracy table (fingerprint)", "epitome_weight_bits": "searched weight bits"}
#: Identity keys absent when there is no area budget, no sparsity or no epitomes: compared
#: even when one side lacks them.
OPTIONAL_KEYS = ("area_mm2", "sparsity", "sparsity_fingerprint", "epitomes", "epitome_fingerprint",
                 "epitome_min_ratio", "epitome_table", "epitome_weight_bits")


def open_storage(url: str | None, resumable: bool = False, existing: bool = False):
    """The storage named by ``--storage`` (None: in memory): an RDB URL such as
    ``sqlite:///pimtune.db``, or the path of an Optuna journal file ending in ``.log``
    (its lock names its owner: :mod:`search.storage.journal_lock`). PimtuneError (one line) if it
    cannot be opened, or must not be (:func:`~search.storage.storage_urls.check_storage_file`:
    ``resumable`` refuses an in-memory database, ``existing`` a missing file)."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    if "://" not in url and not url.endswith(JOURNAL_SUFFIXES):
        raise PimtuneError(f"--storage {url}: neither a database URL nor a journal file (*.log); "
                           f"use e.g. sqlite:///{url} or {url}.log")
    check_storage_file(url, storage_label(url), resumable, existing)
    if "://" not in url:
        from optuna.storages.journal import JournalFileBackend
        try:
            storage = optuna.storages.JournalStorage(JournalFileBackend(url, lock_obj=OwnedSymlinkLock(url)))
            optuna.get_all_study_names(storage)        # reads the file: a corrupt one fails here
            return storage
        except OSError as exc:
            raise PimtuneError(f"--storage {url}: cannot open the journal file ({exc.strerror})") from None
        except Exception as exc:
            raise PimtuneError(f"--storage {url}: cannot read the journal file ({one_line(exc)})") from None
    logger = optuna.logging.get_logger("optuna")
    level = logger.level
    logger.setLevel(optuna.logging.CRITICAL)   # Optuna logs the same error with a traceback
    try:
        # pool_pre_ping: a pooled connection the server dropped is replaced, not used
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:
        raise PimtuneError(f"--storage {storage_label(url)}: cannot open the database ({one_line(exc)})") from None
    finally:
        logger.setLevel(level)
    if url.startswith("sqlite"):
        _write_ahead_log(storage)
    return storage


def _write_ahead_log(storage: optuna.storages.RDBStorage) -> None:
    """Switch a SQLite file to write-ahead logging (kept in the file): a commit then
    appends to the log instead of rewriting pages through a rollback journal, and readers
    do not block the writer, which several sweep workers on one machine notice. Where the
    switch is not possible (a read-only folder, an in-memory database) the file keeps its
    journal; nothing else changes."""
    try:
        with storage.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    except Exception:
        pass


def storage_label(url: str) -> str:
    """A storage URL as it may be printed: its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def one_line(exc: Exception) -> str:
    """The first line of an exception's message, at most 200 characters."""
    return " ".join(str(exc).split("\n")[0].split())[:200] or type(exc).__name__


def tech_fingerprint(tech: Technology) -> str:
    """16 hex digits identifying a technology's figures (not its file's formatting)."""
    return hashlib.sha1(tech.model_dump_json().encode()).hexdigest()[:16]


def open_study(storage, name: str, sampler, directions: list[str], identity: dict) -> optuna.Study:
    """Create the study ``name`` or load it, refusing one that searches something else."""
    try:
        exists = name in optuna.get_all_study_names(storage)
    except Exception as exc:
        raise PimtuneError(f"cannot read the studies of the storage ({one_line(exc)})") from None
    if exists:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        check_study(study, directions, identity)
    else:
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions,
                                    load_if_exists=True)
    if STUDY_KEY not in study.user_attrs:
        study.set_user_attr(STUDY_KEY, identity)
    return study


def check_study(study: optuna.Study, directions: list[str], identity: dict) -> None:
    """PimtuneError (one line) if ``study`` is not a study of ``identity``."""
    name = study.study_name
    have = [d.name.lower() for d in study.directions]
    if have != directions:
        raise PimtuneError(f"study {name!r} has directions {','.join(have)}, this run needs "
                           f"{','.join(directions)}; pick another --study-name")
    stored = study.user_attrs.get(STUDY_KEY)
    command = identity.get("command", "search")
    if stored is None:
        if study.trials:
            raise PimtuneError(f"study {name!r} was not made by `pimtune {command}`; pick another --study-name")
        return
    # what only the stored study has first: a dense resume of a sparsity-aware study is told so,
    # not that its number of parameters differs
    keys = [k for k in OPTIONAL_KEYS if k in stored and k not in identity] + list(identity)
    for key in keys:
        value = identity.get(key)
        # studies of `pimtune search` written before the command key existed lack it
        stored_value = stored.get(key, "search" if key == "command" else None if key in OPTIONAL_KEYS else value)
        if stored_value != value:
            raise PimtuneError(f"study {name!r} searches {LABELS.get(key, key)} {_shown(stored_value)}, not "
                               f"{_shown(value)}; pick another --study-name")


def _shown(value) -> str:
    """An identity value in a message: None (no budget of that kind, dense) reads ``none``."""
    return "none" if value is None else repr(value)


def fail_stale_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Mark trials a killed run left RUNNING, or WAITING (enqueued but not yet asked), as
    FAIL, so that they hold no generation or constant-liar slot and no later ask picks up
    a stale enqueued point; returns them. Only for a study no other worker runs on."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return stale
