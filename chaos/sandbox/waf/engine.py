"""AWS WAF web ACL evaluation for the sandbox's HTTP front.

Rules run in priority order; the first Allow/Block ends the evaluation, Count goes on.
Rate-based rules (:mod:`chaos.sandbox.waf.rate`) are counted on every request and checked
periodically (:meth:`WafEngine.check`). A rule using a statement the sandbox does not
evaluate (:mod:`chaos.sandbox.waf.statements`) is skipped (logged once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chaos.sandbox.realism import Realism
from chaos.sandbox.waf.rate import AWS_CHECK_INTERVAL_S, RateCheckModel, RateCounter, RateStatement
from chaos.sandbox.waf.request import Verdict, WebRequest
from chaos.sandbox.waf.rules import DEFAULT_BLOCK_STATUS, FORBIDDEN_BODY, Rule, parse_rule
from chaos.sandbox.waf.statements import AggregationKey, Fallback, UnsupportedRule

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL_S = 10.0


class WafEngine:
    """Evaluates one web ACL (re-configurable at any time) against requests."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        check_interval_s: float = DEFAULT_CHECK_INTERVAL_S,
        model: RateCheckModel | None = None,
    ) -> None:
        self.clock = clock
        self.check_interval_s = check_interval_s
        self.model = model or RateCheckModel()
        self._lock = threading.Lock()
        self._acl_json: str | None = None
        self.acl_name: str | None = None
        self.acl_metric_name: str | None = None
        self._default_block = False
        self._rules: list[Rule] = []
        self._counters: dict[tuple[str, str], RateCounter] = {}
        self._warned: set[str] = set()
        self.last_check: float | None = None

    @classmethod
    def for_realism(cls, realism: Realism, fast_check_interval_s: float) -> WafEngine:
        """The sandbox's engine: `fast` checks every `fast_check_interval_s`, `aws` as AWS."""
        if not realism.aws:
            return cls(check_interval_s=fast_check_interval_s)
        return cls(
            check_interval_s=realism.delay(AWS_CHECK_INTERVAL_S),
            model=RateCheckModel.for_realism(realism),
        )

    def configure(self, acl: dict[str, Any] | None) -> None:
        """Use this web ACL (as GetWebACL returns it; None = no ACL); cheap when unchanged."""
        document = json.dumps(acl, sort_keys=True, default=str)
        with self._lock:
            if document == self._acl_json:
                return
            self._acl_json = document
            rules = self._parse_rules(acl or {})
            self._rules = rules
            self.acl_name = acl.get("Name") if acl else None
            self.acl_metric_name = str(
                ((acl or {}).get("VisibilityConfig") or {}).get("MetricName") or self.acl_name or ""
            )
            self._default_block = "Block" in ((acl or {}).get("DefaultAction") or {})
            live = {(rule.name, rule.rate.identity) for rule in rules if rule.rate}
            self._counters = {k: v for k, v in self._counters.items() if k in live}

    def _parse_rules(self, acl: dict[str, Any]) -> list[Rule]:
        bodies = acl.get("CustomResponseBodies") or {}
        rules = []
        for raw in acl.get("Rules") or []:
            try:
                rules.append(parse_rule(raw, bodies))
            except (UnsupportedRule, KeyError, TypeError, ValueError) as error:
                message = f"WAF rule {raw.get('Name')!r} is not evaluated by the sandbox: {error}"
                if message not in self._warned:
                    self._warned.add(message)
                    log.warning(message)
        return sorted(rules, key=lambda rule: rule.priority)

    def _counter(self, rule: Rule) -> RateCounter:
        assert rule.rate is not None
        return self._counters.setdefault((rule.name, rule.rate.identity), RateCounter())

    def evaluate(self, request: WebRequest) -> Verdict:
        now = self.clock()
        counted: list[str] = []
        with self._lock:
            for rule in self._rules:
                if not self._matches(rule, request, now):
                    continue
                if rule.action == "COUNT":
                    counted.append(rule.metric_name)
                    continue
                if rule.action == "ALLOW":
                    return Verdict(False, rule.name, rule.metric_name, counted=tuple(counted))
                return Verdict(
                    True,
                    rule.name,
                    rule.metric_name,
                    rule.block_status,
                    rule.block_body,
                    rule.block_content_type,
                    rule.block_headers,
                    tuple(counted),
                )
            if self._default_block:
                return Verdict(
                    True, None, "ALL", DEFAULT_BLOCK_STATUS, FORBIDDEN_BODY, counted=tuple(counted)
                )
        return Verdict(False, counted=tuple(counted))

    def _matches(self, rule: Rule, request: WebRequest, now: float) -> bool:
        if rule.matcher is not None:
            return rule.matcher(request)
        rate = rule.rate
        assert rate is not None
        if rate.scope_down is not None and not rate.scope_down(request):
            return False
        key = rate.key_of(request)
        if key is None:
            return False
        if isinstance(key, Fallback):
            return True
        counter = self._counter(rule)
        counter.count(key, now)
        return counter.is_blocked(key, now)

    def check(self) -> None:
        """The periodic rate check: block keys over their limit, release the others."""
        now = self.clock()
        with self._lock:
            for rule in self._rules:
                if rule.rate is not None:
                    self._counter(rule).check(now, rule.name, rule.rate, self.model)
            self.last_check = now

    def blocked_keys(self, rule_name: str) -> set[AggregationKey]:
        now = self.clock()
        with self._lock:
            return {
                key
                for (name, _), counter in self._counters.items()
                if name == rule_name
                for key in counter.blocked(now)
            }

    def status(self) -> dict[str, Any]:
        """The keys each rate rule blocks, and every block's timing (`/_sandbox/status`)."""
        now = self.clock()
        with self._lock:
            blocked: dict[str, list[str]] = {}
            blocks: dict[str, dict[str, dict[str, float | None]]] = {}
            for (name, _), counter in self._counters.items():
                blocked.setdefault(name, []).extend(",".join(k) for k in counter.blocked(now))
                blocks.setdefault(name, {}).update(
                    {
                        ",".join(key): {
                            "over_since": block.over_since,
                            "blocks_at": block.blocks_at,
                            "releases_at": block.releases_at,
                        }
                        for key, block in counter.blocks.items()
                    }
                )
        return {
            "web_acl": self.acl_name,
            "last_check": self.last_check,
            "check_interval_s": self.check_interval_s,
            "estimated_rate": self.model.estimated,
            "max_delay_s": self.model.max_delay_s,
            "blocked": {name: sorted(keys) for name, keys in blocked.items()},
            "blocks": blocks,
        }

    def rate_rule(self, rule_name: str) -> RateStatement | None:
        with self._lock:
            return next((rule.rate for rule in self._rules if rule.name == rule_name), None)
