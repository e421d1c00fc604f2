"""Enforcement levels, waivers and overrides: how a rule's findings become denials or warnings.

Each finding goes through these steps, in order:

1. A rule disabled in ``allocation.policies`` reports nothing.
2. An unexpired waiver that names the rule and the finding's pool, address or (for
   the team quota rules) team turns it into a warning, at every enforcement level.
   Waivers live in the reviewed declarations with an owner, a reason and an expiry
   date, so they are the one exception a hard-mandatory rule accepts.
3. ``advisory`` rules warn.
4. A ``soft-mandatory`` denial named by ``--override RULE=REASON`` becomes a warning
   that records the requestor and the reason. Overrides need a known requestor.
5. Everything else denies. ``hard-mandatory`` is the default of every rule except
   those in ``DEFAULT_ENFORCEMENT`` and the warn rules of user policies.

An expired waiver no longer applies; each one adds a warning under the id
``expired-waiver`` that names it and its expiry date. An unexpired waiver that
matched no finding of the check is logged as a warning, so a stale or misspelt
waiver shows up.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cdk.errors import InputError
from cdk.model import PolicySetting, ResourceConfig, Waiver
from policies.documents import (
    AppliedOverride,
    EnforcementLevel,
    Override,
    Requestor,
    Violation,
    WaiverRecord,
)

logger = logging.getLogger(__name__)

# Rules that warn unless allocation.policies sets another level: both report what
# the gate could not check rather than a breach.
DEFAULT_ENFORCEMENT: dict[str, EnforcementLevel] = {
    "unknown-requestor": "advisory",
    "unpriced-cost": "advisory",
}
EXPIRED_WAIVER = "expired-waiver"
# Rules whose findings concern a whole team: their pool and address are null.
TEAM_RULES = frozenset({
    "team-instance-quota", "team-vcpu-quota", "team-memory-quota", "team-monthly-cost-quota",
})


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    """One ``--override RULE=REASON`` of the command line."""

    rule: str
    reason: str


def parse_override(text: str) -> OverrideRequest:
    """Split ``RULE=REASON``; raise ``InputError`` naming the expected form."""
    rule, separator, reason = text.partition("=")
    if not separator or not rule.strip() or not reason.strip():
        raise InputError(
            f"--override '{text}': expected RULE=REASON, such as "
            "--override 'pool-vcpu-quota=launch week, approved in OPS-12'"
        )
    return OverrideRequest(rule.strip(), reason.strip())


class Enforcer:
    """The enforcement of one check: its levels, waivers and overrides, applied to findings."""

    def __init__(self, config: ResourceConfig, defaults: Mapping[str, EnforcementLevel], *,
                 requestor: Requestor | None = None,
                 overrides: Iterable[OverrideRequest] = (),
                 today: dt.date | None = None):
        self._defaults = dict(defaults)
        self._waivers = config.allocation.waivers
        self._matched: set[int] = set()
        self._today = today or dt.date.today()
        self._settings = self._read_settings(config.allocation.policies)
        self._check_waiver_rules()
        self._requestor = requestor
        self._overrides = self._read_overrides(list(overrides))
        self._applied = dict.fromkeys(self._overrides, 0)

    def level(self, rule: str) -> EnforcementLevel:
        """Return the enforcement level a rule runs at in this check."""
        setting = self._settings.get(rule)
        if setting is not None and setting.enforcement is not None:
            return setting.enforcement
        return self._defaults.get(rule) or DEFAULT_ENFORCEMENT.get(rule, "hard-mandatory")

    def sort(self, findings: Iterable[dict[str, Any]]) -> tuple[list[Violation], list[Violation]]:
        """Return ``(denials, warnings)``, each ordered by rule, pool, address and message."""
        denials: list[Violation] = []
        warnings = self._expired_waivers()
        for item in findings:
            setting = self._settings.get(item["rule"])
            if setting is not None and not setting.enabled:
                continue
            violation = Violation(
                rule=item["rule"], message=item["message"], severity=str(item["severity"]),
                enforcement=self.level(item["rule"]), pool=item["pool"], address=item["address"],
            )
            if self._waive(violation) or self._override(violation):
                warnings.append(violation)
            elif violation.enforcement == "advisory":
                warnings.append(violation)
            else:
                denials.append(violation)
        self._log_unmatched_waivers()
        return sorted(denials, key=_order), sorted(warnings, key=_order)

    def applied_overrides(self) -> list[AppliedOverride]:
        """Return every override of the check with the number of denials it turned into warnings."""
        return [
            AppliedOverride(rule=rule, reason=reason, requestor=self._requestor_name(),
                            applied=self._applied[rule])
            for rule, reason in sorted(self._overrides.items())
        ]

    def _read_settings(self, settings: list[PolicySetting]) -> dict[str, PolicySetting]:
        found: dict[str, PolicySetting] = {}
        for index, setting in enumerate(settings):
            self._check_rule(setting.rule, f"allocation.policies[{index}].rule")
            found[setting.rule] = setting
        return found

    def _check_waiver_rules(self) -> None:
        for index, waiver in enumerate(self._waivers):
            self._check_rule(waiver.rule, f"allocation.waivers[{index}].rule")

    def _check_rule(self, rule: str, where: str) -> None:
        # A dotted id names a user policy rule (PACKAGE.RULE), which may live in a
        # policy directory this check does not load.
        if rule in self._defaults or "." in rule:
            return
        raise InputError(f"{where}: unknown rule '{rule}'; known rules: {self._known()}")

    def _known(self) -> str:
        return ", ".join(sorted(self._defaults))

    def _read_overrides(self, requests: list[OverrideRequest]) -> dict[str, str]:
        found: dict[str, str] = {}
        for request in requests:
            where = f"--override {request.rule}"
            if request.rule not in self._defaults:
                raise InputError(f"{where}: unknown rule; known rules: {self._known()}")
            if request.rule in found:
                raise InputError(f"{where}: the rule is overridden twice; give it once")
            if self.level(request.rule) == "hard-mandatory":
                raise InputError(
                    f"{where}: the rule is hard-mandatory, so it cannot be overridden; ask its "
                    "owners for a waiver in allocation.waivers or for the soft-mandatory level"
                )
            found[request.rule] = request.reason
        if found and self._requestor is None:
            raise InputError(
                "--override needs a requestor to record who overrode; pass --requestor NAME "
                "or run in GitHub Actions or GitLab CI"
            )
        return found

    def _requestor_name(self) -> str:
        return self._requestor.name if self._requestor is not None else ""

    def _waive(self, violation: Violation) -> bool:
        index = next((i for i, w in enumerate(self._waivers) if self._applies(w, violation)),
                     None)
        if index is None:
            return False
        waiver = self._waivers[index]
        self._matched.add(index)
        violation.waiver = WaiverRecord(owner=waiver.owner, reason=waiver.reason,
                                        ticket=waiver.ticket, expires=waiver.expires)
        ticket = f", ticket {waiver.ticket}" if waiver.ticket else ""
        violation.message += (f" (waived until {waiver.expires} by {waiver.owner}: "
                              f"{waiver.reason}{ticket})")
        return True

    def _applies(self, waiver: Waiver, violation: Violation) -> bool:
        return (waiver.rule == violation.rule and waiver.expires >= self._today
                and _in_scope(waiver, violation))

    def _override(self, violation: Violation) -> bool:
        reason = self._overrides.get(violation.rule)
        if reason is None or violation.enforcement != "soft-mandatory":
            return False
        violation.override = Override(rule=violation.rule, reason=reason,
                                      requestor=self._requestor_name())
        violation.message += f" (overridden by {self._requestor_name()}: {reason})"
        self._applied[violation.rule] += 1
        return True

    def _log_unmatched_waivers(self) -> None:
        for index, waiver in enumerate(self._waivers):
            if index in self._matched or waiver.expires < self._today:
                continue
            logger.warning("%s matched no finding in this check; remove it if it is no longer "
                           "needed, or fix its rule and scope", _describe(waiver))

    def _expired_waivers(self) -> list[Violation]:
        expired: list[Violation] = []
        for waiver in self._waivers:
            if waiver.expires >= self._today:
                continue
            logger.warning("%s expired on %s; renew or remove it", _describe(waiver),
                           waiver.expires)
            expired.append(Violation(
                rule=EXPIRED_WAIVER,
                message=(f"{_describe(waiver)} expired on {waiver.expires} and no longer "
                         "applies; renew its expiry date or remove it"),
                severity="low", enforcement="advisory",
                pool=waiver.pool, address=waiver.address,
            ))
        return expired


def _describe(waiver: Waiver) -> str:
    if waiver.pool is not None:
        scope = f"pool '{waiver.pool}'"
    elif waiver.team is not None:
        scope = f"team '{waiver.team}'"
    else:
        scope = waiver.address
    ticket = f" {waiver.ticket}" if waiver.ticket else ""
    return f"waiver{ticket} of rule {waiver.rule} for {scope} (owner {waiver.owner})"


def _in_scope(waiver: Waiver, violation: Violation) -> bool:
    if waiver.pool is not None:
        return waiver.pool == violation.pool
    if waiver.team is not None:
        # NOTE: a finding has no team field, so a team rule's finding is recognized by the
        # message its Rego writes, which starts with "team 'NAME' ".
        return (violation.rule in TEAM_RULES and violation.pool is None
                and violation.message.startswith(f"team '{waiver.team}' "))
    address, scope = violation.address, waiver.address or ""
    if address is None:
        return False
    # aws_instance.web covers aws_instance.web[0]; module.app covers module.app.aws_instance.x.
    return address == scope or address.startswith((scope + "[", scope + "."))


def _order(violation: Violation) -> tuple[str, str, str, str]:
    return (violation.rule, violation.pool or "", violation.address or "", violation.message)
