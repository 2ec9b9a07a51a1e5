"""`lambda-extension`: attach the fault-injection layer and its config to functions.

A function target (``orders``) is faulted on ``$LATEST``: our layer appended, the
extension's environment keys set (exec wrapper, and a config carrying an expiry time).

An alias target (``orders:live``) is what production invokes: a change to ``$LATEST``
never reaches it. Apply = the ``$LATEST`` change above, a version published from it
(the *fault version*), and the alias pointed at that version - wholly, or with
``weight`` as the alias's routing share. Restore = the alias's routing back exactly as
it was, the fault version deleted, ``$LATEST`` restored. Each of the three steps is
its own journal entry, written before the step; a crash at any point is restorable.

Restore removes exactly our layer and keys, puts back any value we overwrote and keeps
everyone else's changes (reported as drifted).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import zipfile
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.aws import partition
from chaos.aws.layers import (
    LAYER_NAME,
    LayerVersion,
    find_layer_version,
    publish_layer,
    verify_layer_hash,
)
from chaos.errors import PreflightRefused
from chaos.faults.base import (
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
    RestoreOutcome,
)
from chaos.faults.lambda_targets import (
    EDGE_REGION,
    MAX_LAYERS,
    FunctionTarget,
    check_integrations,
    parse_target,
    refuse_alias,
    refuse_edge_function,
    refuse_environment,
    refuse_oversized_code,
    refuse_unreached_latest,
    refuse_unreadable_layers,
    refuse_unsafe_function,
)
from chaos.journal import JournalEntry
from chaos.policy import PolicyStatement, locked, only_tag_keys, tagged

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.experiment.model import LambdaExtensionFault as LambdaExtensionSpec
    from chaos.journal import Journal

PENDING_LAYER_ARN = f"(new version of layer {LAYER_NAME})"
ACTION_ATTACH = "attach"
ACTION_PUBLISH = "publish-version"
ACTION_ALIAS = "point-alias"


def fault_version_description(run_id: str) -> str:
    """The published fault version's description: how a restore finds it after a crash."""
    return f"gameday fault version of run {run_id}"


