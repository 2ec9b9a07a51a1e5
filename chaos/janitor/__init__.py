"""The janitor: a Lambda function in the target account that restores runs which expired.

Every run that changes something creates a one-time EventBridge Scheduler schedule at
``start + max_duration + expiry_margin`` (`schedule`) invoking the function
``gameday-janitor`` with the run's id and S3 journal. The janitor (`handler`) reads the
journal and, unless the run finished or is still alive, restores it exactly as
``gameday rollback`` does. ``gameday janitor deploy`` (`deploy`) installs it from a
reproducible zip of this project's restore code (`package`) with a least-privilege role
(`policy`). The run's side (`arming`) refuses a run that changes something without a
janitor, unless ``--no-janitor``.

This package's restore path runs in the Lambda Python runtime: the standard library and the
SDK its package vendors (boto3, botocore; no pydantic, no PyYAML); keep this module free of
imports. `dead_letters` is the CLI's reading of the janitor's dead-letter queue.
"""

FUNCTION_NAME = "gameday-janitor"
ROLE_NAME = "gameday-janitor"  # the function's execution role
SCHEDULER_ROLE_NAME = "gameday-janitor-scheduler"  # EventBridge Scheduler assumes it to invoke
HANDLER = "chaos.janitor.handler.handler"
RUNTIME = "python3.12"
#: Restores wait for capacity to come back (az-loss converge_timeout, 10 min by default):
#: the longest a Lambda invocation may run, "a maximum value of 900 seconds (15 minutes)"
#: (Configure Lambda function timeout, https://docs.aws.amazon.com/lambda/latest/dg/
#: configuration-timeout.html). The janitor's work per invocation stays below it: it starts a
#: restore only when the invocation's remaining time allows it, and schedules itself again
#: for the rest (chaos.janitor.handler).
TIMEOUT_S = 900
MEMORY_MB = 256
#: The longest an az-loss restore may wait for capacity (converge_timeout): with the
#: janitor's own work (reads, updates, journal writes, a follow-up schedule) it fits in one
#: invocation.
MAX_CONVERGE_TIMEOUT_S = 720.0
#: The janitor's environment: the role it passes to the schedules it creates, and the
#: journal location its role may read and write.
SCHEDULER_ROLE_ENV = "GAMEDAY_JANITOR_SCHEDULER_ROLE_ARN"
JOURNAL_ENV = "GAMEDAY_JANITOR_JOURNAL"
#: ...and the SQS queue where undeliverable (Scheduler) and failed (Lambda) invocations go:
#: `gameday status` reads it.
DEAD_LETTER_ENV = "GAMEDAY_JANITOR_DEAD_LETTER_ARN"
DEAD_LETTER_QUEUE = "gameday-janitor-dead-letters"
#: The janitor's own heartbeat setting (seconds without one before a run counts as dead);
#: never less than HEARTBEAT_FLOOR_S, whatever a journal or an event says.
HEARTBEAT_STALE_ENV = "GAMEDAY_JANITOR_HEARTBEAT_STALE_S"
HEARTBEAT_FLOOR_S = 60.0
#: `--no-janitor` for callers without the flag (the pytest plugin, CI environments).
NO_JANITOR_ENV = "GAMEDAY_NO_JANITOR"
