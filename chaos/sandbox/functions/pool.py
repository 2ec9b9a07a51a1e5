"""Per function version, a pool of local Lambda execution environments placed by AZ.

Each environment is a :class:`chaos.sandbox.functions.local.ExecutionEnvironment` (the real
runtime client, the version's code, the extensions of its layers) placed in the AZ
of one of the version's subnets, spread evenly over them. As in Lambda:

* environments belong to one version (``$LATEST`` or a published number) and run that
  version's configuration;
* a warm idle environment takes the request, else a new one cold-starts;
* concurrency is bounded per *function*, all versions together (reserved concurrency,
  else the pool maximum): past it the invoke is throttled;
* a configuration change (code, handler, environment, layers, subnets, timeout, memory)
  recycles: new requests go to new environments; old ones finish in-flight work and
  shut down;
* an environment in a subnet reaches the sandbox AWS API through that subnet's egress
  (:mod:`chaos.sandbox.capacity.egress`): a deny-all network ACL cuts its outbound calls, never
  its invocations.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import threading
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.host import extract_zip
from chaos.sandbox.capacity.egress import EgressNetwork
from chaos.sandbox.cloudwatch.metrics import MetricsRecorder, parse_emf
from chaos.sandbox.functions.configuration import LATEST, FunctionConfig
from chaos.sandbox.functions.local import (
    ExecutionEnvironment,
    InitError,
    InvokeResult,
    LogLine,
    free_port,
)
from chaos.sandbox.functions.runtimes import RuntimeClients, RuntimeUnavailable

log = logging.getLogger(__name__)

DEFAULT_POOL_MAX = 10
AZ_ID_ENV_KEY = "GAMEDAY_SANDBOX_AZ_ID"
CHAOS_PORT_ENV_KEY = "GAMEDAY_CHAOS_PORT"
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
LAMBDA_NAMESPACE = "AWS/Lambda"
COLD_STARTS_KEPT = 50
RECENT_LOG_LINES = 2_000  # per environment; every line also goes to the metrics sink


ENDPOINT_ENV_KEY = "AWS_ENDPOINT_URL"


class Throttled(Exception):
    """No concurrency left for the function (Lambda's TooManyRequestsException)."""


class NotReady(Exception):
    """The version is not Active yet: "Lambda does not invoke a function during pending
    state. Any invocations or other API actions that operate on the function will fail"
    ("Lambda function states", https://docs.aws.amazon.com/lambda/latest/dg/
    functions-states.html), with ResourceConflictException (409)."""


@dataclass(frozen=True)
class InvokeOutcome:
    az_id: str | None
    result: InvokeResult | None  # None: no result (init failed, or no such function)
    init_error: str | None = None
    cold_start_ms: float | None = None
    missing: bool = False  # the function, version or alias does not exist
    version: str | None = None  # the version that ran


class FunctionConcurrency:
    """A function's concurrency, shared by the environments of all its versions."""

    def __init__(self, pool_max: int = DEFAULT_POOL_MAX) -> None:
        self.pool_max = pool_max
        self.reserved: int | None = None
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self.pool_max if self.reserved is None else min(self.reserved, self.pool_max)

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)


@dataclass(frozen=True)
class Placement:
    az_id: str
    subnet_id: str
    revision: str
    busy: bool
    retired: bool


class _Revision:
    """One configuration of the function, its code and layers extracted on disk."""

    def __init__(self, config: FunctionConfig, root: Path) -> None:
        self.config = config
        self.key = config.revision
        self.root = root
        self.code_dir = root / "code"
        self.layer_paths: list[Path] = []
        self.live_slots = 0
        self.retired = False
        self.placed = 0
        self.code_dir.mkdir(parents=True)
        _extract_code(config.code_zip, self.code_dir)
        for index, layer in enumerate(config.layers):
            path = root / f"layer-{index}.zip"
            path.write_bytes(layer.zip_bytes)
            self.layer_paths.append(path)


