"""Keep credentials out of diagnostics and logs.

Every diagnostic and every log line of the provider process passes through
``redact``. It masks the secret values the process has seen, which are the
AWS credentials it resolved or received from an assumed role. It also masks
what looks like a credential: AWS access key ids, ``key=value`` pairs with a
secret-sounding key, the password of a URL, and a URL's query string, which
may carry a token.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
# Real AWS secrets are 16 characters or longer. Shorter values, such as the fake
# credentials of a local moto server, would mask ordinary words in messages.
_MIN_SECRET_LENGTH = 8

_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
_SECRET_PAIR = re.compile(
    r"(?i)\b((?:aws_?)?(?:secret(?:_?access)?_?key|session_?token|security_?token|password|"
    r"token|external_?id|signature|credential)s?[\"']?\s*[=:]\s*[\"']?)([^\s\"',;&]+)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_URL_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#\"']+)\?[^\s#\"']+")

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` masks it wherever it appears."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with known secrets and credential-like values masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    text = _ACCESS_KEY_ID.sub(MASK, text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _URL_QUERY.sub(lambda m: m.group(1) + "?" + MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record's message and redacts it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True
