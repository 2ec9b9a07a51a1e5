"""IAM policy statements: what each part of a run declares it calls, merged into one policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PolicyStatement", "locked", "only_tag_keys", "policy_document", "tagged"]


#: (operator, key, value), e.g. ("StringEquals", "kms:ViaService", "lambda.R.amazonaws.com")
Condition = tuple[str, str, str]

#: The run's lock tag key (chaos.faults.base.LOCK_TAG_KEY; spelled here too because this
#: leaf module must not import the fault kinds) and the prefix of every tag key a run sets.
LOCK_TAG = "gameday:run-id"
OUR_TAG_KEYS = "gameday:*"


def locked() -> tuple[Condition, ...]:
    """The resource carries a run's lock tag, whatever the run: "Null ... false: the key is
    present" ("IAM JSON policy elements: Condition operators", Condition operator to check
    existence of condition keys, https://docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_elements_condition_operators.html) on aws:ResourceTag/gameday:run-id.
    A run is only ever allowed to change what it locked first; a janitor, which cannot know
    run ids in advance, only what some run locked."""
    return (("Null", f"aws:ResourceTag/{LOCK_TAG}", "false"),)


def only_tag_keys() -> tuple[Condition, ...]:
    """A tagging call that sets or removes gameday:* keys only, and at least one: ForAllValues
    alone is also true when the request has no keys at all (same page, "Multivalued context
    keys"), hence the Null check."""
    return (
        ("ForAllValues:StringLike", "aws:TagKeys", OUR_TAG_KEYS),
        ("Null", "aws:TagKeys", "false"),
    )


def tagged(tags: dict[str, str]) -> tuple[Condition, ...]:
    """The resource carries these tags (a tag selector's)."""
    return tuple(
        ("StringEquals", f"aws:ResourceTag/{key}", value) for key, value in sorted(tags.items())
    )


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
            PolicyStatement(
                sid, tuple(merged[(sid, resources, conditions)]), resources, conditions
            ).to_dict()
            for sid, resources, conditions in order
        ],
    }
