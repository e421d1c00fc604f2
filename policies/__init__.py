"""The policy gate: plan normalization, Rego rules, engines, decisions and reports."""

from policies.documents import Decision, PolicyInput, QuotaRow, Violation
from policies.engine import Engine, RegorusEngine, default_engine
from policies.gate import CheckOptions, check_config, check_plan
from policies.normalize import normalize_config, normalize_plan
from policies.plan import load_plan
from policies.report import render_json, render_text

__all__ = [
    "CheckOptions",
    "Decision",
    "Engine",
    "PolicyInput",
    "QuotaRow",
    "RegorusEngine",
    "Violation",
    "check_config",
    "check_plan",
    "default_engine",
    "load_plan",
    "normalize_config",
    "normalize_plan",
    "render_json",
    "render_text",
]
