"""A Lambda function as the sandbox's data plane sees it: the target an invocation names,
a version's configuration (code, layers, subnets) and an alias's routing.

Pure data: :class:`chaos.sandbox.process.moto_reader.MotoReader` builds these from moto's
backend objects; the invoke paths, the pools and the integrations that invoke a function
only read them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

LATEST = "$LATEST"


@dataclass(frozen=True)
class LambdaTarget:
    """The function an integration invokes; ``qualifier`` is an alias or a version."""

    function_name: str
    qualifier: str | None = None

    @property
    def label(self) -> str:
        return self.function_name + (f":{self.qualifier}" if self.qualifier else "")


@dataclass(frozen=True)
class LayerContent:
    arn: str
    code_sha256: str
    zip_bytes: bytes = field(repr=False)


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment of a function is built from, as configured now."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    code_sha256: str
    code_zip: bytes = field(repr=False)
    layers: tuple[LayerContent, ...] = ()
    subnet_az_ids: tuple[tuple[str, str], ...] = ()  # (subnet id, AZ ID), in VpcConfig order
    reserved_concurrency: int | None = None

    @property
    def revision(self) -> str:
        """Digest of everything whose change makes Lambda recycle the environments."""
        document = {
            "code": self.code_sha256,
            "handler": self.handler,
            "runtime": self.runtime,
            "timeout": self.timeout_s,
            "memory": self.memory_mb,
            "environment": self.environment,
            "layers": [layer.arn for layer in self.layers],
            "subnets": list(self.subnet_az_ids),
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AliasRouting:
    """Where an alias sends invocations: its version, plus weighted additional versions."""

    function_version: str
    additional_weights: tuple[tuple[str, float], ...] = ()