def _extract_code(zip_bytes: bytes, target: Path) -> None:
    """Extract a deployment package, keeping Unix modes (vendored executables keep +x).

    Entries outside the package root are left out: Lambda rejects those too."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        extract_zip(archive, target)


class _Slot:
    def __init__(
        self, environment: ExecutionEnvironment, revision: _Revision, subnet_id: str, az_id: str
    ) -> None:
        self.environment = environment
        self.revision = revision
        self.subnet_id = subnet_id
        self.az_id = az_id
        self.busy = True
        self.retired = False
        self.last_used = time.monotonic()


class FunctionPool:
    """The execution environments of one version of a function."""

    def __init__(
        self,
        function_name: str,
        version: str = LATEST,
        *,
        work_dir: Path,
        metrics: MetricsRecorder | None,
        concurrency: FunctionConcurrency | None = None,
        base_env: Mapping[str, str] | None = None,
        reserved_env: Mapping[str, str] | None = None,
        egress: EgressNetwork | None = None,
        runtimes: RuntimeClients | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.function_name = function_name
        self.version = version
        self.work_dir = work_dir
        self.metrics = metrics
        self.concurrency = concurrency or FunctionConcurrency()
        self.base_env = dict(base_env or {})
        self.reserved_env = dict(reserved_env or {})
        self.egress = egress
        self.runtimes = runtimes or RuntimeClients()
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()
        self._revision: _Revision | None = None
        self._slots: list[_Slot] = []
        self._closing = threading.Event()
        self._closers: list[threading.Thread] = []
        self._revisions_made = 0
        self.cold_starts_ms: list[float] = []

    # -- configuration ----------------------------------------------------------------

    @property
    def revision(self) -> str | None:
        return self._revision.key if self._revision else None

    def update(self, config: FunctionConfig | None) -> bool:
        """Follow the version's current configuration; True when it recycled environments."""
        with self._lock:
            if config is not None:
                # Concurrency settings apply at once, without recycling (as in Lambda).
                self.concurrency.reserved = config.reserved_concurrency
            current = self._revision
            if config is not None and current is not None and current.key == config.revision:
                return False
            if config is None and current is None:
                return False
        revision = self._materialize(config) if config is not None else None
        with self._lock:
            old, self._revision = self._revision, revision
            if old is not None:
                old.retired = True
                for slot in list(self._slots):  # _dispose removes from the list
                    if slot.revision is old:
                        slot.retired = True
                        if not slot.busy:
                            self._dispose(slot)
                self._forget_revision_if_done(old)
        log.info(
            "function %s:%s: configuration %s (environments recycle)",
            self.function_name,
            self.version,
            revision.key if revision else "deleted",
        )
        return True

    def _materialize(self, config: FunctionConfig) -> _Revision:
        self._revisions_made += 1
        label = "latest" if self.version == LATEST else self.version
        root = (
            self.work_dir / f"{self.function_name}-{label}-{self._revisions_made}-{config.revision}"
        )
        return _Revision(config, root)

    # -- invoke ----------------------------------------------------------------------

    def invoke(self, payload: bytes) -> InvokeOutcome:
        """Invoke once (the function's timeout bounds it); raises :class:`Throttled` when
        the function has no concurrency left."""
        slot, revision = self._acquire()
        if slot is None or revision is None:
            return InvokeOutcome(
                None,
                None,
                init_error=f"function {self.function_name}:{self.version} not found",
                missing=True,
            )
        try:
            return self._invoke_in(slot, revision, payload)
        finally:
            self._release(slot)

    def _invoke_in(self, slot: _Slot, revision: _Revision, payload: bytes) -> InvokeOutcome:
        dimensions = {"FunctionName": self.function_name}
        cold_start_ms = None
        if not slot.environment.started:
            try:
                # Outside the init timeout: the first Node.js environment may wait for the
                # client's one-time build (the runtime is not the function's init).
                slot.environment.runtime_command = self.runtimes.command(
                    revision.config.runtime, revision.config.handler
                )
            except RuntimeUnavailable as error:
                self._count(dimensions, errors=1)
                return InvokeOutcome(
                    slot.az_id,
                    None,
                    init_error=f"Runtime.Unavailable: {error}",
                    version=self.version,
                )
            try:
                cold_start_ms = slot.environment.start().init_ms
                self.cold_starts_ms.append(cold_start_ms)
                del self.cold_starts_ms[:-COLD_STARTS_KEPT]
            except InitError as error:
                self._count(dimensions, errors=1)
                return InvokeOutcome(slot.az_id, None, init_error=str(error), version=self.version)
        result = slot.environment.invoke(payload, timeout_s=revision.config.timeout_s)
        self._count(
            dimensions, errors=1 if result.function_error else 0, duration_ms=result.duration_ms
        )
        return InvokeOutcome(slot.az_id, result, cold_start_ms=cold_start_ms, version=self.version)

    def _count(
        self, dimensions: dict[str, str], *, errors: int, duration_ms: float | None = None
    ) -> None:
        if self.metrics is None:
            return
        self.metrics.add(LAMBDA_NAMESPACE, "Invocations", 1, dimensions)
        self.metrics.add(LAMBDA_NAMESPACE, "Errors", errors, dimensions)
        if duration_ms is not None:
            self.metrics.add(LAMBDA_NAMESPACE, "Duration", duration_ms, dimensions, "Milliseconds")

    def _acquire(self) -> tuple[_Slot | None, _Revision | None]:
        with self._lock:
            revision = self._revision
            if revision is None or self._closing.is_set():
                return None, None
            if not self.concurrency.try_acquire():
                if self.metrics is not None:
                    self.metrics.add(
                        LAMBDA_NAMESPACE, "Throttles", 1, {"FunctionName": self.function_name}
                    )
                raise Throttled(self.function_name)
            idle = [
                slot
                for slot in self._slots
                if slot.revision is revision and not slot.busy and not slot.retired
            ]
            if idle:
                warm = min(idle, key=lambda candidate: candidate.last_used)
                warm.busy = True
                return warm, revision
            cold = self._new_slot(revision)
            self._slots.append(cold)
            revision.live_slots += 1
            return cold, revision

    def _new_slot(self, revision: _Revision) -> _Slot:
        """A new (not yet started) environment in the least-populated current AZ."""
        subnets = list(revision.config.subnet_az_ids) or [("", "none")]
        population = {subnet: 0 for subnet, _ in subnets}
        for slot in self._slots:
            if slot.revision is revision and slot.subnet_id in population:
                population[slot.subnet_id] += 1
        fewest = min(population.values())
        candidates = [pair for pair in subnets if population[pair[0]] == fewest]
        subnet_id, az_id = candidates[revision.placed % len(candidates)]
        revision.placed += 1
        config = revision.config
        env = {
            **self.base_env,
            **config.environment,
            **self.reserved_env,
            AZ_ID_ENV_KEY: az_id,
            CHAOS_PORT_ENV_KEY: str(free_port()),
        }
        if subnet_id and self.egress is not None:
            env[ENDPOINT_ENV_KEY] = self.egress.endpoint_url(subnet_id)
        environment = ExecutionEnvironment(
            revision.code_dir,
            config.handler,
            env=env,
            timeout_s=config.timeout_s,
            layers=revision.layer_paths,
            function_name=config.name,
            memory_mb=config.memory_mb,
            region=self.region,
            account_id=self.account_id,
            init_timeout_s=INIT_TIMEOUT_S,
            version=self.version,
            runtime=config.runtime,
            # Lines go to the sink; keep only the recent ones in memory for long sandboxes.
            log_sink=self._on_log_line,
            max_log_lines=RECENT_LOG_LINES,
        )
        return _Slot(environment, revision, subnet_id, az_id)

    def _on_log_line(self, line: LogLine) -> None:
        if self.metrics is not None and parse_emf(line.text) is not None:
            self.metrics.record_emf(line.text)

    def _release(self, slot: _Slot) -> None:
        self.concurrency.release()
        with self._lock:
            slot.busy = False
            slot.last_used = time.monotonic()
            if slot.retired or self._closing.is_set():
                self._dispose(slot)

    # -- retirement --------------------------------------------------------------------

    def _dispose(self, slot: _Slot) -> None:
        """Shut an idle environment down in the background (caller holds the lock)."""
        if slot not in self._slots:
            return
        self._slots.remove(slot)
        closer = threading.Thread(
            target=self._close_slot,
            args=(slot,),
            name=f"sandbox-retire-{self.function_name}",
            daemon=True,
        )
        self._closers = [thread for thread in self._closers if thread.is_alive()]
        self._closers.append(closer)
        closer.start()

    def _close_slot(self, slot: _Slot) -> None:
        try:
            slot.environment.close()
        except Exception:  # noqa: BLE001 - a broken environment must not stop the pool
            log.warning("closing an environment of %s failed", self.function_name, exc_info=True)
        with self._lock:
            slot.revision.live_slots -= 1
            self._forget_revision_if_done(slot.revision)

    def _forget_revision_if_done(self, revision: _Revision) -> None:
        if revision.retired and revision.live_slots <= 0:
            shutil.rmtree(revision.root, ignore_errors=True)

    # -- introspection and shutdown -------------------------------------------------------

    def placements(self) -> list[Placement]:
        with self._lock:
            return [
                Placement(slot.az_id, slot.subnet_id, slot.revision.key, slot.busy, slot.retired)
                for slot in self._slots
            ]

    def status(self) -> dict[str, Any]:
        revision = self._revision
        subnets = [subnet for subnet, _ in revision.config.subnet_az_ids] if revision else []
        blackholed = self.egress.blackholed(subnets) if self.egress is not None else set()
        return {
            "function": self.function_name,
            "version": self.version,
            "revision": self.revision,
            "blackholed_subnets": sorted(blackholed),
            "reserved_concurrency": self.concurrency.reserved,
            "environments": [placement.__dict__ for placement in self.placements()],
            "cold_starts_ms": [round(ms, 1) for ms in self.cold_starts_ms[-COLD_STARTS_KEPT:]],
        }

    def close(self) -> None:
        """Shut down every environment (in-flight ones are cut) and remove the files."""
        self._closing.set()
        with self._lock:
            revision, self._revision = self._revision, None
            if revision is not None:
                revision.retired = True
            slots = list(self._slots)
            self._slots.clear()
            closers = list(self._closers)
        closers.extend(
            threading.Thread(
                target=_close_quietly, args=(slot.environment,), name="sandbox-close", daemon=True
            )
            for slot in slots
        )
        for thread in closers[len(closers) - len(slots) :]:
            thread.start()
        for thread in closers:
            thread.join(timeout=10)
        if revision is not None:
            shutil.rmtree(revision.root, ignore_errors=True)
        for slot in slots:
            shutil.rmtree(slot.revision.root, ignore_errors=True)


def _close_quietly(environment: ExecutionEnvironment) -> None:
    with contextlib.suppress(Exception):
        environment.close()
