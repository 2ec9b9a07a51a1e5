"""Which functions the server-side metrics are read for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chaos.journal import JournalEntry
from chaos.report.assemble import server_side_targets

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def context_with(*entries: JournalEntry) -> Any:
    return SimpleNamespace(
        journal=SimpleNamespace(entries=list(entries)), load=None,
        target=SimpleNamespace(sandbox=True, clients=SimpleNamespace(region="us-east-1")))


def test_every_fault_kind_names_its_functions_by_function_name() -> None:
    entries = (
        JournalEntry("a", "lambda-extension", "orders", ARN + "orders", {}, {}),
        JournalEntry("b", "az-loss", "lambda:payments", ARN + "payments", {}, {}),
        JournalEntry("c", "az-loss", "subnet:use1-az1", "subnet-0abc", {}, {}),
    )
    targets = server_side_targets(context_with(*entries))
    assert targets.function_names == ("orders", "payments")
