"""``--storage`` URLs before they are opened: where their files are and whether pimtune
may use them. Nothing here writes: a SQLite file is inspected read-only.

- :func:`resolve_storage`: a relative SQLite or journal path, taken relative to a folder
  (the working directory for ``--storage``, a sweep file's folder for its ``storage:``).
- :func:`check_storage_file`: refuses what would be lost or damaged by opening: an
  in-memory database where the point is resuming, a missing file where one is read, a
  file that is not SQLite or holds tables of another program (Optuna would add its own
  tables to it and pimtune would switch its journal mode).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from onnx_frontend.errors import PimtuneError

#: ``--storage`` paths taken as Optuna journal files.
JOURNAL_SUFFIXES = (".log", ".journal")
#: A table every Optuna RDB storage has.
OPTUNA_TABLE = "version_info"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///FILE`` URL; None for an in-memory database."""
    path = url.split("://", 1)[1].removeprefix("/").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def file_of(url: str) -> Path | None:
    """The file a storage lives in (SQLite or journal), None for a server or memory."""
    if "://" not in url:
        return Path(url)
    return sqlite_path(url) if url.startswith("sqlite") else None


def resolve_storage(url: str, folder: Path) -> str:
    """``url`` with a relative SQLite or journal path made absolute against ``folder``."""
    path = file_of(url)
    if path is None or path.is_absolute():
        return url
    absolute = (folder / path).resolve()
    return str(absolute) if "://" not in url else url.replace(str(path), str(absolute), 1)


def check_storage_file(url: str, label: str, resumable: bool, existing: bool) -> None:
    """PimtuneError (one line, ``label`` naming the storage) if ``url`` must not be opened:
    in memory while ``resumable`` (a warning line otherwise), missing while ``existing``,
    or a file that is not an Optuna SQLite database or a new one."""
    if url.startswith("sqlite") and sqlite_path(url) is None:
        if resumable:
            raise PimtuneError(f"--storage {label}: an in-memory database keeps nothing to resume; "
                               f"pass a file, e.g. sqlite:///study.db")
        print(f"pimtune: warning: --storage {label} is in memory: the study is lost when the run ends",
              file=sys.stderr)
        return
    path = file_of(url)
    if path is None:
        return
    if existing and not path.exists():
        raise PimtuneError(f"--storage {label}: no such file; check the path (this reads an existing storage)")
    if "://" in url and path.is_file() and path.stat().st_size > 0:
        tables = _tables(path, label)
        if tables and OPTUNA_TABLE not in tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise PimtuneError(f"--storage {label}: the file holds tables of another program ({shown}); "
                               f"pass a new file for pimtune's studies")


def _tables(path: Path, label: str) -> list[str]:
    """Names of the tables of SQLite file ``path``, read without writing to it."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise PimtuneError(f"--storage {label}: not a SQLite database ({exc}); pass a new file or a "
                           f"pimtune storage") from None
    return [r[0] for r in rows]
