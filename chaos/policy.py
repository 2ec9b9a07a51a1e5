"""IAM policy statements: what each part of a run declares it calls, merged into one policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PolicyStatement", "policy_document"]


@dataclass(frozen=True)
class PolicyStatement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": sorted(self.resources) if len(self.resources) > 1 else self.resources[0],
        }


def policy_document(statements: list[PolicyStatement]) -> dict[str, Any]:
    merged: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    order: list[tuple[str, tuple[str, ...]]] = []
    for statement in statements:
        key = (statement.sid, tuple(sorted(statement.resources)))
        if key not in merged:
            merged[key] = set()
            order.append(key)
        merged[key].update(statement.actions)
    return {
        "Version": "2012-10-17",
        "Statement": [
            PolicyStatement(sid, tuple(merged[(sid, resources)]), resources).to_dict()
            for sid, resources in order
        ],
    }
