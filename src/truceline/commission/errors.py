"""Errors of the commission stage: user-fixable problems, refused with a clear message.

Every refusal leaves the store unchanged (the service layer runs each command in one
transaction and raises before committing).
"""

from __future__ import annotations

from truceline.errors import InputError, TrucelineError


class CommissionError(TrucelineError):
    """Base class of everything the commission refuses."""


class ConfigError(InputError):
    """The commission or coalition configuration file is invalid (names file and key)."""


class AccessError(CommissionError):
    """The acting identity is missing, unknown, or lacks the role the command needs."""


class TransitionError(CommissionError):
    """A case transition out of order (e.g. publishing a case still under review)."""


class VoteError(CommissionError):
    """A vote by a non-member, a double vote, or a vote when no motion is open."""


class DecisionError(CommissionError):
    """A decision that the decision rule does not support (no quorum, no majority)."""


class AttributionError(CommissionError):
    """A finding naming a party whose attribution does not reach the threshold."""


class NotFoundError(CommissionError):
    """A case, event or decision id that does not exist."""
