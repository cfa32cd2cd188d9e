"""A stored study run in memory and written back one batch at a time.

Optuna writes every step of a trial (ask, each parameter, each attribute, the value,
the state) as its own transaction, and its samplers re-read the study through the
storage; into SQLite that held the flat search to ~11 trials/s against ~900 in memory.
:class:`StudyMirror` gives the search loop an in-memory copy of the stored study (same
sampler, trials, and study attributes) and :meth:`StudyMirror.flush` appends the trials
finished since the last flush to the stored study, with the study system attributes the
sampler changed. Into an RDB storage a flush is one transaction
(:mod:`search.storage.rdb_append`); other storages get one ``create_new_trial(template_trial=...)``
call per trial (a journal file: one appended line each).

Trials keep their numbers: the stored study receives the mirror's trials in order, and
only one process may run a study at a time (:mod:`search.storage.study_lease`). A run killed
between two flushes loses at most the batch in flight and leaves no RUNNING trial.
"""

from __future__ import annotations

import optuna
from optuna.storages import InMemoryStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial, TrialState

from search.storage.rdb_append import append_trials

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class StudyMirror:
    """``mirror.study``: an in-memory copy of ``stored``; :meth:`flush` writes it back."""

    def __init__(self, stored: optuna.Study) -> None:
        self.stored = stored
        self.study = optuna.create_study(storage=InMemoryStorage(), sampler=stored.sampler,
                                         directions=list(stored.directions), study_name=stored.study_name)
        mem, sid = self.study._storage, self.study._study_id
        self._attrs = dict(stored._storage.get_study_system_attrs(stored._study_id))
        for key, value in self._attrs.items():
            mem.set_study_system_attr(sid, key, value)
        for key, value in stored.user_attrs.items():
            mem.set_study_user_attr(sid, key, value)
        for trial in stored.get_trials(deepcopy=False):
            mem.create_new_trial(sid, template_trial=trial)

    def flush(self) -> int:
        """Append the mirror's finished trials the stored study lacks (up to the first
        unfinished one) and the changed study system attributes; returns the trials
        written. Safe to call again after an interruption: it starts from the stored
        study's trial count."""
        target, sid = self.stored._storage, self.stored._study_id
        have = target.get_n_trials(sid)
        new = []
        for trial in self.study._storage.get_all_trials(self.study._study_id, deepcopy=False)[have:]:
            if trial.state not in FINISHED:
                break
            new.append(trial)
        _append_trials(target, sid, new)
        attrs = self.study._storage.get_study_system_attrs(self.study._study_id)
        for key, value in attrs.items():
            if self._attrs.get(key, _MISSING) != value:
                target.set_study_system_attr(sid, key, value)
                self._attrs[key] = value
        return len(new)


_MISSING = object()


def _append_trials(storage, study_id: int, trials: list[FrozenTrial]) -> None:
    if not trials:
        return
    backend = storage._backend if isinstance(storage, _CachedStorage) else storage
    if isinstance(backend, RDBStorage) and append_trials(backend, study_id, trials):
        return
    for trial in trials:
        storage.create_new_trial(study_id, template_trial=trial)
