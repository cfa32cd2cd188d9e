"""The lock of an Optuna journal file, with its owner's pid and host.

Optuna's :class:`~optuna.storages.journal.JournalFileSymlinkLock` takes the lock by
creating the symbolic link ``FILE.lock``; a run killed while appending leaves the link
behind, and every later run waits 30 s for Optuna's grace period, printing library
warnings every 10 s. :class:`OwnedSymlinkLock` takes the same link (so it excludes, and
is excluded by, Optuna's own lock), but points it at ``pimtune-lock:HOST:PID:START``.
A link whose owner no longer runs on this host is taken over at once, with one line;
a link of another host, or one made by plain Optuna (which names no owner), after
:data:`GRACE_S` seconds of age (an append holds the lock for milliseconds).
"""

from __future__ import annotations

import errno
import os
import sys
import time
import uuid

from optuna.storages.journal._file import BaseJournalFileLock

from search.lifecycle import process_alive, process_identity

PREFIX = "pimtune-lock:"
#: age after which a lock that names no owner of this host is taken over
GRACE_S = 10.0
LOCK_SUFFIX = ".lock"


class OwnedSymlinkLock(BaseJournalFileLock):
    """``FILE.lock`` as a symbolic link naming its owner (see the module docstring)."""

    def __init__(self, journal: str) -> None:
        self._journal = journal
        self._lock = journal + LOCK_SUFFIX
        me = process_identity()
        self._target = f"{PREFIX}{me['host']}:{me['pid']}:{me['start']}"

    def acquire(self) -> bool:
        sleep = 0.001
        told = False
        while True:
            try:
                os.symlink(self._target, self._lock)
                return True
            except FileExistsError:
                pass
            stale = self._stale()
            if stale is not None:
                target, why = stale
                if self._break(target):
                    print(f"pimtune: note: {self._lock} was left by {why}; taking the lock over", file=sys.stderr)
                continue
            if not told and sleep >= 0.5:
                print(f"pimtune: note: waiting for the lock {self._lock} (held by {self._holder()})", file=sys.stderr)
                told = True
            time.sleep(sleep)
            sleep = min(sleep * 2, 0.5)

    def release(self) -> None:
        if not self._break(self._target):
            raise RuntimeError(f"{self._lock}: did not hold the lock")

    # --- helpers ------------------------------------------------------------------------
    def _holder(self) -> str:
        try:
            target = os.readlink(self._lock)
        except OSError:
            return "nobody now"
        if not target.startswith(PREFIX):
            return "another Optuna process"
        host, pid, _ = target[len(PREFIX):].rsplit(":", 2)
        return f"pid {pid} on host {host}"

    def _stale(self) -> tuple[str, str] | None:
        """(link target, who left it) if the lock is stale (see the module docstring), else None."""
        try:
            target = os.readlink(self._lock)
            age = time.time() - os.lstat(self._lock).st_mtime
        except OSError:
            return None                                     # released meanwhile: try again
        if target.startswith(PREFIX):
            host, pid, start = target[len(PREFIX):].rsplit(":", 2)
            if host == process_identity()["host"]:
                ident = {"pid": int(pid), "start": None if start == "None" else int(start)}
                return None if process_alive(ident) else (target, f"pid {pid}, which is no longer running")
            return (target, f"pid {pid} on host {host}, {age:.0f} s ago") if age > GRACE_S else None
        return (target, f"another Optuna process {age:.0f} s ago") if age > GRACE_S else None

    def _break(self, target: str) -> bool:
        """Remove the link if it points at ``target``; False if it did not (gone, or
        another's by now). Renamed first, so that of two removers only one wins; a link
        that turns out to be another's is put back."""
        moved = f"{self._lock}.{uuid.uuid4().hex}.rm"
        try:
            os.rename(self._lock, moved)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        found = os.readlink(moved)
        if found != target:
            try:
                os.symlink(found, self._lock)
            except FileExistsError:
                pass
        os.unlink(moved)
        return found == target
