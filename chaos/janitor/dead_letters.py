"""The janitor's dead-letter queue, as `gameday status` shows it: invocations that never ran.

Two kinds of message land in the queue `gameday janitor deploy` creates:

* EventBridge Scheduler could not deliver a schedule's event (the function was missing, its
  role could not invoke it, Lambda throttled past the retry policy): the message body is
  the schedule's input (``{"run_id", "journal"}``), its attributes say why ("Configuring a
  schedule's dead-letter queue", https://docs.aws.amazon.com/scheduler/latest/UserGuide/
  configuring-schedule-dlq.html);
* Lambda ran the janitor and it failed every attempt (or the event expired): the message is
  an invocation record, the event under ``requestPayload`` ("Capturing records of Lambda
  asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/
  invocation-async-retain-records.html).

Reading never consumes: messages are received with a visibility timeout of 0, so they stay
for the next reader (and for a CloudWatch alarm on ApproximateNumberOfMessagesVisible).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chaos.aws.clients import error_code
from chaos.clock import iso_from_epoch
from chaos.janitor import DEAD_LETTER_QUEUE
from chaos.janitor.timer import dead_letter_arn
from chaos.policy import PolicyStatement

if TYPE_CHECKING:
    from chaos.aws import AwsClients

#: Receives of up to 10 messages each: a standard queue answers from a sample of its
#: servers, so one receive may show fewer than there are.
RECEIVES = 3


@dataclass(frozen=True)
class DroppedInvocation:
    """One janitor invocation that never ran, or ran and failed for good."""

    run_id: str | None
    why: str
    sent_at: str | None = None

    def describe(self) -> str:
        run = f"run {self.run_id}" if self.run_id else "an invocation without a run id"
        return f"{run}: {self.why}" + (f" (at {self.sent_at})" if self.sent_at else "")


@dataclass(frozen=True)
class DeadLetters:
    queue_url: str
    count: int  # ApproximateNumberOfMessages
    dropped: list[DroppedInvocation]


def read_permissions(region: str, account_id: str) -> list[PolicyStatement]:
    """What reading the queue calls (`read_dead_letters`), on the queue only ("Amazon SQS API
    permissions: Actions and resource reference", https://docs.aws.amazon.com/
    AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html)."""
    return [
        PolicyStatement(
            "StatusJanitorDeadLetters",
            ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
            (dead_letter_arn(region, account_id),),
        )
    ]


def read_dead_letters(clients: AwsClients) -> DeadLetters | None:
    """The janitor's dead letters in the clients' account and Region; None when there is no
    such queue (no janitor deployed there, or one deployed before it had one)."""
    sqs = clients.client("sqs")
    try:
        url = str(sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"])
    except ClientError as error:
        if error_code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
    count = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ].get("ApproximateNumberOfMessages", 0)
    )
    seen: dict[str, DroppedInvocation] = {}
    for _ in range(RECEIVES if count else 0):
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp"],
        )
        for message in answer.get("Messages", []):
            seen.setdefault(str(message["MessageId"]), dropped_invocation(message))
        if len(seen) >= count:
            break
    return DeadLetters(url, count, list(seen.values()))


def dead_letter_lines(clients: AwsClients) -> list[str]:
    """What `gameday status` prints about the queue (nothing when it is empty or absent)."""
    try:
        letters = read_dead_letters(clients)
    except (ClientError, BotoCoreError) as error:
        reason = error_code(error) if isinstance(error, ClientError) else type(error).__name__
        return [f"janitor dead-letter queue {DEAD_LETTER_QUEUE}: not readable ({reason})"]
    if letters is None or letters.count == 0:
        return []
    lines = [
        f"janitor dead-letter queue {DEAD_LETTER_QUEUE}: {letters.count} janitor "
        "invocation(s) dropped (they restored nothing; see docs/janitor.md)"
    ]
    lines += [f"  {item.describe()}" for item in letters.dropped]
    return lines


def dropped_invocation(message: dict[str, Any]) -> DroppedInvocation:
    """What one message says: which run, and why its janitor never finished."""
    attributes = {
        name: str(value.get("StringValue", ""))
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    sent = str((message.get("Attributes") or {}).get("SentTimestamp") or "")
    sent_at = iso_from_epoch(int(sent) / 1000) if sent.isdigit() else None
    try:
        body: Any = json.loads(message.get("Body") or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict):
        context, payload = body["requestContext"], body.get("requestPayload")
        response = body.get("responsePayload")
        reason = response.get("errorMessage") if isinstance(response, dict) else None
        return DroppedInvocation(
            run_of(payload),
            f"the janitor failed {context.get('approximateInvokeCount', '?')} time(s) "
            f"({context.get('condition', '?')}"
            + (f": {str(reason)[:200]}" if reason else "")
            + ")",
            sent_at,
        )
    why = (
        f"Scheduler could not invoke the janitor ({attributes.get('ERROR_CODE', '?')}, "
        f"{attributes.get('EXHAUSTED_RETRY_CONDITION', '?')} after "
        f"{attributes.get('RETRY_ATTEMPTS', '?')} retries)"
    )
    return DroppedInvocation(run_of(body), why, sent_at)


def run_of(payload: Any) -> str | None:
    run_id = payload.get("run_id") if isinstance(payload, dict) else None
    return str(run_id)[:100] if run_id else None
