"""IAM policy statements: what each part of a run declares it calls, merged into one policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PolicyStatement", "policy_document"]


#: (operator, key, value), e.g. ("StringEquals", "kms:ViaService", "lambda.R.amazonaws.com")
Condition = tuple[str, str, str]


@dataclass(frozen=True)
class PolicyStatement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": sorted(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.conditions:
            condition: dict[str, dict[str, str]] = {}
            for operator, key, value in self.conditions:
                condition.setdefault(operator, {})[key] = value
            statement["Condition"] = condition
        return statement


def policy_document(statements: list[PolicyStatement]) -> dict[str, Any]:
    """One policy; statements with the same Sid, resources and conditions are merged."""
    Key = tuple[str, tuple[str, ...], tuple[Condition, ...]]
    merged: dict[Key, set[str]] = {}
    order: list[Key] = []
    for statement in statements:
        key = (statement.sid, tuple(sorted(statement.resources)), statement.conditions)
        if key not in merged:
            merged[key] = set()
            order.append(key)
        merged[key].update(statement.actions)
    return {
        "Version": "2012-10-17",
        "Statement": [
            PolicyStatement(sid, tuple(merged[(sid, resources, conditions)]), resources,
                            conditions).to_dict()
            for sid, resources, conditions in order
        ],
    }
