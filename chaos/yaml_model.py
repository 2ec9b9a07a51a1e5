"""The base of every model read from YAML (the experiment, the game-day plan, each fault
kind's spec) and the small value types they share."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["Int", "NonNegInt", "Rate", "StrictModel", "show_value"]

Int = Annotated[int, Strict()]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Rate = Annotated[float, Strict(), Field(ge=0.0, le=1.0, description="fraction of requests, 0..1")]


def show_value(value: object) -> str:
    """Echo a user value only when it is short (long strings may be secrets)."""
    text = repr(value)
    return text if len(text) <= 40 else f"(a value of {len(str(value))} characters)"


class StrictModel(BaseModel):
    """Base: frozen, unknown keys refused with a did-you-mean, names and aliases accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def yaml_keys(cls) -> list[str]:
        """The keys this model accepts in YAML (aliases where a field has one)."""
        return [info.alias or name for name, info in cls.model_fields.items()]

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        accepted = set(cls.model_fields)
        accepted.update(info.alias for info in cls.model_fields.values() if info.alias)
        keys = cls.yaml_keys()
        for key in data:
            if key in accepted:
                continue
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(keys)}"
            raise PydanticCustomError(
                "unknown_field",
                "unknown field {key}{hint}",
                {"key": show_value(key), "hint": hint, "field": str(key)},
            )
        return data
