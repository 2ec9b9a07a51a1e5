"""The sandbox's Lambda invoke path: a function, alias or version to the environments of a version.

As Lambda does it:

* an unqualified invocation (or ``$LATEST``) runs ``$LATEST``; a version number runs that
  published version, whose configuration never changes;
* an alias runs its ``FunctionVersion``, or with a ``RoutingConfig`` one of its
  ``AdditionalVersionWeights`` versions with that probability per invocation ("The
  second version, and the percentage of traffic that's routed to it", https://
  docs.aws.amazon.com/lambda/latest/api/API_AliasRoutingConfiguration.html); the alias is
  read at every invocation, so an UpdateAlias applies to the next one;
* every version invoked has its own environments (:class:`FunctionPool`); all versions of
  a function share its concurrency.

The draw between an alias's versions comes from ``Realism.random("alias-routing")``
(seeded with ``GAMEDAY_SANDBOX_SEED``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any, Protocol

from chaos.sandbox.functions.configuration import AliasRouting, FunctionConfig, LambdaTarget
from chaos.sandbox.functions.pool import (
    DEFAULT_POOL_MAX,
    LATEST,
    FunctionConcurrency,
    FunctionPool,
    InvokeOutcome,
    NotReady,
)

log = logging.getLogger(__name__)

PoolFactory = Callable[[str, str, FunctionConcurrency], FunctionPool]


class FunctionReader(Protocol):
    def function_config(self, name: str, version: str = LATEST) -> FunctionConfig | None: ...

    def alias_routing(self, function_name: str, alias: str) -> AliasRouting | None: ...

    def version_state(self, name: str, version: str) -> str | None: ...


class LambdaService:
    """Environments per (function, version) invoked, and the routing to them."""

    def __init__(
        self,
        reader: FunctionReader,
        pool_factory: PoolFactory,
        *,
        pool_max: int = DEFAULT_POOL_MAX,
        routing: random.Random | None = None,
    ) -> None:
        self.reader = reader
        self.pool_factory = pool_factory
        self.pool_max = pool_max
        self._routing = routing or random.Random()
        self._routing_lock = threading.Lock()
        self._lock = threading.Lock()
        self._creating = threading.Lock()
        self._pools: dict[tuple[str, str], FunctionPool] = {}
        self._concurrency: dict[str, FunctionConcurrency] = {}

    # -- invoke ----------------------------------------------------------------------

    def invoke(self, target: LambdaTarget, payload: bytes) -> InvokeOutcome:
        """Invoke the target once; raises Throttled when the function has no concurrency,
        NotReady when the version it resolves to is still Pending."""
        version = self.resolve(target)
        if version is not None and version != LATEST:
            state = self.reader.version_state(target.function_name, version)
            if state == "Pending":
                raise NotReady(f"{target.function_name}:{version}")
        pool = None if version is None else self._pool_for(target.function_name, version)
        if pool is None:
            return InvokeOutcome(
                None, None, init_error=f"function {target.label} not found", missing=True
            )
        return pool.invoke(payload)

    def exists(self, function_name: str) -> bool:
        return self.reader.function_config(function_name) is not None

    def resolve(self, target: LambdaTarget) -> str | None:
        """The version this invocation runs (None: no such alias)."""
        qualifier = target.qualifier
        if qualifier is None or qualifier == LATEST:
            return LATEST
        if qualifier.isdigit():
            return qualifier
        routing = self.reader.alias_routing(target.function_name, qualifier)
        return None if routing is None else self._pick(routing)

    def _pick(self, routing: AliasRouting) -> str:
        with self._routing_lock:
            draw = self._routing.random()
        for version, weight in routing.additional_weights:
            if draw < weight:
                return version
            draw -= weight
        return routing.function_version

    def _pool_for(self, name: str, version: str) -> FunctionPool | None:
        with self._lock:
            pool = self._pools.get((name, version))
        if pool is not None:
            return pool
        with self._creating:  # one thread materializes a new version's code
            with self._lock:
                pool = self._pools.get((name, version))
            if pool is not None:
                return pool
            config = self.reader.function_config(name, version)
            if config is None:
                return None
            pool = self.pool_factory(name, version, self._function_concurrency(name))
            pool.update(config)
            with self._lock:
                self._pools[(name, version)] = pool
            return pool

    def _function_concurrency(self, name: str) -> FunctionConcurrency:
        with self._lock:
            return self._concurrency.setdefault(name, FunctionConcurrency(self.pool_max))

    # -- following the configuration ---------------------------------------------------

    def refresh(self) -> None:
        """Re-read every invoked version; a deleted version's environments shut down."""
        with self._lock:
            pools = list(self._pools.items())
        for key, pool in pools:
            config = self.reader.function_config(*key)
            if config is not None:
                pool.update(config)
                continue
            with self._lock:
                self._pools.pop(key, None)
            log.info("function %s:%s no longer exists: its environments shut down", *key)
            pool.close()

    def pools(self) -> list[FunctionPool]:
        with self._lock:
            return list(self._pools.values())

    def status(self) -> list[dict[str, Any]]:
        return [pool.status() for pool in self.pools()]

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
