"""Serve the provider to Terraform over the plugin protocol (tf's gRPC runner).

Terraform starts the provider process for most steps of a command and reads
its log lines from stderr. The log level follows TF_LOG_PROVIDER or TF_LOG;
the AWS SDK loggers stay at WARNING at every level, because botocore's debug
output contains request headers and signatures.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from provider_bridge.provider.redaction import RedactingFilter

_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}
_SDK_LOGGERS = ("boto3", "botocore", "urllib3", "s3transfer")
PARENT_CHECK_SECONDS = 1.0


def configure_logging(environ: dict[str, str] | None = None) -> None:
    """Send redacted log lines to stderr at the level Terraform's TF_LOG variables ask for."""
    environ = dict(os.environ) if environ is None else environ
    requested = (environ.get("TF_LOG_PROVIDER") or environ.get("TF_LOG") or "").upper()
    level = _LEVELS.get(requested, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def exit_with_parent(interval_seconds: float = PARENT_CHECK_SECONDS) -> threading.Thread:
    """End this process when the process that started it ends.

    Terraform stops a provider through the plugin protocol, but when terraform
    itself is killed nothing does, and the provider would wait forever.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_seconds)
            if os.getppid() != parent:
                logging.getLogger(__name__).warning(
                    "terraform (pid %d) has exited; stopping the provider", parent
                )
                os._exit(0)

    thread = threading.Thread(target=watch, name="quotaform-parent-watch", daemon=True)
    thread.start()
    return thread


def serve(argv: list[str]) -> int:
    """Run the provider until Terraform stops it; return the exit code."""
    from tf import runner

    from provider_bridge.provider.plugin import QuotaformProvider

    configure_logging()
    exit_with_parent()
    runner.run_provider(QuotaformProvider(), argv)
    return 0
