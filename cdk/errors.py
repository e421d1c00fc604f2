"""The error hierarchy shared by every part of quotaform.

``InputError`` means the user's input is wrong and they can fix it (exit 2);
``ExecutionError`` means a step failed while running (terraform, AWS, the
policy engine). The CLI prints either as one message; only ``--debug`` shows a
traceback.
"""

from __future__ import annotations


class QuotaformError(Exception):
    """Base of every error quotaform raises on purpose."""

    exit_code = 2


class InputError(QuotaformError):
    """Invalid user input: a file, a flag, a declaration. The message names the fix."""


class ExecutionError(QuotaformError):
    """A step failed while running, such as terraform, an AWS call or the policy engine."""
