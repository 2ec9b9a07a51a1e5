"""Lambda's control plane as AWS behaves, on top of moto (patched in the sandbox process only).

moto answers every Lambda update at once, hands out no RevisionId, lets a published
version be updated and reuses version numbers. AWS does none of that, and the toolkit's
verdicts depend on it. Always (AWS always does it):

* **4 KB environment**: CreateFunction / UpdateFunctionConfiguration refuse variables
  whose JSON (``{"KEY":"value",...}``, UTF-8) exceeds 4096 bytes, with Lambda's
  InvalidParameterValueException ("Lambda: InvalidParameterValueException or
  RequestEntityTooLargeException", https://docs.aws.amazon.com/lambda/latest/dg/
  troubleshooting-deployment.html).
* **Timeout**: at most 900 s, "a maximum value of 900 seconds (15 minutes)" (Configure
  Lambda function timeout, https://docs.aws.amazon.com/lambda/latest/dg/
  configuration-timeout.html); a larger one is refused with a ValidationException, as the
  API's constraint check answers (the wording is the sandbox's rendering of it).
* **Immutable versions**: "A published version is a snapshot of your function code and
  configuration that can't be changed" (https://docs.aws.amazon.com/lambda/latest/api/
  API_CreateFunction.html): updates of a qualified function are refused; version numbers
  are never reused after a DeleteFunction of a version.
* **RevisionId**: every function and version carries one; it changes with every update;
  an update or PublishVersion given a RevisionId that is not the latest fails with
  PreconditionFailedException (412, https://docs.aws.amazon.com/lambda/latest/api/
  API_UpdateFunctionConfiguration.html#API_UpdateFunctionConfiguration_Errors). Aliases
  too: moto keeps an alias's RevisionId forever and ignores UpdateAlias's; here it changes
  with every UpdateAlias and a stale one is refused (API_UpdateAlias.html, "Only update
  the alias if the revision ID matches the ID that's specified").

With ``--realism aws`` (:class:`LambdaUpdates`): an UpdateFunctionConfiguration or
UpdateFunctionCode leaves ``LastUpdateStatus: InProgress`` for 2-5 s (scaled by
``Realism.delay``); meanwhile "invocations go to the function's previous code and
configuration" and UpdateFunctionCode, UpdateFunctionConfiguration and PublishVersion "fail
while an asynchronous update is in progress" (https://docs.aws.amazon.com/lambda/latest/dg/
functions-states.html), with ResourceConflictException (409). A newly published version is
``State: Pending`` for 2-5 s (:class:`VersionActivations`), then ``Active``: "Functions can
only be successfully invoked while active" (same page), which botocore's
``published_version_active`` waiter waits for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.sandbox.functions.configuration import FunctionConfig
from chaos.sandbox.realism import Realism

log = logging.getLogger(__name__)

# "The maximum size of the variables object that is stored in the function's configuration
# must not exceed 4096 bytes" (troubleshooting-deployment.html, see the module doc).
ENVIRONMENT_LIMIT_BYTES = 4096
MAX_TIMEOUT_S = 900
# PRODUCT.md "Sandbox realism": configuration updates stay InProgress 2-5 s.
UPDATE_SECONDS = (2.0, 5.0)
# What GetFunctionConfiguration shows while an update runs; Lambda reports the reason of
# an update in progress as the function "being created" (observed responses; the API
# reference lists the fields, FunctionConfiguration.LastUpdateStatusReason[Code]).
IN_PROGRESS_FIELDS = {
    "LastUpdateStatus": "InProgress",
    "LastUpdateStatusReason": "The function is being created.",
    "LastUpdateStatusReasonCode": "Creating",
}
LATEST = "$LATEST"
# AWS documents no duration for a new version's Pending state (a function "stuck in the
# Pending state for more than six minutes" is one to unblock, https://docs.aws.amazon.com/
# lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-invocation-pending): the
# sandbox takes the 2-5 s of an update, which also creates the function's resources anew.
VERSION_PENDING_SECONDS = UPDATE_SECONDS
# What a Pending version shows (FunctionConfiguration, https://docs.aws.amazon.com/lambda/
# latest/api/API_FunctionConfiguration.html): StateReasonCode Creating ("When the code is
# Creating, you can't invoke or modify the function") and LastUpdateStatus InProgress, as it
# "is first set to Successful after function creation completes".
PENDING_FIELDS = {
    "State": "Pending",
    "StateReason": "The function is being created.",
    "StateReasonCode": "Creating",
    **IN_PROGRESS_FIELDS,
}


def environment_size_error(variables: Mapping[str, Any] | None) -> str | None:
    """Lambda's message when the variables exceed 4 KB; None when they fit."""
    measured = json.dumps(dict(variables or {}), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode("utf-8")) <= ENVIRONMENT_LIMIT_BYTES:
        return None
    return (
        "Lambda was unable to configure your environment variables because the "
        "environment variables you have provided exceeded the 4KB limit. String "
        f"measured: {measured}"
    )


