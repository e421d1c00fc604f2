"""Find who requests a change: the --requestor flag or the CI environment, never the plan.

A requestor belongs to every declared team whose ``members`` list the name;
logins are compared without regard to case, as GitHub and GitLab treat them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cdk.errors import InputError
from cdk.model import ResourceConfig
from policies.documents import Requestor

logger = logging.getLogger(__name__)

# (source, variable that marks the CI system, variable holding the login), in order of
# preference. GitHub Actions sets GITHUB_ACTIONS=true, GitLab CI sets GITLAB_CI=true.
CI_IDENTITIES = (
    ("github-actions", "GITHUB_ACTIONS", "GITHUB_ACTOR"),
    ("gitlab-ci", "GITLAB_CI", "GITLAB_USER_LOGIN"),
)


def find_requestor(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return ``(name, source)`` of the requestor, or None when neither flag nor CI names one.

    The flag wins over the CI environment, because it is given on purpose.
    """
    from_ci = _ci_identity(environ)
    if flag is not None:
        name = flag.strip()
        if not name:
            raise InputError("--requestor: the name is empty; pass a login such as "
                             "--requestor alice")
        if from_ci is not None and from_ci[0].lower() != name.lower():
            logger.warning("--requestor %s differs from %s of %s; checking as %s",
                           name, from_ci[0], from_ci[1], name)
        return name, "flag"
    return from_ci


def _ci_identity(environ: Mapping[str, str]) -> tuple[str, str] | None:
    for source, marker, variable in CI_IDENTITIES:
        login = environ.get(variable, "").strip()
        if environ.get(marker) == "true" and login:
            return login, source
    return None


def requestor_facts(name: str, source: str, config: ResourceConfig) -> Requestor:
    """Describe the requestor with the declared teams that list them as a member."""
    login = name.lower()
    teams = sorted(
        team.name for team in config.allocation.teams
        if any(member.lower() == login for member in team.members)
    )
    return Requestor(name=name, source=source, teams=teams)  # type: ignore[arg-type]
