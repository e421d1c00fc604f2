"""Machine and pull-request formats of a gate decision: Markdown, SARIF 2.1.0, JUnit XML."""

from policies.formats.context import ReportContext
from policies.formats.junit import render_junit
from policies.formats.markdown import COMMENT_MARKER, render_markdown
from policies.formats.rules import RuleDescriptor, rule_catalog
from policies.formats.sarif import render_sarif

__all__ = [
    "COMMENT_MARKER",
    "ReportContext",
    "RuleDescriptor",
    "render_junit",
    "render_markdown",
    "render_sarif",
    "rule_catalog",
]
