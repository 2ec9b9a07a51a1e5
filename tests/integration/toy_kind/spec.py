"""The toy kind's YAML: `type: toy-note`, a function to note and a note (1-100 chars)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.faults.spec import FaultSpec


class ToyNoteSpec(FaultSpec):
    """Note a Lambda function (changes nothing; shows how a kind plugs in)."""

    type: Literal["toy-note"]
    function: str = Field(min_length=1, description="a function name")
    note: str = Field(min_length=1, max_length=100)