def update_in_progress_message(function_arn: str) -> str:
    return (
        "The operation cannot be performed at this time. An update is in progress for "
        f"resource: {function_arn}"
    )


REVISION_MISMATCH_MESSAGE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest "
    "Revision Id"
)


def unqualified(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else function_arn


def qualifier_of(function_arn: str) -> str | None:
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 else None


@dataclass
class _Update:
    previous: FunctionConfig | None
    done_at: float
    applied: bool = False


class LambdaUpdates:
    """The updates in progress of ``$LATEST`` per function (realism ``aws``)."""

    def __init__(
        self,
        realism: Realism,
        snapshot: Callable[[str], FunctionConfig | None],
        on_applied: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.realism = realism
        self.snapshot = snapshot
        self.on_applied = on_applied
        self.clock = clock
        self._random = realism.random("lambda-updates")
        self._lock = threading.Lock()
        self._updates: dict[str, _Update] = {}

    def in_progress(self, function_name: str) -> bool:
        with self._lock:
            return function_name in self._updates

    def previous_config(self, function_name: str) -> FunctionConfig | None:
        """What invocations run until the update is applied (None: nothing pending)."""
        with self._lock:
            update = self._updates.get(function_name)
            return update.previous if update is not None and not update.applied else None

    def before_update(self, function_name: str) -> FunctionConfig | None:
        """The configuration invocations keep during the update about to be made."""
        return self.snapshot(function_name)

    def started(self, function_name: str, previous: FunctionConfig | None) -> float:
        """The update was accepted: InProgress from now for 2-5 s; returns the duration."""
        duration = self.realism.delay(self._random.uniform(*UPDATE_SECONDS))
        with self._lock:
            self._updates[function_name] = _Update(previous, self.clock() + duration)
        timer = threading.Timer(duration, self.complete, args=(function_name,))
        timer.daemon = True
        timer.start()
        return duration

    def complete(self, function_name: str) -> None:
        """The new configuration applies: the data plane switches before the status does."""
        with self._lock:
            update = self._updates.get(function_name)
            if update is None:
                return
            update.applied = True
        try:
            if self.on_applied is not None:
                self.on_applied(function_name)
        except Exception:  # noqa: BLE001 - the status must not stay InProgress forever
            log.warning("applying the update of %s failed", function_name, exc_info=True)
        finally:
            with self._lock:
                self._updates.pop(function_name, None)


class VersionActivations:
    """Newly published versions, Pending for 2-5 s before Active (realism ``aws``).

    The state is moto's own (its ``state`` attribute, which it reports as ``State``).
    """

    def __init__(self, realism: Realism) -> None:
        self.realism = realism
        self._random = realism.random("lambda-versions")

    def published(self, version: Any) -> float:
        """moto's new ``version`` is Pending from now; returns the seconds until Active."""
        duration = self.realism.delay(self._random.uniform(*VERSION_PENDING_SECONDS))
        version.state = "Pending"
        timer = threading.Timer(duration, _activate, args=(version,))
        timer.daemon = True
        timer.start()
        return duration


def _activate(version: Any) -> None:
    version.state = "Active"


class RevisionIds:
    """A RevisionId per function and version ARN (moto keeps none)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}

    def current(self, function_arn: str) -> str:
        key = _revision_key(function_arn)
        with self._lock:
            return self._ids.setdefault(key, str(uuid.uuid4()))

    def renew(self, function_arn: str) -> str:
        key = _revision_key(function_arn)
        with self._lock:
            self._ids[key] = revision = str(uuid.uuid4())
            return revision

    def matches(self, function_arn: str, given: str | None) -> bool:
        return not given or given == self.current(function_arn)


def _revision_key(function_arn: str) -> str:
    return unqualified(function_arn) if qualifier_of(function_arn) == LATEST else function_arn


class LambdaHooks:
    """What the patched moto methods do around moto's own behaviour (see the module doc)."""

    def __init__(self, updates: LambdaUpdates | None = None) -> None:
        self.updates = updates
        # Versions take time to become Active in the realism where updates do.
        self.versions = None if updates is None else VersionActivations(updates.realism)
        self.revisions = RevisionIds()
        self._lock = threading.RLock()  # one Lambda update at a time (PublishVersion nests)
        self._highest_version: dict[str, int] = {}

    def update(self, function: Any, body: Mapping[str, Any], apply: Callable[[], Any]) -> Any:
        """moto's update of ``function`` (``$LATEST``) as Lambda does it; raises its errors."""
        _refuse_published_version(function)
        if "Environment" in body:
            _check_environment((body.get("Environment") or {}).get("Variables"))
        _check_timeout(body.get("Timeout"))
        name = str(function.function_name)
        with self._lock:
            self._check_revision(function, body.get("RevisionId"))
            previous = None
            if self.updates is not None:
                self._refuse_while_updating(function)
                previous = self.updates.before_update(name)
            result = apply()
            self.revisions.renew(str(function.function_arn))
            if self.updates is not None:
                self.updates.started(name, previous)
        if isinstance(result, dict):
            self.decorate(result)  # moto built the response before the update started
        return result

    def creating(self, spec: Mapping[str, Any]) -> None:
        _check_environment((spec.get("Environment") or {}).get("Variables"))
        _check_timeout(spec.get("Timeout"))

    @contextlib.contextmanager
    def publishing(self, function: Any, revision_id: str | None) -> Iterator[None]:
        with self._lock:
            self._check_revision(function, revision_id)
            if self.updates is not None:
                self._refuse_while_updating(function)
            yield

    def published(self, version: Any) -> None:
        """moto created ``version`` (a PublishVersion that published one)."""
        if self.versions is not None:
            self.versions.published(version)

    def highest_version(self, function_name: str) -> int:
        with self._lock:
            return self._highest_version.get(function_name, 0)

    def next_version(self, function_name: str, existing: list[int]) -> int:
        """Never a number used before, even by a deleted version."""
        with self._lock:
            number = max([self._highest_version.get(function_name, 0), *existing]) + 1
            self._highest_version[function_name] = number
            return number

    def decorate(self, config: dict[str, Any]) -> None:
        """Add what a FunctionConfiguration shows on AWS and moto leaves out."""
        arn = str(config.get("FunctionArn") or "")
        if not arn:
            return
        config["RevisionId"] = self.revisions.current(arn)
        if config.get("State") == "Pending":
            config.update(PENDING_FIELDS)
        is_latest = qualifier_of(arn) in (None, LATEST)
        if (
            is_latest
            and self.updates is not None
            and self.updates.in_progress(str(config.get("FunctionName")))
        ):
            config.update(IN_PROGRESS_FIELDS)

    def _check_revision(self, function: Any, given: str | None) -> None:
        if not self.revisions.matches(str(function.function_arn), given):
            raise lambda_error(412, "PreconditionFailedException", REVISION_MISMATCH_MESSAGE)

    def _refuse_while_updating(self, function: Any) -> None:
        assert self.updates is not None
        if self.updates.in_progress(str(function.function_name)):
            raise lambda_error(
                409,
                "ResourceConflictException",
                update_in_progress_message(unqualified(str(function.function_arn))),
            )


def _refuse_published_version(function: Any) -> None:
    qualifier = qualifier_of(str(function.function_arn))
    if qualifier not in (None, LATEST):
        # The published version's configuration is locked (API_UpdateFunctionCode: "You
        # can't modify the code of a published version, only the unpublished version");
        # the wording of Lambda's refusal is the sandbox's.
        raise lambda_error(
            400,
            "InvalidParameterValueException",
            f"Version {qualifier} of {function.function_name} is a published "
            "version and cannot be modified; update $LATEST and publish "
            "a new version",
        )


def _check_environment(variables: Mapping[str, Any] | None) -> None:
    message = environment_size_error(variables)
    if message is not None:
        raise lambda_error(400, "InvalidParameterValueException", message)


def _check_timeout(timeout: Any) -> None:
    if isinstance(timeout, (int, float)) and timeout > MAX_TIMEOUT_S:
        raise lambda_error(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{timeout}' at 'timeout' "
            "failed to satisfy constraint: Member must have value less than "
            f"or equal to {MAX_TIMEOUT_S}",
        )


def lambda_error(status: int, error_type: str, message: str) -> Exception:
    """A moto Lambda error that its server renders as Lambda does (status, type, message)."""
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError(error_type, message)
    error.code = status
    return error


# -- patching moto -----------------------------------------------------------------------


def install(hooks: LambdaHooks) -> None:
    """Patch moto's Lambda backend in this process to go through ``hooks``."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage

    _patch_updates(LambdaBackend, hooks)
    _patch_create(LambdaBackend, hooks)
    _patch_publish(LambdaStorage, hooks)
    _patch_configuration(LambdaFunction, hooks)
    _patch_alias_updates()


def _patch_updates(backend_class: Any, hooks: LambdaHooks) -> None:
    for method_name in ("update_function_configuration", "update_function_code"):
        original = getattr(backend_class, method_name)

        def update(
            self: Any,
            function_name: str,
            qualifier: str | None,
            body: dict[str, Any],
            _original: Any = original,
        ) -> Any:
            function = self.get_function(function_name, qualifier)
            return hooks.update(
                function, body, lambda: _original(self, function_name, qualifier, body)
            )

        setattr(backend_class, method_name, update)


def _patch_create(backend_class: Any, hooks: LambdaHooks) -> None:
    original = backend_class.create_function

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        hooks.creating(spec)
        return original(self, spec)

    backend_class.create_function = create_function


def _patch_publish(storage_class: Any, hooks: LambdaHooks) -> None:
    """moto's PublishVersion numbers a version len(versions) + 1 (a deleted number comes
    back, twice); AWS never reuses one. Otherwise as moto: an unchanged function publishes
    nothing and answers with its latest version."""
    import copy

    def publish_version(
        self: Any, name_or_arn: str, description: str = "", revision_id: str | None = None
    ) -> Any:
        function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        name = function.function_name
        versions = self._functions[name]["versions"]
        with hooks.publishing(function, revision_id):
            existing = [int(version.version) for version in versions]
            unchanged = not function.code_or_config_updated
            if versions and unchanged and int(versions[-1].version) >= hooks.highest_version(name):
                return versions[-1]
            function.code_or_config_updated = False
            published = copy.copy(function)
            published.set_version(hooks.next_version(name, existing))
            if description:
                published.description = description
            versions.append(published)
            self._arns[published.function_arn] = published
            hooks.published(published)
        return published

    storage_class.publish_version = publish_version
    _pass_publish_revision_id()


def _pass_publish_revision_id() -> None:
    """moto's PublishVersion handler drops the request's RevisionId: hand it on."""
    from urllib.parse import unquote

    from moto.awslambda.responses import LambdaResponse

    def publish_version(self: Any) -> Any:
        function_name = unquote(self.path.split("/")[-2])
        body = json.loads(self.body or "{}")
        function = self.backend._lambdas.publish_version(
            function_name, body.get("Description") or "", body.get("RevisionId")
        )
        return 201, {"status": 201}, json.dumps(function.get_configuration())

    LambdaResponse.publish_version = publish_version  # type: ignore[method-assign]


def _patch_configuration(function_class: Any, hooks: LambdaHooks) -> None:
    original = function_class.get_configuration

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = original(self, on_create)
        hooks.decorate(config)
        return config

    function_class.get_configuration = get_configuration


def _patch_alias_updates() -> None:
    from urllib.parse import unquote

    from moto.awslambda.models import LambdaAlias
    from moto.awslambda.responses import LambdaResponse

    original_update = LambdaAlias.update
    original_handler = LambdaResponse.update_alias

    def update(
        self: Any, description: str | None, function_version: str | None, routing_config: str | None
    ) -> None:
        original_update(self, description, function_version, routing_config)
        self.revision_id = str(uuid.uuid4())

    def update_alias(self: Any) -> Any:
        given = json.loads(self.body or "{}").get("RevisionId")
        if given:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            if self.backend.get_alias(alias_name, function_name).revision_id != given:
                raise lambda_error(412, "PreconditionFailedException", REVISION_MISMATCH_MESSAGE)
        return original_handler(self)

    LambdaAlias.update = update  # type: ignore[method-assign]
    LambdaResponse.update_alias = update_alias  # type: ignore[method-assign]
