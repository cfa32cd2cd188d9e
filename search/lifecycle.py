"""How pimtune's processes end: signals, worker processes, and who else is alive.

- :func:`handle_signals`: SIGTERM and SIGHUP are handled like Ctrl-C (they raise
  :class:`Terminated`, a ``KeyboardInterrupt``), so every command's Ctrl-C path (finished
  work kept, one line) also runs for them; :func:`interrupt_exit_code` is then
  128 + the signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
- :func:`init_worker`: the initializer of every worker process: the worker ignores
  Ctrl-C (its parent stops it) and dies with its parent, even when the parent is
  SIGKILLed (Linux ``prctl(PR_SET_PDEATHSIG)``, elsewhere a thread watching the parent).
- :func:`stop_pool`: end a process pool's workers at once (its queued work is dropped).
- :func:`process_alive` / :func:`process_identity`: whether a (pid, start time) of this
  host is still the same running process; the study lease and the journal lock use it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time

#: signals handled like Ctrl-C
SIGNALS = (signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
#: seconds between checks of the parent where prctl is not available
WATCH_S = 0.25

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread is, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum, _frame) -> None:
    _received.append(signum)
    raise Terminated(signum)


def handle_signals() -> None:
    """Handle SIGTERM and SIGHUP like Ctrl-C in this (main) process. A signal whose
    exception Python swallows in a finalizer is not printed (``sys.unraisablehook``): the
    next :func:`raise_if_signalled` raises it again."""
    _received.clear()
    for s in SIGNALS:
        signal.signal(s, _raise)
    sys.unraisablehook = _quiet_unraisable
    if _not_an_interrupt not in logging.lastResort.filters:
        logging.lastResort.addFilter(_not_an_interrupt)


def _not_an_interrupt(record: logging.LogRecord) -> bool:
    """Drop log records of a library that caught the interrupt on its way out and logs it
    before raising it again (SQLAlchemy's "Error closing cursor" with a traceback), and
    every traceback a library logs once a signal has arrived (an error raised while the
    interrupt unwinds, e.g. closing a cursor it cut off): the command's one line says
    what happened."""
    if not record.exc_info:
        return True
    if _received:
        return False
    exc = record.exc_info[1]
    seen = set()
    while exc is not None and id(exc) not in seen:         # the exception and what it arose from
        if isinstance(exc, KeyboardInterrupt):
            return False
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    kind = record.exc_info[0]
    return not (kind is not None and issubclass(kind, KeyboardInterrupt))


def _quiet_unraisable(info) -> None:
    if isinstance(info.exc_value, Terminated):
        return
    sys.__unraisablehook__(info)


def raise_if_signalled() -> None:
    """Raise a SIGTERM or SIGHUP received earlier again, at a safe point of a long loop.

    The handler raises where the main thread is; when that is a finalizer (a library's
    garbage collection, e.g. SQLAlchemy's identity map), Python prints "Exception ignored"
    and goes on, and the command would run to its end. Loops call this once per batch."""
    if _received:
        raise Terminated(_received[-1])


def ignore_late_signals() -> None:
    """Ignore SIGTERM and SIGHUP from now on: the command's work is done and the process
    is exiting. Python restores the default action of signals it handled while it shuts
    down, so without this a SIGTERM in the last milliseconds would end an exiting process
    with -15 instead of its own exit code."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def interrupt_exit_code() -> int:
    """128 + the terminating signal received, or 130 (Ctrl-C)."""
    return 128 + (_received[-1] if _received else signal.SIGINT)


def interrupt_name() -> str:
    return signal.Signals(_received[-1]).name if _received else "Ctrl-C"


# --- worker processes ------------------------------------------------------------------------
def init_worker(parent: int) -> None:
    """Initializer of worker processes of the process ``parent``: Ctrl-C is the parent's
    to handle, and the worker ends when its parent process does (``parent`` itself, or
    a fork server that ends with it), however it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    ppid = os.getppid()
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(ppid,), daemon=True, name="pimtune-parent").start()
    if os.getppid() != ppid or not process_alive({"pid": parent}):   # it ended before we watched
        os._exit(1)


def _die_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)


def stop_pool(pool) -> None:
    """Kill a ``ProcessPoolExecutor``'s workers and drop its queued work, without waiting
    for running work (the caller records what was cut off)."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            p.kill()
        except (OSError, ValueError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


# --- other processes --------------------------------------------------------------------------
def process_identity(pid: int | None = None) -> dict:
    """``{"pid", "host", "start"}`` of a process of this host (default: this one); ``start``
    is its start time in clock ticks since boot (None where /proc is missing), so that a
    later process reusing the pid is not taken for it."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "start": _start_ticks(pid)}


def process_alive(ident: dict) -> bool:
    """True if the process ``ident`` (of this host) still runs."""
    pid = int(ident.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                   # alive, another user's
    start = ident.get("start")
    return start is None or _start_ticks(pid) in (None, start)


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields follow the last ")"
    return int(stat[stat.rindex(b")") + 2:].split()[19])
