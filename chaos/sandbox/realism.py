"""How faithfully the sandbox reproduces AWS's delays and imprecision.

``fast`` (the default) keeps the demo quick. ``aws`` (``gameday sandbox up --realism aws``
or ``GAMEDAY_SANDBOX_REALISM=aws``) makes the sandbox as slow and imprecise as AWS where
the toolkit's verdicts depend on it (PRODUCT.md, "Sandbox realism"); each behaviour's
module names the AWS documentation page its numbers come from.

Tests may shrink every realism *delay* by ``GAMEDAY_SANDBOX_TIME_SCALE`` (0 < scale <= 1,
default 1): a scale of 0.1 turns a 2-5 s Lambda update into 0.2-0.5 s. Resolutions and
limits (one-minute CloudWatch periods, the 4 KB environment limit) are never scaled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from chaos.errors import ConfigurationError

__all__ = ["REALISM_ENV", "SEED_ENV", "TIME_SCALE_ENV", "Realism", "RealismMode"]

REALISM_ENV = "GAMEDAY_SANDBOX_REALISM"
TIME_SCALE_ENV = "GAMEDAY_SANDBOX_TIME_SCALE"
SEED_ENV = "GAMEDAY_SANDBOX_SEED"

RealismMode = Literal["fast", "aws"]
REALISM_MODES: tuple[str, ...] = get_args(RealismMode)


@dataclass(frozen=True)
class Realism:
    """The sandbox's realism settings (one per sandbox process)."""

    mode: RealismMode = "fast"
    time_scale: float = 1.0
    seed: int | None = None  # seeds every random draw of the realism models

    @property
    def aws(self) -> bool:
        return self.mode == "aws"

    def delay(self, seconds: float) -> float:
        """An AWS delay as the sandbox applies it (scaled down for tests)."""
        return seconds * self.time_scale

    def random(self, stream: str) -> random.Random:
        """A random generator for one model (`stream` keeps models independent)."""
        return random.Random(None if self.seed is None else f"{self.seed}:{stream}")

    def to_env(self) -> dict[str, str]:
        env = {REALISM_ENV: self.mode, TIME_SCALE_ENV: f"{self.time_scale:g}"}
        if self.seed is not None:
            env[SEED_ENV] = str(self.seed)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Realism:
        mode = (environ.get(REALISM_ENV) or "fast").strip().lower()
        if mode not in REALISM_MODES:
            raise ConfigurationError(
                f"{REALISM_ENV}={mode!r}: expected one of {', '.join(REALISM_MODES)}"
            )
        raw_scale = environ.get(TIME_SCALE_ENV) or "1"
        try:
            scale = float(raw_scale)
        except ValueError:
            scale = -1.0
        if not 0 < scale <= 1:
            raise ConfigurationError(f"{TIME_SCALE_ENV}={raw_scale!r}: expected a number in (0, 1]")
        raw_seed = environ.get(SEED_ENV)
        try:
            seed = int(raw_seed) if raw_seed else None
        except ValueError:
            raise ConfigurationError(f"{SEED_ENV}={raw_seed!r}: expected an integer") from None
        return cls(mode=mode, time_scale=scale, seed=seed)  # type: ignore[arg-type]
