"""The WAF traffic plan: who is abusive, who is legit, how fast each sends, as which identity.

Pure data: the orchestrator builds it, `gameday plan` prints it, and the Locust processes
receive it as JSON (environment variable, see chaos.load.driver) to pace their clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.errors import PreflightRefused
from chaos.load.identity import POOL_SIZE, IdentityScheme
from chaos.load.waf import RateRule

if TYPE_CHECKING:
    from chaos.experiment.model import Load, WafLoad

#: Abusive clients send this multiple of the limit per window, spread evenly.
ABUSE_FACTOR = 3.0
#: Legit clients send at most this share of the limit per window.
LEGIT_SHARE = 0.3
# Custom key components that split one client's count into several buckets.
_SPLITTING_KEYS = {
    "UriPath",
    "HTTPMethod",
    "QueryString",
    "QueryArgument",
    "Cookie",
    "LabelNamespace",
    "JA3Fingerprint",
    "JA4Fingerprint",
}


@dataclass(frozen=True)
class WafTrafficPlan:
    """The WAF clients of a run: counts, paces (req/s per client) and identity scheme."""

    rule: RateRule
    abusive_clients: int
    legit_clients: int
    abusive_rps: float
    legit_rps: float
    identity: IdentityScheme
    workers: int = 0
    measure_unblock: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def seconds_to_cross_limit(self) -> float:
        """When an abusive client's count in the window first exceeds the limit."""
        return self.rule.limit / self.abusive_rps if self.abusive_rps else float("inf")

    def per_window(self, rps: float) -> float:
        return rps * self.rule.window_s

    def describe(self) -> list[str]:
        """Human lines for `gameday plan`."""
        rule = self.rule
        action = (
            f"{rule.action} (clients see HTTP {rule.block_status})"
            if rule.block_status is not None
            else rule.action
        )
        lines = [
            f"WAF rule {rule.name} of web ACL {rule.web_acl_name}: limit {rule.limit} requests "
            f"per {rule.window_s}s per {rule.aggregation} key, action {action}"
            + (", with a scope-down statement" if rule.scope_down else ""),
            f"identity: {self.identity.describe()}",
            f"{self.abusive_clients} abusive client(s), each {self.abusive_rps:.3g} req/s = "
            f"{self.per_window(self.abusive_rps):.0f} per {rule.window_s}s window "
            f"({ABUSE_FACTOR:g}x the limit): each should cross the limit after "
            f"~{self.seconds_to_cross_limit:.0f}s and then be blocked",
            f"{self.legit_clients} legit client(s), each {self.legit_rps:.3g} req/s = "
            f"{self.per_window(self.legit_rps):.0f} per {rule.window_s}s window "
            f"({LEGIT_SHARE:.0%} of the limit): must never be blocked",
        ]
        if self.measure_unblock:
            lines.append(
                "after the abusive phase the abusive clients drop to the legit pace to "
                "measure time_to_unblock_s"
            )
        lines.extend(f"! {warning}" for warning in self.warnings)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.to_dict(),
            "abusive_clients": self.abusive_clients,
            "legit_clients": self.legit_clients,
            "abusive_rps": self.abusive_rps,
            "legit_rps": self.legit_rps,
            "identity": self.identity.to_dict(),
            "workers": self.workers,
            "measure_unblock": self.measure_unblock,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WafTrafficPlan:
        return cls(
            rule=RateRule.from_dict(raw["rule"]),
            abusive_clients=raw["abusive_clients"],
            legit_clients=raw["legit_clients"],
            abusive_rps=raw["abusive_rps"],
            legit_rps=raw["legit_rps"],
            identity=IdentityScheme.from_dict(raw["identity"]),
            workers=raw.get("workers", 0),
            measure_unblock=raw.get("measure_unblock", False),
            warnings=tuple(raw.get("warnings", ())),
        )


def _block_looks_like_a_failure(rule: RateRule) -> bool:
    """The rule's custom block answers with a status that throttles and errors share."""
    status = rule.block_status
    unmarked = rule.custom_response and rule.block_header is None
    return unmarked and status is not None and (status == 429 or status >= 500)


#: How long after a key first exceeds the limit AWS WAF may start blocking it: "Usually,
#: this delay is below 30 seconds" ("Rate-based rule caveats", https://docs.aws.amazon.com/
#: waf/latest/developerguide/waf-rule-statement-type-rate-based-caveats.html).
AWS_BLOCK_DELAY_S = 30.0


def phases_too_short(run_s: float, window_s: float) -> str | None:
    """The warning for phases of `run_s` too short to see an abusive client blocked by a
    rule counting over `window_s`, None when they are long enough.

    An abusive client sends ABUSE_FACTOR times the limit per window, so it crosses the
    limit after window / ABUSE_FACTOR, whatever the limit; AWS WAF may block it up to
    AWS_BLOCK_DELAY_S later.
    """
    cross_s = window_s / ABUSE_FACTOR
    needed_s = cross_s + AWS_BLOCK_DELAY_S
    if run_s >= needed_s:
        return None
    return (
        f"the phases last {run_s:.0f}s, but an abusive client crosses the limit after "
        f"~{cross_s:.0f}s and AWS WAF may take up to {AWS_BLOCK_DELAY_S:.0f}s more to "
        "block it: time_to_block_s may not be measured (its checks then fail as not "
        f"measured); make the phases at least {needed_s:.0f}s"
    )