# The spec type by name only: restore (the janitor) runs where there is no pydantic.
class LambdaExtensionFault(FaultKind["LambdaExtensionSpec"]):
    type_name = "lambda-extension"

    def __init__(self, spec: LambdaExtensionSpec, context: FaultContext, index: int = 0) -> None:
        super().__init__(spec, context, index)
        self._layer: LayerVersion | None = None
        self._layer_zip: bytes | None = None

    # -- plan ---------------------------------------------------------------

    def targets(self) -> list[FunctionTarget]:
        selector = self.spec.functions
        if isinstance(selector, list):
            return [parse_target(name) for name in selector]
        arns = functions.functions_with_tags(self.context.clients, dict(selector.tags))
        if not arns:
            raise PreflightRefused(f"no Lambda function carries the tags {selector.tags}")
        return [FunctionTarget(arn) for arn in arns]

    def plan(self) -> list[PlannedChange]:
        existing = find_layer_version(self.context.clients, self._local_code_sha256())
        layer_arn = existing.arn if existing else PENDING_LAYER_ARN
        return [self._plan_one(target, layer_arn) for target in self.targets()]

    def _plan_one(self, target: FunctionTarget, layer_arn: str) -> PlannedChange:
        clients = self.context.clients
        latest = functions.get_configuration(clients, target.function)
        name, arn = latest["FunctionName"], latest["FunctionArn"]
        refuse_unsafe_function(latest, functions.list_tags(clients, arn), self.context)
        refuse_edge_function(clients, latest)
        ours = self._environment_keys()
        refuse_environment(latest, ours)
        refuse_unreadable_layers(clients, latest)
        size_lines = refuse_oversized_code(latest, self._layer_unzipped_size())
        original: dict[str, Any] = snapshot(latest)
        intended: dict[str, Any] = {"layer_arn": layer_arn, "environment": ours}
        summary = [
            f"attach layer {layer_arn} (layer {len(latest.get('Layers', [])) + 1} of "
            f"{MAX_LAYERS}) to $LATEST",
            "set environment keys " + ", ".join(sorted(ours)),
            f"faults: {', '.join(sorted(self.spec.fault_config()))}",
            f"tag {LOCK_TAG_KEY}={self.context.run_id}",
        ]
        if target.alias:
            alias = functions.get_alias(clients, name, target.alias)
            refuse_alias(clients, target, latest, alias,
                         allow_provisioned=self.spec.allow_provisioned_concurrency)
            assert alias is not None
            weight = self.spec.weight or 1.0
            original["alias"] = alias_snapshot(alias)
            intended.update(alias=target.alias, weight=weight)
            summary += [
                f"publish a fault version from $LATEST (description "
                f"{fault_version_description(self.context.run_id)!r})",
                f"point alias {target.alias} at it: {weight:.0%} of its traffic "
                + ("(all of it)" if weight == 1.0 else
                   f"(the rest stays on version {alias['FunctionVersion']})"),
            ]
        elif self.spec.weight is not None:
            raise PreflightRefused(f"{target.label}: weight routes an alias's traffic; target "
                                   f"an alias ({name}:ALIAS) or remove weight")
        lines = size_lines + ([] if target.alias else refuse_unreached_latest(latest))
        lines += check_integrations(target, name, self.spec.error is not None,
                                    self.context.integrations,
                                    self.context.integrations_unknown,
                                    self.context.integrations_caveat)
        return PlannedChange(
            fault_type=self.type_name, target=target.label, target_arn=arn,
            summary=summary + [line for line in lines if not line.startswith("!")],
            original=original, intended=intended,
            warnings=[line.lstrip("! ") for line in lines if line.startswith("!")],
        )

    # -- apply --------------------------------------------------------------

    def prepare(self) -> None:
        self._layer = publish_layer(
            self.context.clients, self._layer_bytes(), self._local_code_sha256()
        )
        verify_layer_hash(self._layer, self._local_code_sha256())

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        attached = self._attach(change, journal)
        if not change.intended.get("alias"):
            return attached
        published = self._publish(change, journal, attached)
        return self._point_alias(change, journal, attached, published)

    def _attach(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        assert self._layer is not None, "prepare() publishes the layer before apply()"
        clients = self.context.clients
        # The state may have moved since planning (the baseline ran meanwhile): check and
        # snapshot it again right before the change.
        current, tags = functions.get_with_tags(clients, change.target_arn)
        refuse_unsafe_function(current, tags, self.context)
        # The config is rebuilt now: its expiry counts from the start of the run.
        ours = self._environment_keys()
        refuse_environment(current, ours)
        layer_arn = self._layer.arn

        def attach() -> None:
            functions.tag(clients, change.target_arn, {LOCK_TAG_KEY: self.context.run_id})
            functions.update_configuration(
                clients, change.target_arn,
                layers=functions.layer_arns_of(current) + [layer_arn],
                environment={**functions.environment_of(current), **ours},
                revision_id=current.get("RevisionId"),
            )

        return self.journaled(journal, JournalEntry(
            entry_id=f"{self.type_name}:{change.target_arn}",
            fault_type=self.type_name,
            target=change.target,
            target_arn=change.target_arn,
            original=snapshot(current),
            intended={"action": ACTION_ATTACH, "layer_arn": layer_arn, "environment": ours},
        ), attach)

    def _publish(self, change: PlannedChange, journal: Journal,
                 attached: JournalEntry) -> JournalEntry:
        clients, name = self.context.clients, function_name_of(change.target_arn)
        description = fault_version_description(self.context.run_id)
        latest = functions.get_configuration(clients, change.target_arn)
        return self.journaled(journal, JournalEntry(
            entry_id=f"{attached.entry_id}:version", fault_type=self.type_name,
            target=f"{change.target} (fault version)", target_arn=change.target_arn,
            original={"versions": [item["Version"] for item in functions.versions(clients, name)]},
            intended={"action": ACTION_PUBLISH, "description": description},
            part_of=attached.entry_id,
        ), lambda: {"version": functions.publish_version(clients, name, description,
                                                         latest.get("RevisionId"))})

    def _point_alias(self, change: PlannedChange, journal: Journal, attached: JournalEntry,
                     published: JournalEntry) -> JournalEntry:
        clients, name = self.context.clients, function_name_of(change.target_arn)
        alias_name = str(change.intended["alias"])
        current = functions.get_alias(clients, name, alias_name)
        if current is None or alias_snapshot(current) != change.original["alias"]:
            raise PreflightRefused(f"{change.target}: the alias changed since the plan; "
                                   "re-run the plan")
        version = str(published.intended["version"])
        weight = float(change.intended["weight"])
        if weight >= 1.0:
            target_version, weights = version, {}
        else:
            target_version, weights = str(current["FunctionVersion"]), {version: weight}
        def point() -> None:
            functions.update_alias(clients, name, alias_name, version=target_version,
                                   weights=weights, revision_id=current.get("RevisionId"))

        return self.journaled(journal, JournalEntry(
            entry_id=f"{attached.entry_id}:alias:{alias_name}", fault_type=self.type_name,
            target=f"{change.target} (alias)", target_arn=change.target_arn,
            original=alias_snapshot(current),
            intended={"action": ACTION_ALIAS, "alias": alias_name,
                      "function_version": target_version, "weights": weights},
            part_of=attached.entry_id,
        ), point)

    # -- permissions --------------------------------------------------------

    @classmethod
    def required_permissions(
        cls, spec: LambdaExtensionSpec, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        """Reads of the targets; their change only while they carry a run's lock; the lock
        (gameday:* tag keys only) on the named targets, or on the functions carrying the
        selector's tags. aws:ResourceTag is a condition key of Lambda's function, function
        version and function alias resources, aws:TagKeys of TagResource and UntagResource
        ("Actions, resources, and condition keys for AWS Lambda", https://docs.aws.amazon.com/
        service-authorization/latest/reference/list_awslambda.html; "Using attribute-based
        access control in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/attribute-
        based-access-control.html)."""
        prefix = partition.arn("lambda", region, account_id, "").rstrip(":")
        statements = []
        scope: tuple[tuple[str, str, str], ...] = ()
        if isinstance(spec.functions, list):
            targets = [parse_target(name) for name in spec.functions]
            function_arns = tuple(
                target.function if target.function.startswith("arn:")
                else f"{prefix}:function:{target.function}" for target in targets)
            aliased = tuple(arn for arn, target in zip(function_arns, targets, strict=True)
                            if target.alias)
        else:  # a tag selector matches functions, never an alias
            function_arns, aliased = (f"{prefix}:function:*",), ()
            scope = tagged(dict(spec.functions.tags))
            statements.append(PolicyStatement("FindFunctionsByTag", ("lambda:ListFunctions",),
                                              ("*",)))
        statements += [
            PolicyStatement(
                f"LambdaExtensionTargets{index}",
                (
                    "lambda:GetFunctionConfiguration",  # plan
                    "lambda:GetFunction",  # snapshot, waiter, restore (configuration and tags)
                    "lambda:ListTags",  # the lock, and a tag selector's matches
                ),
                function_arns,  # reads: of every function a tag selector looks at
            ),
            PolicyStatement(f"LambdaExtensionChange{index}",
                            ("lambda:UpdateFunctionConfiguration",),  # attach / detach
                            function_arns, scope + locked()),
            PolicyStatement(f"LambdaExtensionLock{index}",
                            ("lambda:TagResource", "lambda:UntagResource"),
                            function_arns, scope + only_tag_keys()),
            PolicyStatement(
                "ExtensionLayer",
                ("lambda:GetLayerVersion",),  # hash check, and needed to attach a layer
                (f"{prefix}:layer:{LAYER_NAME}:*",),
            ),
            PolicyStatement("ExtensionLayerPublish", ("lambda:PublishLayerVersion",),
                            (f"{prefix}:layer:{LAYER_NAME}",)),
            # ListLayerVersions supports no resource-level permission.
            PolicyStatement("ExtensionLayerVersions", ("lambda:ListLayerVersions",), ("*",)),
        ]
        if region == EDGE_REGION:
            # Whether CloudFront replicates a target as a Lambda@Edge function (refused);
            # ListDistributions supports no resource-level permission.
            statements.append(PolicyStatement("EdgeFunctionCheck",
                                              ("cloudfront:ListDistributions",), ("*",)))
        return statements + alias_permissions(index, aliased)

    @classmethod
    def target_permissions(cls, spec: LambdaExtensionSpec, clients: AwsClients | None, *,
                           region: str, account_id: str, layer_arns: tuple[str, ...] = (),
                           kms_key_arns: tuple[str, ...] = ()) -> list[PolicyStatement]:
        """What the targets' own resources need: their existing layers (sent again with
        ours) and their environment's KMS key. Exact when `clients` can read the targets;
        otherwise the given `layer_arns` / `kms_key_arns` (`--layer-arn`, `--kms-key-arn`),
        else named placeholders to replace - never a wildcard."""
        try:
            configs = [] if clients is None else [
                functions.get_configuration(clients, target.function)
                for target in cls(spec, FaultContext(clients, "", 0.0)).targets()]
        except (ClientError, PreflightRefused):
            configs, clients = [], None
        if clients is None:
            return [
                PolicyStatement("TargetsExistingLayers", ("lambda:GetLayerVersion",),
                                layer_arns or (partition.arn(
                                    "lambda", region, "LAYER_ACCOUNT_ID",
                                    "layer:TARGETS_LAYER_NAME:VERSION"),)),
                PolicyStatement(
                    "TargetsEnvironmentKey", ("kms:Decrypt", "kms:Encrypt"),
                    kms_key_arns or (partition.arn("kms", region, account_id,
                                                   "key/TARGETS_ENVIRONMENT_KEY_ID"),),
                    (("StringEquals", "kms:ViaService", partition.via_lambda(region)),)),
            ]
        layers = sorted({arn for config in configs for arn in functions.layer_arns_of(config)})
        keys = sorted({str(config["KMSKeyArn"]) for config in configs
                       if config.get("KMSKeyArn")})
        statements = []
        if layers:
            statements.append(PolicyStatement("TargetsExistingLayers",
                                              ("lambda:GetLayerVersion",), tuple(layers)))
        if keys:
            statements.append(PolicyStatement("TargetsEnvironmentKey",
                                              ("kms:Decrypt", "kms:Encrypt"), tuple(keys)))
        return statements

    # -- restore ------------------------------------------------------------

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        action = entry.intended.get("action", ACTION_ATTACH)
        if action == ACTION_ALIAS:
            return restore_alias(entry, clients)
        if action == ACTION_PUBLISH:
            return delete_fault_version(entry, clients, run_id)
        return restore_latest(entry, clients, run_id)

    # -- helpers ------------------------------------------------------------

    def _environment_keys(self) -> dict[str, str]:
        return {
            extension_config.EXEC_WRAPPER_ENV_KEY: extension_config.WRAPPER_PATH,
            extension_config.CONFIG_ENV_KEY: extension_config.dump_config(
                self.spec.fault_config(), run_id=self.context.run_id,
                expires_at=self.context.expires_at),
        }

    def _layer_bytes(self) -> bytes:
        if self._layer_zip is None:
            from chaos.layer import build_layer_zip

            self._layer_zip = build_layer_zip()
        return self._layer_zip

    def _layer_unzipped_size(self) -> int:
        with zipfile.ZipFile(io.BytesIO(self._layer_bytes())) as archive:
            return sum(info.file_size for info in archive.infolist())

    def _local_code_sha256(self) -> str:
        from chaos.layer import lambda_code_sha256

        return lambda_code_sha256(self._layer_bytes())


def alias_permissions(index: int, function_arns: tuple[str, ...]) -> list[PolicyStatement]:
    """What an alias target of these functions (unqualified ARNs) needs besides $LATEST's.

    Lambda authorizes a call against its FunctionName *and* Qualifier: a policy on the
    unqualified ARN "accepts requests that reference the unqualified ARN but denies requests
    that reference a qualified ARN", one on `function:NAME:*` "accepts any qualified ARN
    but denies requests that reference the unqualified ARN" ("Fine-tuning the Resources and
    Conditions sections of policies", Function resource names, https://docs.aws.amazon.com/
    lambda/latest/dg/lambda-api-permissions-ref.html). So the calls with a Qualifier get the
    versions and aliases only: DeleteFunction deletes the fault version by its number and
    can never delete the whole function, which an unqualified DeleteFunction would. The
    changes of the alias (PublishVersion, UpdateAlias) need the function's lock tag:
    aws:ResourceTag is a condition key of the function, function version and function alias
    resource types (Service Authorization Reference, list_awslambda.html).
    """
    if not function_arns:
        return []
    versions = tuple(f"{arn}:*" for arn in function_arns)
    return [
        PolicyStatement(f"LambdaExtensionAliases{index}",
                        ("lambda:GetAlias", "lambda:ListAliases",
                         "lambda:ListVersionsByFunction"), function_arns),
        PolicyStatement(f"LambdaExtensionAliasChange{index}",
                        ("lambda:UpdateAlias", "lambda:PublishVersion"), function_arns,
                        locked()),
        # The versions of the named targets only. DeleteFunction (the fault version, with its
        # Qualifier) carries no lock condition: a rollback must still delete a fault version
        # left behind after the function's lock was released.
        PolicyStatement(f"LambdaExtensionVersions{index}",
                        ("lambda:GetFunctionConfiguration",  # the alias's version
                         "lambda:GetProvisionedConcurrencyConfig",  # the alias and its version
                         "lambda:DeleteFunction"),
                        versions),
    ]


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
        "environment_overwritten": {key: environment[key] for key in OUR_KEYS
                                    if key in environment},
        "environment_digests": {key: env_digest(salt, key, value)
                                for key, value in environment.items() if key not in OUR_KEYS},
        "digest_salt": salt,
        "revision_id": config.get("RevisionId"),
    }


def env_digest(salt: str, key: str, value: str) -> str:
    return hashlib.sha256(f"{salt}\0{key}\0{value}".encode()).hexdigest()


def others_changed(original: dict[str, Any], environment: dict[str, str],
                   ours: set[str]) -> list[str]:
    """The variables (not ours) that differ from the run's start."""
    if "environment" in original:  # a journal written before digests: full values
        before: dict[str, str] = original["environment"]
        return sorted(key for key in set(environment) | set(before)
                      if key not in ours and environment.get(key) != before.get(key))
    digests: dict[str, str] = original["environment_digests"]
    salt = str(original["digest_salt"])
    now = {key: env_digest(salt, key, value) for key, value in environment.items()
           if key not in ours}
    return sorted(key for key in set(now) | set(digests) if now.get(key) != digests.get(key))


def alias_snapshot(alias: dict[str, Any]) -> dict[str, Any]:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {"function_version": str(alias["FunctionVersion"]),
            "weights": {str(version): float(weight) for version, weight in weights.items()}}


# -- restore helpers ---------------------------------------------------------------------


def restore_latest(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    try:
        current, tags = functions.get_with_tags(clients, entry.target_arn)
    except functions.FunctionNotFound:
        return RestoreOutcome("drifted", "function was deleted during the run")
    owner = tags.get(LOCK_TAG_KEY)
    if owner and owner != run_id:
        # Our run died before locking it and another run holds it now: its layer and
        # wrapper look like ours (same hash, same path), so touch nothing.
        return RestoreOutcome("drifted", f"locked by run {owner} now: left as it is")
    layers, environment, drift = restored_state(entry, current)
    if layers != functions.layer_arns_of(current) or environment != functions.environment_of(
        current
    ):
        functions.update_configuration(
            clients, entry.target_arn, layers=layers, environment=environment,
            revision_id=current.get("RevisionId"),
        )
    try:
        if owner == run_id:
            functions.untag(clients, entry.target_arn, [LOCK_TAG_KEY])
    except ClientError as error:
        raise RuntimeError(f"configuration restored, but the lock tag {LOCK_TAG_KEY} could "
                           f"not be removed: {error}") from error
    return RestoreOutcome("drifted" if drift else "restored", "; ".join(drift))


def restore_alias(entry: JournalEntry, clients: AwsClients) -> RestoreOutcome:
    """Put the alias's routing back exactly, unless someone else changed it meanwhile."""
    name, alias_name = function_name_of(entry.target_arn), str(entry.intended["alias"])
    current = functions.get_alias(clients, name, alias_name)
    if current is None:
        return RestoreOutcome("drifted", f"alias {alias_name} was deleted during the run")
    now = alias_snapshot(current)
    ours = {"function_version": entry.intended["function_version"],
            "weights": {str(k): float(v) for k, v in entry.intended["weights"].items()}}
    if now == entry.original:
        return RestoreOutcome("restored", "alias was never changed")
    if now != ours:
        return RestoreOutcome("drifted", f"alias {alias_name} changed by someone else during "
                              f"the run (now {now['function_version']}, routing "
                              f"{now['weights']}): kept")
    original = entry.original
    functions.update_alias(clients, name, alias_name, version=original["function_version"],
                           weights=original["weights"], revision_id=current.get("RevisionId"))
    return RestoreOutcome("restored")


def delete_fault_version(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Delete the published fault version, unless an alias (not ours) still routes to it."""
    name = function_name_of(entry.target_arn)
    version = entry.intended.get("version")
    if version is None:  # the run died between PublishVersion and the journal's update
        description = entry.intended.get("description") or fault_version_description(run_id)
        found = [item["Version"] for item in functions.versions(clients, name)
                 if item.get("Description") == description
                 and item["Version"] not in entry.original.get("versions", [])]
        if not found:
            return RestoreOutcome("restored", "no fault version was published")
        version = found[-1]
    version = str(version)
    users = [alias["Name"] for alias in functions.aliases(clients, name)
             if str(alias["FunctionVersion"]) == version
             or version in ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
                            or {})]
    if users:
        return RestoreOutcome("drifted", f"fault version {version} kept: alias(es) "
                              f"{', '.join(users)} still route to it")
    functions.delete_version(clients, name, version)
    return RestoreOutcome("restored")


def restored_state(
    entry: JournalEntry, current: dict[str, Any]
) -> tuple[list[str], dict[str, str], list[str]]:
    """Layers and environment with only our changes reverted, and what others changed."""
    ours_layer = entry.intended["layer_arn"]
    ours_env: dict[str, str] = dict(entry.intended["environment"])
    original_env: dict[str, str] = entry.original.get(
        "environment_overwritten", entry.original.get("environment", {}))
    current_layers = functions.layer_arns_of(current)
    current_env = functions.environment_of(current)
    drift: list[str] = []

    current_config = current_env.get(extension_config.CONFIG_ENV_KEY)
    if current_config is not None and current_config != ours_env[extension_config.CONFIG_ENV_KEY]:
        # Another config is attached: the layer and wrapper serve it, they are not ours.
        ours_layer = ""
        ours_env.pop(extension_config.EXEC_WRAPPER_ENV_KEY, None)
    layers = [arn for arn in current_layers if arn != ours_layer]
    if layers != entry.original["layers"]:
        drift.append("layers changed by someone else during the run (kept)")

    environment = dict(current_env)
    for key, our_value in ours_env.items():
        if key in current_env and current_env[key] != our_value:
            drift.append(f"{key} changed by someone else during the run (kept)")
            continue
        if key in original_env:
            environment[key] = original_env[key]
        else:
            environment.pop(key, None)
    changed_keys = others_changed(entry.original, environment, set(ours_env))
    if changed_keys:
        drift.append("environment keys changed by someone else during the run (kept): "
                     + ", ".join(changed_keys))
    return layers, environment, drift
