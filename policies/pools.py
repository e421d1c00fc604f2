"""Totals per pool and per team: the pool tree, each pool's own usage and its descendants'.

Pools nest through ``Pool.parent`` (organization, team, environment, as deep as
declared). A pool's totals are the usage of its own resources plus that of
every descendant, so a child's usage counts against the quota of each
ancestor. A team's totals add the own usage of every pool the team owns, so
nested pools of one team are counted once. A pool named only by a
``quotaform:pool`` tag has no parent and belongs to the team of its first
tagged resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdk.model import ResourceConfig
from policies.documents import (
    Metric,
    PoolUsage,
    ResourceFacts,
    TeamUsage,
    UnsizedResource,
    Usage,
)
from policies.sizing import Tally


@dataclass(slots=True)
class ExternalPool:
    """Usage of one pool from the usage document, after skipping what the plan manages."""

    team: str | None
    usage: Usage = field(default_factory=Usage)
    uncounted: dict[Metric, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Sums:
    before: Tally = field(default_factory=Tally)
    after: Tally = field(default_factory=Tally)
    external: Tally = field(default_factory=Tally)
    uncounted: dict[Metric, int] = field(default_factory=dict)

    def add(self, other: _Sums) -> None:
        self.before.add(other.before)
        self.after.add(other.after)
        self.external.add(other.external)
        add_counts(self.uncounted, other.uncounted)


def summarize(resources: list[ResourceFacts], unsized: list[UnsizedResource],
              config: ResourceConfig, external: dict[str, ExternalPool],
              ) -> tuple[dict[str, PoolUsage], dict[str, TeamUsage]]:
    """Return the totals of every pool (declared or tagged) and of every team."""
    pools = _list_pools(resources, config, external)
    own = _own_usage(pools, resources, unsized, external)
    totals = {name: _Sums() for name in pools}
    for name, sums in own.items():
        for target in (name, *pools[name].ancestors):
            totals[target].add(sums)
    for name, pool in pools.items():
        _fill(pool, totals[name])
    return pools, _team_totals(pools, own, config)


def _fill(usage: PoolUsage | TeamUsage, sums: _Sums) -> None:
    after = sums.after
    usage.instances, usage.vcpu = after.instances, after.vcpu
    usage.memory_gib, usage.monthly_cost_usd = after.memory_gib, after.monthly_cost_usd
    usage.before = sums.before.usage()
    usage.uncounted = dict(sums.uncounted)
    if isinstance(usage, PoolUsage):
        usage.external = sums.external.usage()


def _list_pools(resources: list[ResourceFacts], config: ResourceConfig,
                external: dict[str, ExternalPool]) -> dict[str, PoolUsage]:
    pools = {
        pool.name: PoolUsage(team=pool.team, before=Usage(), parent=pool.parent)
        for pool in config.allocation.pools
    }
    for facts in resources:
        if facts.pool is not None and facts.pool not in pools:
            pools[facts.pool] = PoolUsage(team=facts.team, before=Usage(), declared=False)
    for name, record in external.items():
        if name not in pools:
            pools[name] = PoolUsage(team=record.team, before=Usage(), declared=False)

    for name, pool in pools.items():
        parent = pool.parent
        while parent is not None:
            pool.ancestors.append(parent)
            pools[parent].descendants.append(name)
            parent = pools[parent].parent
        pool.path = "/".join([*reversed(pool.ancestors), name])
    for pool in pools.values():
        pool.descendants.sort(key=lambda name: pools[name].path)
    return pools


def _own_usage(pools: dict[str, PoolUsage], resources: list[ResourceFacts],
               unsized: list[UnsizedResource],
               external: dict[str, ExternalPool]) -> dict[str, _Sums]:
    own = {name: _Sums() for name in pools}
    for facts in resources:
        if facts.pool is not None:
            own[facts.pool].before.add(facts.usage_before)
            own[facts.pool].after.add(facts.usage_after)
    for item in unsized:
        if item.pool is not None:
            add_counts(own[item.pool].uncounted, dict.fromkeys(item.metrics, 1))
    for name, record in external.items():
        for usage in (own[name].before, own[name].after, own[name].external):
            usage.add(record.usage)
        add_counts(own[name].uncounted, record.uncounted)
    return own


def _team_totals(pools: dict[str, PoolUsage], own: dict[str, _Sums],
                 config: ResourceConfig) -> dict[str, TeamUsage]:
    teams = {team.name: TeamUsage(before=Usage(), pools=[]) for team in config.allocation.teams}
    sums = {name: _Sums() for name in teams}
    for name, pool in pools.items():
        if pool.team is None:
            continue
        team = teams.setdefault(pool.team, TeamUsage(before=Usage(), pools=[]))
        sums.setdefault(pool.team, _Sums()).add(own[name])
        team.pools.append(name)
    for name, team in teams.items():
        team.pools.sort()
        _fill(team, sums[name])
    return teams


def add_counts(total: dict[Metric, int], counts: dict[Metric, int]) -> None:
    """Add per-metric counts into ``total`` in place."""
    for metric, number in counts.items():
        total[metric] = total.get(metric, 0) + number


def tree_order(config: ResourceConfig) -> list[str]:
    """Return the declared pools depth first, each parent before its children.

    Siblings keep their declaration order, so a quota table lists a tree.
    """
    children: dict[str | None, list[str]] = {}
    for pool in config.allocation.pools:
        children.setdefault(pool.parent, []).append(pool.name)
    ordered: list[str] = []
    pending = list(reversed(children.get(None, [])))
    while pending:
        name = pending.pop()
        ordered.append(name)
        pending.extend(reversed(children.get(name, [])))
    return ordered
