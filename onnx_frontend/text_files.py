"""Reading the text files users write (technology, sweep, ablation YAML; design JSON).

:func:`read_text` is the one place such a file is read: a missing or unreadable file and
a file that is not UTF-8 text each become one line that names the file and the fix.
"""

from __future__ import annotations

from pathlib import Path

from onnx_frontend.errors import PimtuneError


def read_text(path: str | Path, error: type[PimtuneError], what: str) -> str:
    """The UTF-8 text of ``path``; ``error`` (one line) when it cannot be read or is not
    UTF-8. ``what`` names the kind of file in messages (e.g. "design file")."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                    f"{exc.start}); save it with UTF-8 encoding") from None
