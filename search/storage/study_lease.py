"""One process runs a stored study at a time: a lease with the owner's pid and host.

A run that resumes a study marks the trials a killed run left RUNNING as FAIL
(:func:`search.storage.studies.fail_stale_trials`); done while another process still runs the
study, that would cut off the other's live points. :func:`hold_study` therefore takes the
study's lease first, kept in the study system attribute :data:`LEASE_KEY` as
``{"pid", "host", "start", "token", "beat"}`` and refreshed every :data:`BEAT_S` seconds
by a thread while the run lasts; it is released when the run ends, however it ends
short of SIGKILL.

A lease is live when its owner runs: on this host, when the process (pid and start
time) still exists; on another host, when it was refreshed within :data:`STALE_S`
seconds. A live lease refuses the run with one line (:class:`StudyBusy`); a dead one
(SIGKILL, a crashed node) is taken over at once on this host, and after :data:`STALE_S`
seconds from another host. Two runs started within the same few milliseconds can both
see a free lease; the one that wrote last keeps it and the other refuses when it reads
the lease back, except when both read it back before either wrote: the lease narrows
that race to a window of milliseconds, it does not close it (Optuna offers no
compare-and-swap on study attributes).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import optuna
from optuna.storages import InMemoryStorage

from onnx_frontend.errors import PimtuneError
from search.lifecycle import process_alive, process_identity

LEASE_KEY = "pimtune:owner"
#: seconds between refreshes of a held lease
BEAT_S = 5.0
#: a lease of another host not refreshed for this long is taken over
STALE_S = 30.0


class StudyBusy(PimtuneError):
    """Another live process runs the study."""

    exit_code = 75          # EX_TEMPFAIL: try again later


def owner_of(study: optuna.Study) -> dict | None:
    """The study's live lease, or None if it is free or its owner is gone."""
    lease = study._storage.get_study_system_attrs(study._study_id).get(LEASE_KEY)
    if not lease:
        return None
    me = process_identity()
    if lease.get("host") == me["host"]:
        if lease.get("pid") == me["pid"] or not process_alive(lease):
            return None
        return lease
    return lease if time.time() - float(lease.get("beat", 0)) < STALE_S else None


@contextlib.contextmanager
def hold_study(study: optuna.Study) -> Iterator[None]:
    """Hold ``study``'s lease for the duration of the block (see the module docstring);
    StudyBusy if a live process holds it. In-memory studies need no lease."""
    if isinstance(study._storage, InMemoryStorage):
        yield
        return
    _refuse_if_busy(study, owner_of(study))
    token = uuid.uuid4().hex
    lease = {**process_identity(), "token": token, "beat": time.time()}
    _write(study, lease)
    held = study._storage.get_study_system_attrs(study._study_id).get(LEASE_KEY) or {}
    if held.get("token") != token:                   # another run wrote after us
        _refuse_if_busy(study, held)
    stop = threading.Event()
    beat = threading.Thread(target=_refresh, args=(study, lease, stop), daemon=True, name="pimtune-lease")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        with contextlib.suppress(Exception):         # a lost database must not hide the run's own error
            if (study._storage.get_study_system_attrs(study._study_id).get(LEASE_KEY) or {}).get("token") == token:
                _write(study, None)


def _refuse_if_busy(study: optuna.Study, lease: dict | None) -> None:
    if lease:
        since = datetime.fromtimestamp(float(lease.get("beat", 0))).strftime("%H:%M:%S")
        raise StudyBusy(f"study {study.study_name!r} is being run by pid {lease.get('pid')} on host "
                        f"{lease.get('host')} (alive at {since}); wait for it to finish or stop it, then rerun")


def _write(study: optuna.Study, lease: dict | None) -> None:
    study._storage.set_study_system_attr(study._study_id, LEASE_KEY, lease)


def _refresh(study: optuna.Study, lease: dict, stop: threading.Event) -> None:
    while not stop.wait(BEAT_S):
        with contextlib.suppress(Exception):         # a missed beat is retried; the run goes on
            held = study._storage.get_study_system_attrs(study._study_id).get(LEASE_KEY) or {}
            if held.get("token") != lease["token"]:
                return                               # taken over (we were thought dead): stop claiming it
            _write(study, {**lease, "beat": time.time()})
