"""Output files that are either absent, the previous version, or complete.

Every file a command writes goes to a temporary name in the same folder first and is
renamed over the final name when complete (``os.replace``, atomic on POSIX), so a run
killed while writing (SIGKILL included) never leaves a half-written file under a real
name. A killed run may leave a temporary ``.NAME.PID.tmp``; the next write of NAME in
that folder removes such leftovers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``."""
    path = Path(path)
    for old in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            old.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def save_figure(fig, path: str | Path, **kwargs) -> None:
    """``fig.savefig(path)``, atomically (the format follows ``path``'s suffix)."""
    path = Path(path)
    with replacing(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or None, **kwargs)


@contextlib.contextmanager
def open_text(path: str | Path, newline: str | None = None) -> Iterator:
    """``open(path, "w")`` for writers that stream (csv), renamed into place when closed."""
    with replacing(path) as tmp, open(tmp, "w", newline=newline) as f:
        yield f
