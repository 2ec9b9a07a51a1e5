"""Lambda's asynchronous invocation in the sandbox: the event queue, its retries, and the
on-failure destination.

As Lambda does it ("How Lambda handles errors and retries with asynchronous invocation",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):

* the event is accepted when the function exists (else ResourceNotFoundException, and the
  caller, e.g. EventBridge Scheduler, keeps it);
* "If the function returns an error, by default Lambda attempts to run it two more times,
  with a one-minute wait between the first two attempts, and two minutes between the
  second and third attempts. Function errors include errors returned by the function's
  code and errors returned by the function's runtime, such as timeouts" (the function's
  event invoke configuration may lower the retries and the event's maximum age);
* throttled events go back to the queue, "The retry interval increases exponentially from
  1 second after the first attempt to a maximum of 5 minutes", for up to the maximum
  event age (6 hours by default);
* an event whose retries are spent or that expired goes to the function's on-failure
  destination, as "an invocation record" with the request and the response ("Capturing
  records of Lambda asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/
  invocation-async-retain-records.html); without one it is discarded.

The waits are Lambda's, scaled only by the realism time scale (GAMEDAY_SANDBOX_TIME_SCALE):
a retry never comes sooner than AWS would send it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.clock import utc_now
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.pool import InvokeOutcome, NotReady, Throttled
from chaos.sandbox.realism import Realism

if TYPE_CHECKING:
    from chaos.aws import AwsClients

log = logging.getLogger(__name__)

#: Lambda's defaults for asynchronous invocation (see the module doc).
DEFAULT_RETRIES = 2
DEFAULT_MAX_EVENT_AGE_S = 6 * 3600.0
RETRY_WAITS_S = (60.0, 120.0)  # before the second and the third attempt
THROTTLE_FIRST_S = 1.0
THROTTLE_MAX_S = 300.0

#: Runs one invocation; raises Throttled when the function has no concurrency.
InvokeOnce = Callable[[LambdaTarget, bytes], InvokeOutcome]
#: The function's event invoke configuration (GetFunctionEventInvokeConfig), {} if none.
ReadConfig = Callable[[str], dict[str, Any]]
#: Sends a message body to an SQS queue ARN.
SendToQueue = Callable[[str, str, dict[str, str]], None]


@dataclass(frozen=True)
class AsyncSettings:
    retries: int = DEFAULT_RETRIES
    max_event_age_s: float = DEFAULT_MAX_EVENT_AGE_S
    on_failure: str | None = None  # destination ARN (an SQS queue here)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AsyncSettings:
        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        retries = config.get("MaximumRetryAttempts")
        age = config.get("MaximumEventAgeInSeconds")
        return cls(
            DEFAULT_RETRIES if retries is None else int(retries),
            DEFAULT_MAX_EVENT_AGE_S if age is None else float(age),
            str(destination) if destination else None,
        )


class AsyncLambda:
    """Lambda's asynchronous event queue for the sandbox's functions."""

    def __init__(
        self,
        invoke: InvokeOnce,
        read_config: ReadConfig,
        send: SendToQueue,
        realism: Realism,
        *,
        function_arn: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.invoke_once = invoke
        self.read_config = read_config
        self.send = send
        self.realism = realism
        self.function_arn = function_arn
        self.clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def accept(self, target: LambdaTarget, payload: bytes) -> None:
        """Queue the event and return (Lambda's 202): it runs in the background."""
        thread = threading.Thread(
            target=self.process,
            args=(target, payload),
            daemon=True,
            name=f"sandbox-async-{target.label}",
        )
        self._threads = [item for item in self._threads if item.is_alive()]
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def process(
        self, target: LambdaTarget, payload: bytes, wait: Callable[[float], bool] | None = None
    ) -> str:
        """Run the event until it succeeds, its retries are spent or it expires; returns
        what happened. `wait(seconds)` returns True when the sandbox stops."""
        wait = wait or self._stop.wait
        settings = AsyncSettings.from_config(self.read_config(target.function_name))
        received = self.clock()
        attempts, throttle_wait = 0, THROTTLE_FIRST_S
        outcome: InvokeOutcome | None = None
        while True:
            if self.clock() - received > settings.max_event_age_s:
                return self.discard(
                    target, payload, settings, "EventAgeExceeded", attempts, outcome
                )
            try:
                outcome = self.invoke_once(target, payload)
            except (Throttled, NotReady):  # refused before it ran: wait, as for a throttle
                if wait(self.realism.delay(throttle_wait)):
                    return "stopped"
                throttle_wait = min(THROTTLE_MAX_S, throttle_wait * 2)
                continue
            attempts += 1
            if failure_of(outcome) is None:
                return f"{target.label}: ok after {attempts} attempt(s)"
            if attempts > settings.retries:
                return self.discard(
                    target, payload, settings, "RetriesExhausted", attempts, outcome
                )
            delay = RETRY_WAITS_S[min(attempts - 1, len(RETRY_WAITS_S) - 1)]
            log.info(
                "%s: asynchronous attempt %d failed (%s); retry in %.0f s",
                target.label,
                attempts,
                failure_of(outcome),
                self.realism.delay(delay),
            )
            if wait(self.realism.delay(delay)):
                return "stopped"

    def discard(
        self,
        target: LambdaTarget,
        payload: bytes,
        settings: AsyncSettings,
        condition: str,
        attempts: int,
        outcome: InvokeOutcome | None,
    ) -> str:
        """The event leaves the queue: to the on-failure destination, else nowhere."""
        if settings.on_failure is None:
            log.warning(
                "%s: asynchronous event discarded (%s, no destination)", target.label, condition
            )
            return f"{target.label}: discarded ({condition})"
        record = invocation_record(
            self.function_arn(target.function_name), payload, condition, attempts, outcome
        )
        self.send(settings.on_failure, json.dumps(record), {})
        return f"{target.label}: {condition}, record sent to {settings.on_failure}"


def failure_of(outcome: InvokeOutcome) -> str | None:
    """Why an invocation failed (None: it succeeded)."""
    if outcome.result is None:
        return outcome.init_error or "no result"
    return outcome.result.function_error


def invocation_record(
    function_arn: str, payload: bytes, condition: str, attempts: int, outcome: InvokeOutcome | None
) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination (see the module doc)."""
    try:
        request: Any = json.loads(payload)
    except ValueError:
        request = payload.decode(errors="replace")
    response: Any = None
    if outcome is not None and outcome.result is not None:
        try:
            response = json.loads(outcome.result.payload)
        except ValueError:
            response = outcome.result.payload.decode(errors="replace")
    return {
        "version": "1.0",
        "timestamp": utc_now(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": (failure_of(outcome) if outcome is not None else None),
        },
        "responsePayload": response,
    }


def event_invoke_config_reader(clients: AwsClients) -> ReadConfig:
    """GetFunctionEventInvokeConfig through the sandbox's own Lambda API ({} when none)."""

    def read(function_name: str) -> dict[str, Any]:
        try:
            return dict(
                call_with_backoff(
                    lambda: clients.lambda_.get_function_event_invoke_config(
                        FunctionName=function_name
                    )
                )
            )
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return {}
            raise

    return read