def plan_waf_traffic(
    rule: RateRule, waf_spec: WafLoad, workers: int, run_s: float | None = None
) -> WafTrafficPlan:
    """Rates and identities for `load.waf`; raises PreflightRefused when it cannot work.

    `run_s`: how long the load runs (the phases); too short to see a block, a warning.
    """
    identity, warnings = _identity_scheme(rule, waf_spec)
    for kind, count in (
        ("abusive_clients", waf_spec.abusive_clients),
        ("legit_clients", waf_spec.legit_clients),
    ):
        if count > POOL_SIZE:
            raise PreflightRefused(
                f"load.waf.{kind}: at most {POOL_SIZE} distinct identities per kind, got {count}"
            )
    if rule.action == "Count":
        warnings.append(
            f"rule {rule.name} only counts (action Count): clients are never "
            "blocked, so time_to_block_s cannot be observed by the clients"
        )
    if rule.scope_down:
        warnings.append(
            "only requests matching the rule's scope-down statement are counted: "
            "the WAF clients send the locustfile's requests, make sure they match"
        )
    if waf_spec.abusive_clients == 0:
        warnings.append("abusive_clients is 0: nothing will test that the rule blocks")
    too_short = phases_too_short(run_s, rule.window_s) if run_s is not None else None
    if waf_spec.abusive_clients and too_short:
        warnings.append(too_short)
    if _block_looks_like_a_failure(rule):
        warnings.append(
            f"rule {rule.name} blocks with HTTP {rule.block_status} and no "
            "response header: its blocks cannot be told from throttles or errors "
            "and count as failures; give its CustomResponse a header"
        )
    return WafTrafficPlan(
        rule=rule,
        abusive_clients=waf_spec.abusive_clients,
        legit_clients=waf_spec.legit_clients,
        abusive_rps=ABUSE_FACTOR * rule.limit / rule.window_s,
        legit_rps=LEGIT_SHARE * rule.limit / rule.window_s,
        identity=identity,
        workers=workers,
        measure_unblock=waf_spec.measure_unblock,
        warnings=tuple(warnings),
    )


def _identity_scheme(rule: RateRule, waf_spec: WafLoad) -> tuple[IdentityScheme, list[str]]:
    if rule.aggregation == "FORWARDED_IP":
        return IdentityScheme(forwarded_header=rule.forwarded_header or "X-Forwarded-For"), []
    if rule.aggregation == "CUSTOM_KEYS":
        return _custom_keys_scheme(rule)
    if rule.aggregation == "IP":
        identities = waf_spec.abusive_clients + waf_spec.legit_clients
        if identities > 1:
            raise PreflightRefused(
                f"load.waf: rule {rule.name} aggregates by IP: one host is one client, so "
                f"{identities} identities need {identities} hosts; set abusive_clients + "
                "legit_clients to 1, or run one experiment per remote worker host (docs/load.md)"
            )
        return IdentityScheme(host=True), [
            "aggregation IP: every request from this host (normal load included) is the same "
            "client; if it is abusive, the normal users are blocked with it"
        ]
    raise PreflightRefused(
        f"load.waf: rule {rule.name} aggregates by {rule.aggregation}: all "
        "clients share one count, so abusive and legit clients cannot be told "
        "apart"
    )


def _custom_keys_scheme(rule: RateRule) -> tuple[IdentityScheme, list[str]]:
    headers = tuple(key.name for key in rule.custom_keys if key.kind == "Header" and key.name)
    forwarded = any(key.kind == "ForwardedIP" for key in rule.custom_keys)
    if not headers and not forwarded:
        kinds = ", ".join(key.kind for key in rule.custom_keys) or "none"
        raise PreflightRefused(
            f"load.waf: rule {rule.name} aggregates by custom keys ({kinds}) "
            "without a Header or ForwardedIP key: clients cannot be given "
            "distinct identities"
        )
    warnings = []
    splitting = sorted({key.kind for key in rule.custom_keys} & _SPLITTING_KEYS)
    if splitting:
        warnings.append(
            f"the custom keys include {', '.join(splitting)}: the rule counts each "
            "combination apart, while the abusive pace is per client in total"
        )
    scheme = IdentityScheme(
        headers=headers,
        forwarded_header=(rule.forwarded_header or "X-Forwarded-For") if forwarded else None,
    )
    return scheme, warnings


def describe_load(load: Load | None, waf_plan: WafTrafficPlan | None) -> list[str]:
    """The `load` lines of `gameday plan` (the lead's plan_view calls this)."""
    if load is None:
        return ["load: none"]
    if load.total_workers:
        where = f"a Locust master with {load.workers} local worker process(es)"
        if load.remote_workers:
            bind = load.master_bind or "127.0.0.1:<free port>"
            where += (
                f", waiting up to {load.workers_timeout:g}s for {load.remote_workers} "
                f"remote worker(s) at {bind} (gameday load worker --master HOST:PORT)"
            )
    else:
        where = "one Locust process"
    lines = [
        f"load: {load.users} users from {load.locustfile}, spawn rate "
        f"{load.spawn_rate:g}/s, on {where}"
    ]
    if waf_plan is not None:
        extra = waf_plan.abusive_clients + waf_plan.legit_clients
        lines.append(f"  + {extra} WAF client(s) beside the {load.users} users:")
        lines.extend(f"  {line}" for line in waf_plan.describe())
    return lines
