"""result.json: the run's contract with its users (see PRODUCT.md, "Result")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaos.journal import Journal, write_atomically

RESULT_VERSION = 1
RESULT_FILE = "result.json"


def fault_entries(journal: Journal) -> list[dict[str, Any]]:
    """One entry per fault and target; environment keys are named, values never shown."""
    return [
        {
            "type": entry.fault_type,
            "target": entry.target,
            "target_arn": entry.target_arn,
            "changed": describe_change(entry.intended),
            "injected_at": entry.injected_at,
            "restored_at": entry.restored_at,
            "restore_status": restore_status(entry.status),
            "detail": entry.detail,
        }
        for entry in journal.entries
    ]


def restore_status(entry_status: str) -> str:
    if entry_status in ("restored", "drifted"):
        return entry_status
    return "failed"


def describe_change(intended: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for key, value in intended.items():
        if key == "environment" and isinstance(value, dict):
            described["environment_keys"] = sorted(value)
        else:
            described[key] = value
    return described


def write_result(directory: Path, result: dict[str, Any]) -> Path:
    path = directory / RESULT_FILE
    write_atomically(path, json.dumps(result, indent=2, sort_keys=False) + "\n")
    path.chmod(0o644)
    return path
