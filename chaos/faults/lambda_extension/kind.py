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
import time
import zipfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.aws import partition
from chaos.aws.clients import error_code
from chaos.errors import PreflightRefused
from chaos.faults.base import (
    LOCK_TAG_KEY,
    Effect,
    FaultContext,
    FaultKind,
    LockedResource,
    NothingWritten,
    PlannedChange,
    PolicyInputs,
    RestoreOutcome,
    unlocked,
)
from chaos.faults.lambda_extension.layer_versions import (
    LAYER_NAME,
    LayerVersion,
    find_layer_version,
    is_own_layer_of,
    own_layer_code_sha256,
    publish_layer,
    verify_layer_hash,
)
from chaos.faults.lambda_extension.targets import (
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
    from chaos.faults.lambda_extension.spec import LambdaExtensionSpec
    from chaos.journal import Journal

PENDING_LAYER_ARN = f"(new version of layer {LAYER_NAME})"
ACTION_ATTACH = "attach"
ACTION_PUBLISH = "publish-version"
ACTION_ALIAS = "point-alias"


def fault_version_description(run_id: str) -> str:
    """The published fault version's description: how a restore finds it after a crash."""
    return f"gameday fault version of run {run_id}"


# The spec type by name only: the janitor imports this module and ships no pydantic.
class LambdaExtensionFault(FaultKind["LambdaExtensionSpec"]):
    type_name = "lambda-extension"
    needs_endpoint_integrations = True
    reads_extension_telemetry = True

    @classmethod
    def spec_model(cls) -> type[LambdaExtensionSpec]:
        # Imported here: pydantic, which the janitor lacks (chaos.faults.base).
        from chaos.faults.lambda_extension.spec import LambdaExtensionSpec

        return LambdaExtensionSpec

    def __init__(self, spec: LambdaExtensionSpec, context: FaultContext, index: int = 0) -> None:
        super().__init__(spec, context, index)
        self._layer: LayerVersion | None = None
        self._layer_zip: bytes | None = None

    @classmethod
    def add_evidence(cls, result: dict[str, Any]) -> None:
        from chaos.faults.lambda_extension import evidence  # not the janitor's: see base

        evidence.add_evidence(result)

    @classmethod
    def fault_effect(cls, entries: Sequence[Mapping[str, Any]]) -> Effect:
        from chaos.faults.lambda_extension import evidence  # not the janitor's: see base

        return evidence.fault_effect(entries)

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
            # Lock first: a restore acts only on a function that carries the run's lock.
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
            # The restore recognises our layer by its CodeSha256, never by this ARN.
            intended={"action": ACTION_ATTACH, "layer_arn": layer_arn,
                      "layer_code_sha256": self._layer.code_sha256, "environment": ours},
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
            intended={"action": ACTION_PUBLISH, "description": description,
                      "layer_code_sha256": attached.intended.get("layer_code_sha256")},
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
        refuse_other_code(clients, name, change.target, str(current["FunctionVersion"]), version)
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
    def policy_statements(cls, spec: LambdaExtensionSpec,
                          inputs: PolicyInputs) -> list[PolicyStatement]:
        return cls.required_permissions(
            spec, region=inputs.region, account_id=inputs.account_id, index=inputs.index
        ) + cls.target_permissions(
            spec, inputs.clients, region=inputs.region, account_id=inputs.account_id,
            layer_arns=inputs.layer_arns, kms_key_arns=inputs.kms_key_arns)

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
        try:
            if action == ACTION_ALIAS:
                return restore_alias(entry, clients, run_id)
            if action == ACTION_PUBLISH:
                return delete_fault_version(entry, clients, run_id)
            return restore_latest(entry, clients, run_id)
        except NothingWritten as stopped:
            return stopped.outcome

    @classmethod
    def locked_resources(cls, entry: JournalEntry) -> list[LockedResource]:
        """Every step (the $LATEST change, the fault version, the alias) is made under the
        function's lock: Lambda tags a function, never its versions or aliases."""
        return [LockedResource("lambda", entry.target_arn)]

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
            from chaos.faults.lambda_extension.layer import build_layer_zip

            self._layer_zip = build_layer_zip()
        return self._layer_zip

    def _layer_unzipped_size(self) -> int:
        with zipfile.ZipFile(io.BytesIO(self._layer_bytes())) as archive:
            return sum(info.file_size for info in archive.infolist())

    def _local_code_sha256(self) -> str:
        from chaos.faults.lambda_extension.layer import lambda_code_sha256

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


def refuse_other_code(clients: AwsClients, name: str, label: str, alias_version: str,
                      fault_version: str) -> None:
    """The fault version must run the alias's code: $LATEST may have changed since the plan
    (and a restore recognises the alias's version by the fault version's CodeSha256)."""
    before = functions.get_configuration(clients, name, alias_version).get("CodeSha256")
    published = functions.get_configuration(clients, name, fault_version).get("CodeSha256")
    if before != published:
        raise PreflightRefused(f"{label}: $LATEST's code changed since the plan (fault version "
                               f"{fault_version} is not version {alias_version}'s code); "
                               "re-run the plan")


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
#
# Each restore reads the function first and writes nothing unless it carries the run's lock
# (`unlocked`), its environment could be read whole, and every value to write back is
# confirmed by the account: our layer by its name and CodeSha256 as Lambda reports them
# (never the ARN the journal names), our keys by their values (the wrapper path; a config
# of this run), the alias's original version by the fault version's code.


def locked_function(entry: JournalEntry, clients: AwsClients,
                    run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
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
            return RestoreOutcome("refused", f"{stopped.outcome.detail} (it carries a fault "
                                  "config of this run: was its lock removed? the config "
                                  "expires by itself)")
        return stopped.outcome
    environment_now = readable_environment(current, run_id)
    layers, environment, drift = restored_state(
        entry, current, our_layer_versions(clients, entry, current), run_id)
    if layers != functions.layer_arns_of(current) or environment != environment_now:
        functions.update_configuration(
            clients, entry.target_arn, layers=layers, environment=environment,
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
        "failed", f"its environment cannot be read ({error.get('ErrorCode')}: "
        f"{error.get('Message', '')}): nothing written; restoring it needs kms:Decrypt on "
        f"{key}: run `gameday rollback --run-id {run_id}` as an identity that has it")


def config_run_id(value: str | None) -> str | None:
    """The run a fault config belongs to; None for no config or anything else."""
    if value is None:
        return None
    try:
        return extension_config.parse_config(value).run_id
    except extension_config.ConfigError:
        return None


def expected_layer_sha256(clients: AwsClients, entry: JournalEntry,
                          function_arn: str) -> str | None:
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
            "failed", f"layer {layer_version_arn} cannot be read ({error_code(error)}): "
            "nothing written (its CodeSha256 tells whether it is the run's)") from error


def our_layer_versions(clients: AwsClients, entry: JournalEntry,
                       config: dict[str, Any]) -> list[str]:
    """The attached layer versions that are the one the run attached: our layer's name in
    the function's own account and Region, with the CodeSha256 the run attached."""
    function_arn = str(config["FunctionArn"])
    candidates = [arn for arn in functions.layer_arns_of(config)
                  if is_own_layer_of(arn, function_arn)]
    if not candidates:
        return []
    expected = expected_layer_sha256(clients, entry, function_arn)
    return [arn for arn in candidates
            if expected is not None and read_layer_sha256(clients, arn) == expected]


def carries_our_layer(clients: AwsClients, entry: JournalEntry, config: dict[str, Any]) -> bool:
    """A version carries the layer the run attached (by name only for a journal written
    before CodeSha256s were journaled)."""
    if entry.intended.get("layer_code_sha256"):
        return bool(our_layer_versions(clients, entry, config))
    return any(is_own_layer_of(arn, str(config["FunctionArn"]))
               for arn in functions.layer_arns_of(config))


def restore_alias(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Put the alias's routing back exactly, unless someone else changed it meanwhile."""
    name, alias_name = function_name_of(entry.target_arn), str(entry.intended["alias"])
    locked_function(entry, clients, run_id)
    current = functions.get_alias(clients, name, alias_name)
    if current is None:
        return RestoreOutcome("drifted", f"alias {alias_name} was deleted during the run")
    now = alias_snapshot(current)
    ours = {"function_version": str(entry.intended["function_version"]),
            "weights": {str(k): float(v) for k, v in entry.intended["weights"].items()}}
    if now == entry.original:
        return RestoreOutcome("restored", "alias was never changed")
    if now != ours:
        return RestoreOutcome("drifted", f"alias {alias_name} changed by someone else during "
                              f"the run (now {now['function_version']}, routing "
                              f"{now['weights']}): kept")
    original_version = verified_original_version(clients, name, entry, ours, run_id)
    functions.update_alias(clients, name, alias_name, version=original_version, weights={},
                           revision_id=current.get("RevisionId"))
    return RestoreOutcome("restored")


def verified_original_version(clients: AwsClients, name: str, entry: JournalEntry,
                              ours: dict[str, Any], run_id: str) -> str:
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
        raise NothingWritten("failed", f"the journal says the alias routed {original['weights']}"
                             " before the run, which a run never changes: nothing written")
    faulted = ({ours["function_version"]} | set(ours["weights"])) - {version}
    if len(faulted) != 1:
        raise NothingWritten("drifted", f"the alias routes to {sorted(faulted)} besides "
                             f"version {version}: not one fault version; nothing written")
    fault_version = faulted.pop()
    fault = version_configuration(clients, name, fault_version)
    if fault is None or fault.get("Description") != fault_version_description(run_id):
        raise NothingWritten("drifted", f"version {fault_version}, where the alias points, is "
                             "not this run's fault version: kept")
    before = version_configuration(clients, name, version)
    if before is None:
        raise NothingWritten("failed", f"version {version}, the alias's before the run, was "
                             f"deleted: the alias is left on fault version {fault_version}")
    if before.get("CodeSha256") != fault.get("CodeSha256"):
        raise NothingWritten("failed", f"version {version} has other code (CodeSha256) than "
                             f"fault version {fault_version}: it is not the alias's version "
                             "before the run; nothing written")
    return version


def version_configuration(clients: AwsClients, name: str,
                          version: str) -> dict[str, Any] | None:
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
        found = [item["Version"] for item in functions.versions(clients, name)
                 if item.get("Description") == description
                 and item["Version"] not in entry.original.get("versions", [])]
        if not found:
            return RestoreOutcome("restored", "no fault version was published")
        version = found[-1]
    version = str(version)
    published = version_configuration(clients, name, version)
    if published is None:
        return RestoreOutcome("restored", f"fault version {version} was already deleted")
    if published.get("Description") != description or not carries_our_layer(
            clients, entry, published):
        return RestoreOutcome("refused", f"version {version} is not this run's fault version "
                              "(its description or layer): not deleted")
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
        drift.append(f"{extension_config.CONFIG_ENV_KEY} is not this run's (changed by "
                     "someone else during the run): kept, with the layer and wrapper it uses")
        layers = current_layers
    else:
        layers = [arn for arn in current_layers if arn not in our_layers]
        wrapper = current_env.get(extension_config.EXEC_WRAPPER_ENV_KEY)
        if wrapper == extension_config.WRAPPER_PATH:
            environment.pop(extension_config.EXEC_WRAPPER_ENV_KEY)
        elif wrapper is not None:
            drift.append(f"{extension_config.EXEC_WRAPPER_ENV_KEY} changed by someone else "
                         "during the run (kept)")
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
        drift.append("environment keys changed by someone else during the run (kept): "
                     + ", ".join(changed_keys))
    return layers, environment, drift


def verified_original_config(entry: JournalEntry, drift: list[str]) -> str | None:
    """The config the run overwrote, to write back; None when there was none, or when the
    journal's value is not one that is safe to write whatever it says: an expired fault
    config, which the extension ignores ("past it, it injects nothing").

    A run never overwrites an exec wrapper (it refuses one), so a wrapper value in the
    journal is not written either.
    """
    overwritten: dict[str, str] = entry.original.get(
        "environment_overwritten", entry.original.get("environment", {}))
    if extension_config.EXEC_WRAPPER_ENV_KEY in overwritten:
        drift.append(f"the journal names an original {extension_config.EXEC_WRAPPER_ENV_KEY}, "
                     "which a run never overwrites: not written")
    value = overwritten.get(extension_config.CONFIG_ENV_KEY)
    if value is None:
        return None
    try:
        expired = not extension_config.parse_config(value).active(time.time())
    except extension_config.ConfigError:
        expired = False
    if expired:
        return value
    drift.append(f"the journal's original {extension_config.CONFIG_ENV_KEY} is not an expired "
                 "fault config, so it cannot be verified: removed, not written back")
    return None
