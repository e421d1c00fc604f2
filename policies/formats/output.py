"""Report targets of ``quotaform check``: standard output and ``--output`` files.

``--format`` picks the format of standard output. ``--output FILE`` writes
that report to FILE instead, and standard output shows the text report, so a
CI log still has the quota table. ``--output FORMAT:FILE`` writes another
format; repeating it writes several reports from one evaluation, such as a
Markdown comment and a SARIF file.

A value is FORMAT:FILE when it has a ':' before any '/'. The text before that
':' must then be a known format, so a typo such as ``saif:x.sarif`` is rejected
instead of becoming a file of that name. A file name that contains ':' is given
with a directory, such as ``./a:b.txt``. No output may be one of the input files.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cdk.errors import InputError
from policies.documents import Decision
from policies.engine import policy_files
from policies.formats.context import ReportContext
from policies.formats.rules import rule_catalog
from policies.report import FORMATS, render_report, render_text


@dataclass(frozen=True, slots=True)
class ReportTarget:
    """One report to write: its format and the file, or None for standard output."""

    format: str
    path: Path | None


def plan_reports(output_format: str, outputs: list[str]) -> list[ReportTarget]:
    """Turn ``--format`` and the ``--output`` values into the reports to write.

    The standard output target comes first. Raises ``InputError`` for an
    unknown format or a file named twice.
    """
    if output_format not in FORMATS:
        raise InputError(f"--format: unknown format '{output_format}'; "
                         f"use one of {', '.join(FORMATS)}")
    files: list[ReportTarget] = []
    for value in outputs:
        prefix, separator, rest = value.partition(":")
        if separator and "/" in prefix:
            # The ':' follows a directory separator, so it is part of a file name.
            separator, rest = "", ""
        if separator and prefix not in FORMATS:
            raise InputError(
                f"--output {value}: unknown format '{prefix}'; use one of "
                f"{', '.join(FORMATS)} as FORMAT:FILE, or write ./{value} for a file "
                "whose name contains ':'"
            )
        if separator and rest:
            files.append(ReportTarget(prefix, Path(rest)))
        elif separator:
            raise InputError(f"--output {value}: missing file name after '{prefix}:'; "
                             f"give {prefix}:FILE")
        elif not value.strip():
            raise InputError("--output: empty file name; give FILE or FORMAT:FILE, "
                             f"where FORMAT is one of {', '.join(FORMATS)}")
        else:
            files.append(ReportTarget(output_format, Path(value)))

    seen: set[Path] = set()
    for target in files:
        assert target.path is not None
        if target.path in seen:
            raise InputError(f"--output {target.path}: the file is named twice; "
                             "give each report its own file")
        seen.add(target.path)

    bare_file = any(target.format == output_format for target in files)
    stdout_format = "text" if bare_file else output_format
    return [ReportTarget(stdout_format, None), *files]


def check_outputs_spare_inputs(targets: list[ReportTarget],
                               inputs: Iterable[Path | None]) -> None:
    """Raise ``InputError`` when a report file is one of the input files of the check."""
    resolved = {path.resolve(): path for path in inputs if path is not None}
    for target in targets:
        if target.path is None:
            continue
        source = resolved.get(target.path.resolve())
        if source is not None:
            raise InputError(f"--output {target.path}: this is the input file {source}, which "
                             "the report would overwrite; write the report to another file")


def report_context(source: Path, config: Any, *, seconds: float = 0.0,
                   policies: Iterable[tuple[str, str]] | None = None) -> ReportContext:
    """Build the context of a check's reports: the plan path, the rule catalog and timing.

    ``config`` is the ``ResourceConfig`` whose ``allocation.policies`` set each
    rule's enforcement. ``policies`` defaults to the shipped Rego files.
    """
    settings = {setting.rule: setting for setting in config.allocation.policies}
    catalog = rule_catalog(policy_files() if policies is None else policies, settings)
    return ReportContext(source=str(source), rules=tuple(catalog), seconds=seconds)


def emit_reports(decision: Decision, targets: list[ReportTarget], context: ReportContext,
                 *, stdout: IO[str] | None = None) -> None:
    """Write each report: files first, so a failed write shows before the summary."""
    stream = stdout or sys.stdout
    for target in targets:
        if target.path is not None:
            write_report(target.path, render_report(decision, target.format, context))
    for target in targets:
        if target.path is not None:
            continue
        if target.format == "text":
            render_text(decision, stream, source=Path(context.source).name)
        else:
            stream.write(render_report(decision, target.format, context))


def write_report(path: Path, text: str) -> None:
    """Write a report atomically: a temporary file in the same folder, then a rename.

    A reader never sees half a report, and a failed write leaves an older
    report at ``path`` as it was.
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.",
                                             suffix=".tmp")
    except OSError as exc:
        raise InputError(f"--output {path}: cannot write the report ({exc.strerror}); "
                         "check that the folder exists and is writable") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        # mkstemp creates the file readable by its owner only; give it the usual mode.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"--output {path}: cannot write the report ({exc.strerror}); "
                         "check that the path is a writable file") from exc


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
