"""The project's error type: anything a user can cause (bad file, bad option, bad data).

The CLI prints these as one line (no traceback) and exits non-zero; library callers
catch them like any exception. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class TrucelineError(Exception):
    """A problem the user can fix; the message names the file/line/field involved."""

    exit_code = 2


class InputError(TrucelineError):
    """A file or value the user supplied is unreadable or violates its format."""
