"""How runs end: SIGKILL and SIGTERM at random moments of `pimtune synth --jobs 2`, two
processes on one study, a stale journal lock, atomic output files."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from search import atomic_files
from search.storage.journal_lock import OwnedSymlinkLock
from search.lifecycle import process_identity
from search.storage.study_lease import LEASE_KEY, StudyBusy, hold_study, owner_of

optuna.logging.set_verbosity(optuna.logging.WARNING)
PIMTUNE = [sys.executable, "-m", "search.cli.main"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
OUTPUTS = ("design.json", "pimcomp.json", "report.md", "pareto.png", "energy.png", "convergence.png")


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != b"Z":
            out.append(int(d.name))
    return out


def survivors_after(proc: subprocess.Popen, seconds: float = 5.0) -> list[int]:
    """Processes of ``proc``'s session (started with ``start_new_session``) still alive
    ``seconds`` after it ended; they are killed, so that a failing test leaks none."""
    proc.wait()
    deadline = time.monotonic() + seconds
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = session_processes(proc.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def start(cmd: list[str], err: Path) -> subprocess.Popen:
    """``cmd`` in a session of its own, stderr to the file ``err`` (not a pipe, which a
    leaked worker would hold open)."""
    with open(err, "wb") as f:
        return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=f, start_new_session=True)


def assert_outputs_whole(out: Path) -> None:
    """Every output file present is complete."""
    for name in OUTPUTS:
        path = out / name
        if not path.exists():
            continue
        data = path.read_bytes()
        if name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".png"):
            assert data.startswith(b"\x89PNG") and data[-12:-4] == b"\x00\x00\x00\x00IEND", name
        else:                                          # report.md: its last section is there
            assert b"\n## Search\n" in data and data.endswith(b"\n"), name


def outcomes(db: Path, name: str) -> dict:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    done = {}
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)):
        key = tuple(sorted(t.params.items()))
        assert key not in done, f"point {key} finished twice"
        done[key] = (t.state, t.value)
    return done


def synth_cmd(tmp_path: Path, db: str, out: str, jobs: int = 2, network: str = "resnet18-cifar") -> list[str]:
    return [*PIMTUNE, "synth", network, "--power", "20", "--effort", "quick", "--jobs", str(jobs),
            "--storage", f"sqlite:///{tmp_path / db}", "--study-name", "s", "--out", str(tmp_path / out), "--json"]


# --- the kill test --------------------------------------------------------------------------
def finished(db: Path) -> int:
    try:
        return sqlite3.connect(db).execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')"
                                           ).fetchone()[0]
    except sqlite3.Error:
        return 0


def mtime(path: Path) -> float:
    return path.stat().st_mtime_ns if path.exists() else 0


def test_synth_killed_at_random_moments_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL and SIGTERM at random moments: after a random number of finished outer
    points, and while the output files are being written."""
    ref = subprocess.run(synth_cmd(tmp_path, "ref.db", "ref"), env=ENV, capture_output=True)
    assert ref.returncode == 0, ref.stderr.decode()
    rng = random.Random(17)
    cmd = synth_cmd(tmp_path, "k.db", "k")
    db, design = tmp_path / "k.db", tmp_path / "k" / "design.json"
    moments = [("points", n) for n in sorted(rng.sample(range(2, 34), 4))] + [("outputs", 0), ("outputs", 0)]
    kills = 0
    for (phase, n), sig in zip(moments, [signal.SIGKILL, signal.SIGTERM] * 3):
        before = mtime(design)
        proc = start(cmd, tmp_path / "err")
        while proc.poll() is None and (finished(db) < n if phase == "points" else mtime(design) == before):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(sig)
        assert survivors_after(proc) == [], f"processes outlived a {sig.name}ed synth"
        err = (tmp_path / "err").read_text()
        assert "Traceback" not in err
        if proc.returncode != 0:                       # not already finished
            kills += 1
            assert proc.returncode == (-9 if sig == signal.SIGKILL else 143)
            if sig == signal.SIGTERM:
                assert len(err.strip().splitlines()) == 1 and err.startswith("pimtune: "), err
        assert_outputs_whole(tmp_path / "k")
    assert kills >= 4, "too few signals arrived while the synthesis ran"
    done = subprocess.run(cmd, env=ENV, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert outcomes(db, "s") == outcomes(tmp_path / "ref.db", "s")
    assert json.loads(design.read_text()) == json.loads((tmp_path / "ref" / "design.json").read_text())
    assert_outputs_whole(tmp_path / "k")


# --- two processes, one study ----------------------------------------------------------------
def wait_for_lease(db: Path, proc: subprocess.Popen) -> None:
    while proc.poll() is None:
        try:
            rows = sqlite3.connect(db).execute("select value_json from study_system_attributes where key = ?",
                                               (LEASE_KEY,)).fetchall()
        except sqlite3.Error:
            rows = []
        if rows and json.loads(rows[0][0]):
            return
        time.sleep(0.02)
    pytest.fail("the first run ended before it held the study")


def test_second_synth_on_a_running_study_is_refused(tmp_path):
    first = start(synth_cmd(tmp_path, "t.db", "a", jobs=1), tmp_path / "err")
    wait_for_lease(tmp_path / "t.db", first)
    second = subprocess.run(synth_cmd(tmp_path, "t.db", "b", jobs=1), env=ENV, capture_output=True)
    assert second.returncode == 75
    err = second.stderr.decode().strip()
    assert err.count("\n") == 0 and f"being run by pid {first.pid}" in err and err.startswith("pimtune: error:")
    assert first.wait() == 0, (tmp_path / "err").read_text()
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 't.db'}")
    assert not [t for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE
                and t.state != optuna.trial.TrialState.PRUNED], "the second run cut off the first's points"
    assert not (tmp_path / "b" / "design.json").exists()


