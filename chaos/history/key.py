"""What makes two runs comparable: the experiment and its target, never the code.

The key holds the experiment's name, the account, the region, the endpoint *as the
experiment names it* (``sandbox`` stays ``sandbox``: the sandbox's port changes with every
start, its service does not) and the sorted names of what the faults act on. The code
behind them is what changes between the releases a gate compares, so it is not in the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chaos.verdict.history import HistoryKey

if TYPE_CHECKING:
    from chaos.experiment.model import Experiment

__all__ = ["history_key", "key_digest", "key_from_dict", "key_to_dict", "target_names"]

#: Fields of a fault spec that name what it acts on (lambda-extension: `functions`;
#: az-loss: `targets`, a mapping of resource kind to names).
_TARGET_FIELDS = ("functions", "targets")


def history_key(experiment: Experiment, account_id: str | None) -> HistoryKey:
    """The key of `experiment`'s runs against the account the run talks to."""
    target = experiment.target
    return HistoryKey(
        experiment=experiment.name,
        account_id=account_id or target.account_id,
        region=target.region,
        endpoint=target.endpoint or "",
        targets=target_names(fault.model_dump(by_alias=True) for fault in experiment.faults),
    )


def target_names(faults: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Sorted names of what the faults act on (a tag selector as ``tags:k=v,...``)."""
    names: set[str] = set()
    for fault in faults:
        for field in _TARGET_FIELDS:
            names.update(_names(fault.get(field)))
    return tuple(sorted(names))


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [name for item in value for name in _names(item)]
    if isinstance(value, Mapping):
        tags = value.get("tags")
        if isinstance(tags, Mapping):
            return ["tags:" + ",".join(f"{key}={tags[key]}" for key in sorted(tags))]
        return [f"{kind}:{name}" for kind in sorted(value) for name in _names(value[kind])]
    return []


def key_digest(key: HistoryKey) -> str:
    """16 hex digits naming the key's folder (local) and prefix (S3)."""
    return hashlib.sha256(key.as_text().encode()).hexdigest()[:16]


def key_to_dict(key: HistoryKey) -> dict[str, Any]:
    return {
        "experiment": key.experiment,
        "account_id": key.account_id,
        "region": key.region,
        "endpoint": key.endpoint,
        "targets": list(key.targets),
    }


def key_from_dict(document: Any) -> HistoryKey:
    """The key a record states; ValueError when it is not one."""
    if not isinstance(document, Mapping):
        raise ValueError("key is not an object")
    targets = document.get("targets")
    account_id = document.get("account_id")
    texts = [document.get(name) for name in ("experiment", "region", "endpoint")]
    if (
        not all(isinstance(text, str) for text in texts)
        or not isinstance(targets, list)
        or not all(isinstance(t, str) for t in targets)
        or not (account_id is None or isinstance(account_id, str))
    ):
        raise ValueError(
            "key needs experiment, region, endpoint (strings), account_id and "
            "targets (a list of names)"
        )
    experiment, region, endpoint = (str(text) for text in texts)
    return HistoryKey(experiment, account_id, region, endpoint, tuple(sorted(targets)))
