"""Hooks on the toolkit's AWS calls: record the mutating ones, kill the "process" right
before or after one, answer a share of requests with AWS throttling / conflict errors.

Light on purpose (botocore and the toolkit, no moto): a subprocess imports it to die at a
real step (tests/integration/killed_rollback.py).

- :class:`AwsCallHooks`: botocore hooks on every client the toolkit creates (through
  ``AwsClients.client``): they record the mutating calls and a trace of the run (calls and
  journal writes, in order), kill the "process" right before or after one (:class:`Crash`: a
  BaseException, and every later call or journal write of the run dies too), and answer a
  share of requests with AWS throttling / conflict errors (:class:`Throttling`).
- :func:`crash_points`: before and after each mutating call of a clean run, one point per
  distinct state (a call's "after" and the next one's "before" are one state when nothing,
  not even a journal write, happens between them).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from unittest import mock

from botocore.awsrequest import AWSResponse, HTTPHeaders

from chaos.aws import AwsClients
from chaos.journal import model as journal_model


class Crash(BaseException):
    """The runner's process dies here (kill -9): a BaseException passes every `except
    Exception`, and nothing of the run talks to AWS or writes its journal afterwards."""


# -- hooks on the toolkit's AWS calls ----------------------------------------------------------

READ_PREFIXES = ("Describe", "Get", "List", "Head")
#: The journal's own writes are not a target's state: never a crash point.
NOT_TARGETS = frozenset({"s3", "sts"})


def is_mutating(service: str, operation: str) -> bool:
    return service not in NOT_TARGETS and not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class AwsCall:
    """One mutating call, named the same in every world: service, operation, resource."""

    service: str
    operation: str
    target: str

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}({self.target})"


Moment = Literal["before", "after"]


@dataclass(frozen=True)
class TraceEvent:
    """What a run did, in order: a mutating call begins or has answered, or the journal is
    written (`index`: the call's, -1 for a journal write)."""

    kind: Literal["before", "after", "journal"]
    index: int
    thread: int


@dataclass(frozen=True)
class CrashPoint:
    """Right before or right after the `occurrence`-th such call."""

    moment: Moment
    call: AwsCall
    occurrence: int = 1
    #: Where the call came in the clean run (0 = its first mutating call): not part of the
    #: point, which names the call, but where the caller splits a run into its parts.
    index: int = field(default=-1, compare=False)
    #: The next call's "before", when the process would be left exactly as here.
    same_as: CrashPoint | None = field(default=None, compare=False)

    def __str__(self) -> str:
        suffix = f"#{self.occurrence}" if self.occurrence > 1 else ""
        same = f"={self.same_as}" if self.same_as is not None else ""
        return f"{self.moment}-{self.call}{suffix}{same}"

    def matches(self, moment: Moment, call: AwsCall, occurrence: int, index: int) -> bool:
        return (moment, call, occurrence) == (self.moment, self.call, self.occurrence)


@dataclass(frozen=True)
class CrashAtIndex:
    """Right before or right after the `index`-th mutating call of the run (0 = the first)."""

    moment: Moment
    index: int

    def matches(self, moment: Moment, call: AwsCall, occurrence: int, index: int) -> bool:
        return (moment, index) == (self.moment, self.index)


def crash_points(
    calls: Sequence[AwsCall], trace: Sequence[TraceEvent] | None = None
) -> list[CrashPoint]:
    """Before and after each call of a clean run, in its order.

    With the run's `trace`, one point per distinct state: when nothing happened between a
    call's "after" and the next call's "before" (no journal write, no other call, the same
    thread), a crash at either leaves the same AWS and the same journal, and the "after"
    stands for both (`same_as`).
    """
    seen: Counter[AwsCall] = Counter()
    points: list[CrashPoint] = []
    for index, call in enumerate(calls):
        seen[call] += 1
        points += [
            CrashPoint("before", call, seen[call], index),
            CrashPoint("after", call, seen[call], index),
        ]
    if trace is None:
        return points
    # i: the "after" of call i and the "before" of call i + 1 are one state.
    one_state = {
        first.index
        for first, then in zip(trace, trace[1:], strict=False)
        if (first.kind, then.kind) == ("after", "before")
        and then.index == first.index + 1
        and then.thread == first.thread
    }
    merged: list[CrashPoint] = []
    for point in points:
        if point.moment == "before" and point.index - 1 in one_state:
            merged[-1] = replace(merged[-1], same_as=point)
        else:
            merged.append(point)
    return merged


#: AWS's answers to a caller going too fast, per service: (code, HTTP status); Lambda's
#: function updates also meet an update in progress.
THROTTLING = {
    "lambda": ("TooManyRequestsException", 429),
    "ecs": ("ThrottlingException", 400),
    "scheduler": ("ThrottlingException", 400),
    "ec2": ("RequestLimitExceeded", 503),
    "autoscaling": ("Throttling", 400),
    "elbv2": ("Throttling", 400),
    "s3": ("SlowDown", 503),
}
CONFLICT = ("ResourceConflictException", 409)
LAMBDA_FUNCTION_UPDATES = frozenset(
    {
        "UpdateFunctionConfiguration",
        "PublishVersion",
        "UpdateAlias",
        "TagResource",
        "UntagResource",
        "DeleteFunction",
    }
)


@dataclass
class Throttling:
    """Answer a share of requests with a throttling (or, for Lambda function updates,
    conflict) error, at most `max_in_a_row` times in a row per thread so that backoff always
    gets through; decisions come from a seeded generator (reproducible)."""

    share: float
    seed: int
    max_in_a_row: int = 2
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._in_a_row = threading.local()
        self._lock = threading.Lock()

    def error_for(self, service: str, operation: str) -> tuple[str, int] | None:
        if service not in THROTTLING:
            return None
        streak = getattr(self._in_a_row, "count", 0)
        with self._lock:
            draw, pick = self._random.random(), self._random.random()
        if streak >= self.max_in_a_row or draw >= self.share:
            self._in_a_row.count = 0
            return None
        self._in_a_row.count = streak + 1
        conflict = service == "lambda" and operation in LAMBDA_FUNCTION_UPDATES and pick < 0.5
        code, status = CONFLICT if conflict else THROTTLING[service]
        with self._lock:
            self.injected[code] += 1
        return code, status


def error_response(protocol: str, url: str, code: str, status: int) -> AWSResponse:
    """An AWS error answer in the service's protocol, as botocore parses it."""
    message = (
        "Rate exceeded"
        if code != CONFLICT[0]
        else ("The operation cannot be performed at this time. An update is in progress")
    )
    headers = {"x-amzn-RequestId": "throttled", "x-amzn-ErrorType": code}
    if protocol in ("json", "rest-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>throttled</RequestID></Response>"
        ).encode()
    elif protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    else:  # query
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>"
            f"{message}</Message></Error><RequestId>throttled</RequestId></ErrorResponse>"
        ).encode()
    return AWSResponse(url, status, HTTPHeaders.from_dict(headers), _RawBody(body))


class _RawBody:
    """What AWSResponse reads its content from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


_CALL_KEY = "crash_support_call"
#: A URL no moto handler matches: an injected error must not reach the backend as well.
_NOWHERE = "http://throttled.invalid/"


class AwsCallHooks:
    """Hooks on every client `AwsClients` creates while installed (one per process).

    `on_crash` runs where the process dies, before `Crash` is raised: a subprocess passes a
    SIGKILL of itself there, for a death with no exception at all.
    """

    def __init__(
        self, label: Callable[[str], str] = str, on_crash: Callable[[], None] | None = None
    ) -> None:
        self.label = label  # resource ID / ARN -> a name that is the same in every world
        self.on_crash = on_crash
        self.active = False
        self.dead = False
        self.crash: CrashPoint | CrashAtIndex | None = None
        self.crashed_at: str | None = None
        self.throttling: Throttling | None = None
        self.calls: list[AwsCall] = []
        self.trace: list[TraceEvent] = []
        self._seen: Counter[AwsCall] = Counter()
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[AwsCallHooks]:
        original = AwsClients.client
        hooks = self

        def client(clients: AwsClients, service: str) -> Any:
            created = original(clients, service)
            if not getattr(created, "_crash_support_hooked", False):
                events = created.meta.events
                events.register("before-parameter-build", hooks.before_call)
                events.register("after-call", hooks.after_call)
                events.register_first(
                    "before-send",
                    functools.partial(
                        hooks.before_send,
                        protocol=created.meta.service_model.protocol,
                        service=created.meta.service_model.service_name,
                    ),
                )
                created._crash_support_hooked = True
            return created

        original_write = journal_model.write_atomically

        def write_journal(path: Path, text: str, **kwargs: Any) -> None:
            # A dead process writes no file either (the journal's local mirror included).
            if hooks.active:
                if hooks.dead:
                    raise Crash("the process is already dead")
                hooks._traced("journal", -1)
            original_write(path, text, **kwargs)

        with (
            mock.patch.object(AwsClients, "client", client),
            mock.patch.object(journal_model, "write_atomically", write_journal),
        ):
            yield self

    @contextlib.contextmanager
    def run(
        self, crash: CrashPoint | CrashAtIndex | None = None, throttling: Throttling | None = None
    ) -> Iterator[AwsCallHooks]:
        """Hooks armed for one run: calls recorded from zero, the crash (if any) armed."""
        with self._lock:
            self.active, self.dead, self.crash, self.crashed_at = True, False, crash, None
            self.throttling, self.calls, self._seen = throttling, [], Counter()
            self.trace = []
        try:
            yield self
        finally:
            self.active, self.crash = False, None

    # -- handlers ----------------------------------------------------------------------

    def before_call(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.active:
            return
        if self.dead:
            raise Crash("the process is already dead")
        service, operation = model.service_model.service_name, model.name
        if not is_mutating(service, operation):
            return
        call = AwsCall(service, operation, self.label(call_target(service, operation, params)))
        with self._lock:
            index = len(self.calls)
            self.calls.append(call)
            self._seen[call] += 1
            occurrence = self._seen[call]
            self.trace.append(TraceEvent("before", index, threading.get_ident()))
        context[_CALL_KEY] = (call, occurrence, index)
        self._maybe_crash("before", call, occurrence, index)

    def after_call(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        if self.dead:
            raise Crash("the process is already dead")
        found = context.get(_CALL_KEY)
        if found is None or http_response.status_code >= 300:
            return  # a read, or a call that changed nothing
        self._traced("after", found[2])
        self._maybe_crash("after", *found)

    def _traced(self, kind: Literal["before", "after", "journal"], index: int) -> None:
        with self._lock:
            self.trace.append(TraceEvent(kind, index, threading.get_ident()))

    def _maybe_crash(self, moment: Moment, call: AwsCall, occurrence: int, index: int) -> None:
        crash = self.crash
        if crash is not None and crash.matches(moment, call, occurrence, index):
            with self._lock:
                self.dead, self.crashed_at = True, f"{moment} {call} (call {index})"
            if self.on_crash is not None:
                self.on_crash()
            raise Crash(f"{moment} {call}")

    def before_send(
        self, request: Any, protocol: str, service: str, event_name: str, **_: Any
    ) -> AWSResponse | None:
        throttling = self.throttling
        if not self.active or throttling is None:
            return None
        error = throttling.error_for(service, event_name.rsplit(".", 1)[-1])
        if error is None:
            return None
        url = request.url
        request.url = _NOWHERE  # moto's in-process handler leaves it to us
        return error_response(protocol, url, *error)


def call_target(service: str, operation: str, params: Mapping[str, Any]) -> str:
    """The resource a mutating call is about (an ID / ARN, named later by the world)."""
    if service == "scheduler":
        return "janitor-schedule"  # its name carries the run id
    if service == "lambda":
        function = str(
            params.get("FunctionName") or params.get("Resource") or params.get("LayerName") or ""
        )
        function = function.split(":")[6] if function.startswith("arn:") else function
        return f"{function}:{params['Name']}" if operation == "UpdateAlias" else function
    if service == "ecs":
        if "service" in params:
            return f"{params.get('cluster')}/{params['service']}"
        return str(params.get("resourceArn", ""))
    if service == "autoscaling":
        if "AutoScalingGroupName" in params:
            return str(params["AutoScalingGroupName"])
        return str((params.get("Tags") or [{}])[0].get("ResourceId", ""))
    if service == "elbv2":
        return str(params.get("LoadBalancerArn") or (params.get("ResourceArns") or [""])[0])
    for name in ("AssociationId", "VpcId", "NetworkAclId", "AllocationId"):
        if name in params:
            return str(params[name])
    return str((params.get("Resources") or ["?"])[0])