def test_second_search_is_refused_and_sigterm_keeps_the_first(tmp_path):
    db = tmp_path / "f.db"
    cmd = [*PIMTUNE, "search", "alexnet-cifar", "--power", "20", "--sampler", "ea", "--trials", "10000000",
           "--storage", f"sqlite:///{db}", "--study-name", "f", "--json"]
    first = start(cmd, tmp_path / "err")
    wait_for_lease(db, first)
    second = subprocess.run(cmd, env=ENV, capture_output=True)
    assert second.returncode == 75 and f"pid {first.pid}" in second.stderr.decode()
    first.send_signal(signal.SIGTERM)
    assert survivors_after(first) == []
    err = (tmp_path / "err").read_text()
    assert first.returncode == 143
    assert [l for l in err.splitlines() if l.startswith("pimtune:")] == \
        ["pimtune: interrupted (SIGTERM); finished work is kept"] and "Traceback" not in err
    study = optuna.load_study(study_name="f", storage=f"sqlite:///{db}")
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.RUNNING not in states
    assert owner_of(study) is None and study._storage.get_study_system_attrs(study._study_id)[LEASE_KEY] is None


def test_lease_liveness(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'l.db'}", study_name="l")
    me = process_identity()

    def lease(**kw):
        study._storage.set_study_system_attr(study._study_id, LEASE_KEY, {**me, "token": "x", "beat": time.time(), **kw})

    lease(pid=os.getppid(), start=process_identity(os.getppid())["start"])       # alive, this host
    assert owner_of(study)["pid"] == os.getppid()
    with pytest.raises(StudyBusy, match=f"pid {os.getppid()}"):
        with hold_study(study):
            pass
    lease(pid=os.getppid(), start=-1)                  # the pid, reused by another process
    assert owner_of(study) is None
    lease(host=socket.gethostname() + "-elsewhere")    # another host, fresh
    assert owner_of(study) is not None
    lease(host=socket.gethostname() + "-elsewhere", beat=time.time() - 3600)
    assert owner_of(study) is None
    with hold_study(study):                            # a stale lease is taken over
        assert study._storage.get_study_system_attrs(study._study_id)[LEASE_KEY]["pid"] == os.getpid()
    assert study._storage.get_study_system_attrs(study._study_id)[LEASE_KEY] is None


