"""Errors and warnings of the provider, reported to Terraform as diagnostics.

A data source or the provider configuration raises ``ProviderError`` with a
summary (what failed) and a detail (which value, and what to change).
``report`` turns it, and every other exception, into one Terraform
diagnostic whose text has passed through ``redact``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from provider_bridge.provider.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

# Terraform shows a diagnostic's path as the attribute it points at.
AttributePath = Sequence[str]


class ProviderError(Exception):
    """A failure to report as an error diagnostic: summary, detail, optional attribute."""

    def __init__(self, summary: str, detail: str, attribute: str | None = None) -> None:
        super().__init__(f"{summary}: {detail}")
        self.summary = summary
        self.detail = detail
        self.attribute = attribute


def add_error(diags: Any, summary: str, detail: str, attribute: str | None = None) -> None:
    """Add one redacted error diagnostic to a ``tf.utils.Diagnostics``."""
    path = [attribute] if attribute else None
    diags.add_error(redact(summary), redact(detail), path=path)


def add_warning(diags: Any, summary: str, detail: str, attribute: str | None = None) -> None:
    """Add one redacted warning diagnostic to a ``tf.utils.Diagnostics``."""
    path = [attribute] if attribute else None
    diags.add_warning(redact(summary), redact(detail), path=path)


def report(diags: Any, action: str, work: Callable[[], T]) -> T | None:
    """Run ``work``; on failure add one error diagnostic and return None.

    ``action`` names what was attempted, such as "read data.quotaform_pool",
    for the summary of errors that carry no summary of their own.
    """
    from cdk.errors import ExecutionError, InputError

    try:
        return work()
    except ProviderError as exc:
        add_error(diags, exc.summary, exc.detail, exc.attribute)
    except InputError as exc:
        add_error(diags, f"Invalid input to {action}", str(exc))
    except ExecutionError as exc:
        add_error(diags, f"Failed to {action}", str(exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a provider must answer Terraform, never crash
        # BaseException, because a panic in a Rust extension (PyO3's PanicException)
        # is not an Exception, and an RPC whose handler raises one never sends a
        # response, so terraform would wait until "Plugin did not respond".
        log.exception("failed to %s: unexpected error", action)
        add_error(
            diags,
            f"Failed to {action}",
            f"{type(exc).__name__}: {exc}. This is a fault in the quotaform provider; rerun "
            "with TF_LOG_PROVIDER=DEBUG and report the log.",
        )
    return None
