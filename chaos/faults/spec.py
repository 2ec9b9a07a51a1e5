"""The base of every fault kind's spec: the pydantic model of one entry of `faults`.

Pydantic lives here and in each kind's ``spec.py`` only: the janitor's package ships no
pydantic (chaos.janitor.package), so nothing a restore imports may import these.
"""

from __future__ import annotations

from chaos.yaml_model import StrictModel

__all__ = ["FaultSpec"]


class FaultSpec(StrictModel):
    """One entry of an experiment's `faults`; `type` names its kind (the discriminator)."""

    type: str

    def target_problem(self, region: str) -> str | None:
        """Why this fault cannot run against `target.region` (None: it can)."""
        return None
