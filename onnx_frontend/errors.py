"""Errors raised for bad input anywhere in pimtune.

Every error a user can cause derives from :class:`PimtuneError`; its message is one line
that names the problem and the fix. The CLI prints it without a traceback and exits 2.
"""


class PimtuneError(Exception):
    """Base of every user-facing error (bad file, bad option, infeasible request)."""

    #: the CLI's exit status for this error
    exit_code = 2


class Interrupted(PimtuneError):
    """The user stopped a long run (Ctrl-C); the message says what was kept."""

    exit_code = 130


class FrontendError(PimtuneError):
    """The ONNX model cannot be read or contains something pimtune cannot map."""


class UnsupportedOperatorError(FrontendError):
    """The model uses an operator the frontend does not map."""
