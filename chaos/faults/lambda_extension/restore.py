"""Restore of a `lambda-extension` fault from its journal entry alone: the janitor runs it
(chaos.janitor.package), so this module imports no pydantic and no YAML.

Each restore reads the function first and writes nothing unless it carries the run's lock
(`unlocked`), its environment could be read whole, and every value to write back is
confirmed by the account: our layer by its name and CodeSha256 as Lambda reports them
(never the ARN the journal names), our keys by their values (the wrapper path; a config
of this run), the alias's original version by the fault version's code.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.aws.clients import error_code
from chaos.faults.base import LockedResource, NothingWritten, RestoreOutcome, unlocked
from chaos.faults.lambda_extension.layer_versions import is_own_layer_of, own_layer_code_sha256
from chaos.journal import JournalEntry

if TYPE_CHECKING:
    from chaos.aws import AwsClients

ACTION_ATTACH = "attach"
ACTION_PUBLISH = "publish-version"
ACTION_ALIAS = "point-alias"


def fault_version_description(run_id: str) -> str:
    """The published fault version's description: how a restore finds it after a crash."""
    return f"gameday fault version of run {run_id}"


def restore_entry(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Undo the step `entry` recorded (the $LATEST change, the fault version, the alias)."""
    action = entry.intended.get("action", ACTION_ATTACH)
    try:
        if action == ACTION_ALIAS:
            return restore_alias(entry, clients, run_id)
        if action == ACTION_PUBLISH:
            return delete_fault_version(entry, clients, run_id)
        return restore_latest(entry, clients, run_id)
    except NothingWritten as stopped:
        return stopped.outcome


def locked_resources(entry: JournalEntry) -> list[LockedResource]:
    """Every step (the $LATEST change, the fault version, the alias) is made under the
    function's lock: Lambda tags a function, never its versions or aliases."""
    return [LockedResource("lambda", entry.target_arn)]


def function_name_of(arn: str) -> str:
    return arn.split(":")[6] if arn.startswith("arn:") else arn


#: The environment keys the fault sets: the only ones whose original values are journaled.
OUR_KEYS = (extension_config.EXEC_WRAPPER_ENV_KEY, extension_config.CONFIG_ENV_KEY)


def snapshot(config: dict[str, Any]) -> dict[str, Any]:
    """What restore needs of the function, and no secret it does not need.

    The journal keeps the original values of the keys the fault overwrites only; every
    other variable (a database password, an API key) is kept as a salted digest, enough
    to tell whether someone changed it during the run.
    """
    environment = functions.environment_of(config)
    salt = secrets.token_hex(16)
    return {
        "layers": functions.layer_arns_of(config),
        "environment_overwritten": {
            key: environment[key] for key in OUR_KEYS if key in environment
        },
        "environment_digests": {
            key: env_digest(salt, key, value)
            for key, value in environment.items()
            if key not in OUR_KEYS
        },
        "digest_salt": salt,
        "revision_id": config.get("RevisionId"),
    }


def env_digest(salt: str, key: str, value: str) -> str:
    return hashlib.sha256(f"{salt}\0{key}\0{value}".encode()).hexdigest()


def others_changed(
    original: dict[str, Any], environment: dict[str, str], ours: set[str]
) -> list[str]:
    """The variables (not ours) that differ from the run's start."""
    if "environment" in original:  # a journal written before digests: full values
        before: dict[str, str] = original["environment"]
        return sorted(
            key
            for key in set(environment) | set(before)
            if key not in ours and environment.get(key) != before.get(key)
        )
    digests: dict[str, str] = original["environment_digests"]
    salt = str(original["digest_salt"])
    now = {
        key: env_digest(salt, key, value) for key, value in environment.items() if key not in ours
    }
    return sorted(key for key in set(now) | set(digests) if now.get(key) != digests.get(key))


def alias_snapshot(alias: dict[str, Any]) -> dict[str, Any]:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {
        "function_version": str(alias["FunctionVersion"]),
        "weights": {str(version): float(weight) for version, weight in weights.items()},
    }


def locked_function(
    entry: JournalEntry, clients: AwsClients, run_id: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """$LATEST's configuration and the function's tags, when it carries the run's lock
    (tags are the function's, shared by its versions and aliases: "Tags apply at the
    function level, not to versions or aliases", https://docs.aws.amazon.com/lambda/latest/
    dg/configuration-tags.html); NothingWritten otherwise."""
    try:
        current, tags = functions.get_with_tags(clients, entry.target_arn)
    except functions.FunctionNotFound:
        raise NothingWritten("drifted", "function was deleted during the run") from None
    refusal = unlocked(f"function {function_name_of(entry.target_arn)}", tags, run_id)
    if refusal is not None:
        raise NothingWritten(refusal.status, refusal.detail)
    return current, tags


def restore_latest(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    try:
        current, _ = locked_function(entry, clients, run_id)
    except NothingWritten as stopped:
        if stopped.outcome.status == "refused" and carries_run_config(entry, clients, run_id):
            # Refused all the same (whoever can write the function can also write this
            # config); the detail says what a human may want to look at.
            return RestoreOutcome(
                "refused",
                f"{stopped.outcome.detail} (it carries a fault "
                "config of this run: was its lock removed? the config "
                "expires by itself)",
            )
        return stopped.outcome
    environment_now = readable_environment(current, run_id)
    layers, environment, drift = restored_state(
        entry, current, our_layer_versions(clients, entry, current), run_id
    )
    if layers != functions.layer_arns_of(current) or environment != environment_now:
        functions.update_configuration(
            clients,
            entry.target_arn,
            # An image function takes no layers (its extension is baked in).
            layers=None if current.get("PackageType") == "Image" else layers,
            environment=environment,
            revision_id=current.get("RevisionId"),
        )
    return RestoreOutcome("drifted" if drift else "restored", "; ".join(drift))


def carries_run_config(entry: JournalEntry, clients: AwsClients, run_id: str) -> bool:
    """Whether an unlocked function still carries this run's config (its lock was removed)."""
    try:
        current = functions.get_configuration(clients, entry.target_arn)
    except functions.FunctionNotFound:
        return False
    if functions.environment_error(current):
        return False
    value = functions.environment_of(current).get(extension_config.CONFIG_ENV_KEY)
    return config_run_id(value) == run_id


def readable_environment(config: dict[str, Any], run_id: str) -> dict[str, str]:
    """The function's variables; NothingWritten (failed) when Lambda could not decrypt them:
    every variable is re-sent with an update, and {} would delete them all."""
    error = functions.environment_error(config)
    if error is None:
        return functions.environment_of(config)
    key = config.get("KMSKeyArn") or "the key that encrypts it"
    raise NothingWritten(
        "failed",
        f"its environment cannot be read ({error.get('ErrorCode')}: "
        f"{error.get('Message', '')}): nothing written; restoring it needs kms:Decrypt on "
        f"{key}: run `gameday rollback --run-id {run_id}` as an identity that has it",
    )


def config_run_id(value: str | None) -> str | None:
    """The run a fault config belongs to; None for no config or anything else."""
    if value is None:
        return None
    try:
        return extension_config.parse_config(value).run_id
    except extension_config.ConfigError:
        return None


def expected_layer_sha256(
    clients: AwsClients, entry: JournalEntry, function_arn: str
) -> str | None:
    """The CodeSha256 of the layer version the run attached, None when unknown.

    Journaled at apply; a journal written before that names the version's ARN only, whose
    CodeSha256 is then read from Lambda, if it is our layer in the function's account.
    """
    recorded = entry.intended.get("layer_code_sha256")
    if recorded:
        return str(recorded)
    named = str(entry.intended.get("layer_arn") or "")
    if not is_own_layer_of(named, function_arn):
        return None
    return read_layer_sha256(clients, named)


def read_layer_sha256(clients: AwsClients, layer_version_arn: str) -> str:
    try:
        return own_layer_code_sha256(clients, layer_version_arn)
    except ClientError as error:
        raise NothingWritten(
            "failed",
            f"layer {layer_version_arn} cannot be read ({error_code(error)}): "
            "nothing written (its CodeSha256 tells whether it is the run's)",
        ) from error


def our_layer_versions(
    clients: AwsClients, entry: JournalEntry, config: dict[str, Any]
) -> list[str]:
    """The attached layer versions that are the one the run attached: our layer's name in
    the function's own account and Region, with the CodeSha256 the run attached."""
    function_arn = str(config["FunctionArn"])
    candidates = [
        arn for arn in functions.layer_arns_of(config) if is_own_layer_of(arn, function_arn)
    ]
    if not candidates:
        return []
    expected = expected_layer_sha256(clients, entry, function_arn)
    return [
        arn
        for arn in candidates
        if expected is not None and read_layer_sha256(clients, arn) == expected
    ]


def carries_our_layer(clients: AwsClients, entry: JournalEntry, config: dict[str, Any]) -> bool:
    """A version carries the layer the run attached (by name only for a journal written
    before CodeSha256s were journaled)."""
    if entry.intended.get("layer_code_sha256"):
        return bool(our_layer_versions(clients, entry, config))
    return any(
        is_own_layer_of(arn, str(config["FunctionArn"])) for arn in functions.layer_arns_of(config)
    )


def restore_alias(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Put the alias's routing back exactly, unless someone else changed it meanwhile."""
    name, alias_name = function_name_of(entry.target_arn), str(entry.intended["alias"])
    locked_function(entry, clients, run_id)
    current = functions.get_alias(clients, name, alias_name)
    if current is None:
        return RestoreOutcome("drifted", f"alias {alias_name} was deleted during the run")
    now = alias_snapshot(current)
    ours = {
        "function_version": str(entry.intended["function_version"]),
        "weights": {str(k): float(v) for k, v in entry.intended["weights"].items()},
    }
    if now == entry.original:
        return RestoreOutcome("restored", "alias was never changed")
    if now != ours:
        return RestoreOutcome(
            "drifted",
            f"alias {alias_name} changed by someone else during "
            f"the run (now {now['function_version']}, routing "
            f"{now['weights']}): kept",
        )
    original_version = verified_original_version(clients, name, entry, ours, run_id)
    functions.update_alias(
        clients,
        name,
        alias_name,
        version=original_version,
        weights={},
        revision_id=current.get("RevisionId"),
    )
    return RestoreOutcome("restored")


def verified_original_version(
    clients: AwsClients, name: str, entry: JournalEntry, ours: dict[str, Any], run_id: str
) -> str:
    """The version the alias pointed at before the run, once the account confirms it.

    The run points an alias (which it refuses with routing of its own) at a fault version
    published from `$LATEST` only when `$LATEST` was the alias's version, and checks that
    the fault version's code is that version's: so the alias's original version is one
    with the fault version's CodeSha256, and the fault version is this run's. An alias on
    something else is not the run's doing (drifted); an original the account does not
    confirm leaves the run's change in place (failed).
    """
    original = entry.original
    version = str(original.get("function_version"))
    if original.get("weights"):
        raise NothingWritten(
            "failed",
            f"the journal says the alias routed {original['weights']}"
            " before the run, which a run never changes: nothing written",
        )
    faulted = ({ours["function_version"]} | set(ours["weights"])) - {version}
    if len(faulted) != 1:
        raise NothingWritten(
            "drifted",
            f"the alias routes to {sorted(faulted)} besides "
            f"version {version}: not one fault version; nothing written",
        )
    fault_version = faulted.pop()
    fault = version_configuration(clients, name, fault_version)
    if fault is None or fault.get("Description") != fault_version_description(run_id):
        raise NothingWritten(
            "drifted",
            f"version {fault_version}, where the alias points, is "
            "not this run's fault version: kept",
        )
    before = version_configuration(clients, name, version)
    if before is None:
        raise NothingWritten(
            "failed",
            f"version {version}, the alias's before the run, was "
            f"deleted: the alias is left on fault version {fault_version}",
        )
    if before.get("CodeSha256") != fault.get("CodeSha256"):
        raise NothingWritten(
            "failed",
            f"version {version} has other code (CodeSha256) than "
            f"fault version {fault_version}: it is not the alias's version "
            "before the run; nothing written",
        )
    return version


def version_configuration(clients: AwsClients, name: str, version: str) -> dict[str, Any] | None:
    try:
        return functions.get_configuration(clients, name, version)
    except functions.FunctionNotFound:
        return None


def delete_fault_version(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Delete the published fault version, unless an alias (not ours) still routes to it."""
    name = function_name_of(entry.target_arn)
    locked_function(entry, clients, run_id)
    # The description names the run: never the one the journal says.
    description = fault_version_description(run_id)
    version = entry.intended.get("version")
    if version is None:  # the run died between PublishVersion and the journal's update
        found = [
            item["Version"]
            for item in functions.versions(clients, name)
            if item.get("Description") == description
            and item["Version"] not in entry.original.get("versions", [])
        ]
        if not found:
            return RestoreOutcome("restored", "no fault version was published")
        version = found[-1]
    version = str(version)
    published = version_configuration(clients, name, version)
    if published is None:
        return RestoreOutcome("restored", f"fault version {version} was already deleted")
    if published.get("Description") != description or not carries_our_layer(
        clients, entry, published
    ):
        return RestoreOutcome(
            "refused",
            f"version {version} is not this run's fault version "
            "(its description or layer): not deleted",
        )
    users = [
        alias["Name"]
        for alias in functions.aliases(clients, name)
        if str(alias["FunctionVersion"]) == version
        or version in ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
    ]
    if users:
        return RestoreOutcome(
            "drifted",
            f"fault version {version} kept: alias(es) {', '.join(users)} still route to it",
        )
    functions.delete_version(clients, name, version)
    return RestoreOutcome("restored")


def restored_state(
    entry: JournalEntry, current: dict[str, Any], our_layers: list[str], run_id: str
) -> tuple[list[str], dict[str, str], list[str]]:
    """Layers and environment with only our changes reverted, and what others changed.

    Ours are `our_layers` (identified by the caller), the exec wrapper when it is our path,
    and the config when it is this run's; a config of another run means the layer and the
    wrapper serve it, and all three are left alone.
    """
    current_layers = functions.layer_arns_of(current)
    current_env = functions.environment_of(current)
    environment = dict(current_env)
    drift: list[str] = []
    config = current_env.get(extension_config.CONFIG_ENV_KEY)
    config_is_ours = config_run_id(config) == run_id
    if config is not None and not config_is_ours:
        drift.append(
            f"{extension_config.CONFIG_ENV_KEY} is not this run's (changed by "
            "someone else during the run): kept, with the layer and wrapper it uses"
        )
        layers = current_layers
    else:
        layers = [arn for arn in current_layers if arn not in our_layers]
        wrapper = current_env.get(extension_config.EXEC_WRAPPER_ENV_KEY)
        if wrapper == extension_config.WRAPPER_PATH:
            environment.pop(extension_config.EXEC_WRAPPER_ENV_KEY)
        elif wrapper is not None:
            drift.append(
                f"{extension_config.EXEC_WRAPPER_ENV_KEY} changed by someone else "
                "during the run (kept)"
            )
        if config_is_ours:
            original = verified_original_config(entry, drift)
            if original is None:
                environment.pop(extension_config.CONFIG_ENV_KEY)
            else:
                environment[extension_config.CONFIG_ENV_KEY] = original
    if layers != entry.original["layers"]:
        drift.append("layers changed by someone else during the run (kept)")
    changed_keys = others_changed(entry.original, environment, set(OUR_KEYS))
    if changed_keys:
        drift.append(
            "environment keys changed by someone else during the run (kept): "
            + ", ".join(changed_keys)
        )
    return layers, environment, drift


def verified_original_config(entry: JournalEntry, drift: list[str]) -> str | None:
    """The config the run overwrote, to write back; None when there was none, or when the
    journal's value is not one that is safe to write whatever it says: an expired fault
    config, which the extension ignores ("past it, it injects nothing").

    A run never overwrites an exec wrapper (it refuses one), so a wrapper value in the
    journal is not written either.
    """
    overwritten: dict[str, str] = entry.original.get(
        "environment_overwritten", entry.original.get("environment", {})
    )
    if extension_config.EXEC_WRAPPER_ENV_KEY in overwritten:
        drift.append(
            f"the journal names an original {extension_config.EXEC_WRAPPER_ENV_KEY}, "
            "which a run never overwrites: not written"
        )
    value = overwritten.get(extension_config.CONFIG_ENV_KEY)
    if value is None:
        return None
    try:
        expired = not extension_config.parse_config(value).active(time.time())
    except extension_config.ConfigError:
        expired = False
    if expired:
        return value
    drift.append(
        f"the journal's original {extension_config.CONFIG_ENV_KEY} is not an expired "
        "fault config, so it cannot be verified: removed, not written back"
    )
    return None