# --- the journal file's lock -----------------------------------------------------------------
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("left_by", ["killed pimtune", "plain optuna"])
def test_stale_journal_lock_is_taken_over_at_once(tmp_path, left_by):
    journal = tmp_path / "j.log"
    journal.touch()
    lock = Path(str(journal) + ".lock")
    if left_by == "killed pimtune":
        os.symlink(f"pimtune-lock:{socket.gethostname()}:{dead_pid()}:None", lock)
    else:
        os.symlink(str(journal), lock)                 # Optuna's own lock names no owner
        old = time.time() - 120
        os.utime(lock, (old, old), follow_symlinks=False)
    run = subprocess.run([*PIMTUNE, "search", "alexnet-cifar", "--power", "20", "--sampler", "random", "--trials",
                          "20", "--storage", str(journal), "--json"], env=ENV, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    lines = [l for l in run.stderr.decode().splitlines() if "lock" in l.lower()]
    assert len(lines) == 1 and lines[0].startswith("pimtune: note:") and "taking the lock over" in lines[0], lines
    assert not lock.exists() and not lock.is_symlink()


def test_live_journal_lock_is_waited_for(tmp_path):
    journal = str(tmp_path / "j.log")
    held = OwnedSymlinkLock(journal)
    assert held.acquire()
    got = threading.Event()

    def take():
        other = OwnedSymlinkLock(journal)
        other.acquire()
        got.set()
        other.release()

    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.3)
    assert not got.is_set(), "a live process's lock was broken"
    held.release()
    t.join()
    assert got.is_set()


# --- output files ----------------------------------------------------------------------------
def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "design.json"
    atomic_files.write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_files.replacing(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    (tmp_path / ".design.json.999999.tmp").write_text("a killed run's leftover")
    atomic_files.write_text(path, "new\n")
    assert path.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["design.json"]


def test_a_signal_swallowed_in_a_finalizer_is_raised_again(capsys):
    """SIGTERM raised inside a finalizer (where a library's garbage collection runs) is
    swallowed by Python; it is not printed, and the loops' next check raises it again."""
    from search import lifecycle

    saved = {s: signal.getsignal(s) for s in lifecycle.SIGNALS}
    hook = sys.unraisablehook

    class SignalledWhileCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)                     # the handler runs here, inside the finalizer

    try:
        lifecycle.handle_signals()
        obj = SignalledWhileCollected()
        del obj                                  # the Terminated it raises is swallowed
        assert "Traceback" not in capsys.readouterr().err
        with pytest.raises(lifecycle.Terminated):
            lifecycle.raise_if_signalled()
        assert lifecycle.interrupt_exit_code() == 143
        # a library that logs the interrupt on its way out (SQLAlchemy's "Error closing
        # cursor"), or an error raised while it unwinds, prints nothing where unconfigured
        # logging prints (logging.lastResort); its other errors still show until a signal
        # arrives, and none after
        import logging
        assert lifecycle._not_an_interrupt in logging.lastResort.filters

        def record_of(exc, context=None):
            try:
                try:
                    raise context if context is not None else exc
                except BaseException:
                    if context is None:
                        raise
                    raise exc
            except BaseException:
                return logging.LogRecord("sqlalchemy.engine.Engine", logging.ERROR, __file__, 0,
                                         "Error closing cursor", None, sys.exc_info())

        lifecycle._received.clear()
        records = [record_of(lifecycle.Terminated(signal.SIGTERM)), record_of(ValueError("a real error")),
                   record_of(ValueError("closing a cut-off cursor"), context=lifecycle.Terminated(signal.SIGTERM))]
        assert [logging.lastResort.filter(r) for r in records] == [False, True, False]
        lifecycle._received.append(signal.SIGTERM)
        assert not logging.lastResort.filter(records[1])
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        sys.unraisablehook = hook
        lifecycle._received.clear()
