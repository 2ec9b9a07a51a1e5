"""`lambda-extension`: attach the fault-injection layer and its config to functions.

Inject appends our layer and sets the extension's environment keys (exec wrapper
and a config carrying an expiry time). Restore removes exactly our layer and our
keys, puts back any value we overwrote and keeps everyone else's changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.aws.layers import (
    LAYER_NAME,
    LayerVersion,
    find_layer_version,
    is_our_layer,
    publish_layer,
    verify_layer_hash,
)
from chaos.errors import PreflightRefused
from chaos.experiment.model import LambdaExtensionFault as LambdaExtensionSpec
from chaos.faults.base import (
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
    RestoreOutcome,
)
from chaos.journal import JournalEntry
from chaos.policy import PolicyStatement

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import Journal

MAX_LAYERS = 5
PENDING_LAYER_ARN = f"(new version of layer {LAYER_NAME})"


class LambdaExtensionFault(FaultKind[LambdaExtensionSpec]):
    type_name = "lambda-extension"

    def __init__(self, spec: LambdaExtensionSpec, context: FaultContext) -> None:
        super().__init__(spec, context)
        self._layer: LayerVersion | None = None
        self._layer_zip: bytes | None = None

    # -- plan ---------------------------------------------------------------

    def target_arns(self) -> list[str]:
        selector = self.spec.functions
        if isinstance(selector, list):
            return [functions.get_configuration(self.context.clients, name)["FunctionArn"]
                    for name in selector]
        arns = functions.functions_with_tags(self.context.clients, dict(selector.tags))
        if not arns:
            raise PreflightRefused(f"no Lambda function carries the tags {selector.tags}")
        return arns

    def plan(self) -> list[PlannedChange]:
        existing = find_layer_version(self.context.clients, self._local_code_sha256())
        layer_arn = existing.arn if existing else PENDING_LAYER_ARN
        config_json = self._config_json()
        return [self._plan_one(arn, layer_arn, config_json) for arn in self.target_arns()]

    def _plan_one(self, function_arn: str, layer_arn: str, config_json: str) -> PlannedChange:
        config = functions.get_configuration(self.context.clients, function_arn)
        name = config["FunctionName"]
        refuse_unsafe_function(config, functions.list_tags(self.context.clients, function_arn),
                               self.context.run_id)
        intended_env = {
            extension_config.EXEC_WRAPPER_ENV_KEY: extension_config.WRAPPER_PATH,
            extension_config.CONFIG_ENV_KEY: config_json,
        }
        summary = [
            f"attach layer {layer_arn} (layer {len(config.get('Layers', [])) + 1} of {MAX_LAYERS})",
            "set environment keys " + ", ".join(sorted(intended_env)),
            f"faults: {', '.join(sorted(self.spec.fault_config()))}",
            f"tag {LOCK_TAG_KEY}={self.context.run_id}",
        ]
        return PlannedChange(
            fault_type=self.type_name,
            target=name,
            target_arn=function_arn,
            summary=summary,
            original=snapshot(config),
            intended={"layer_arn": layer_arn, "environment": intended_env},
        )

    # -- apply --------------------------------------------------------------

    def prepare(self) -> None:
        self._layer = publish_layer(
            self.context.clients, self._layer_bytes(), self._local_code_sha256()
        )
        verify_layer_hash(self._layer, self._local_code_sha256())

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        assert self._layer is not None, "prepare() publishes the layer before apply()"
        clients = self.context.clients
        # The state may have moved since planning (the baseline ran meanwhile): check and
        # snapshot it again right before the change.
        current = functions.get_configuration(clients, change.target_arn)
        refuse_unsafe_function(current, functions.list_tags(clients, change.target_arn),
                               self.context.run_id)
        layer_arn = self._layer.arn
        # The config is rebuilt now: its expiry counts from the start of the run.
        ours = {**change.intended["environment"],
                extension_config.CONFIG_ENV_KEY: self._config_json()}

        def attach() -> None:
            functions.tag(clients, change.target_arn, {LOCK_TAG_KEY: self.context.run_id})
            functions.update_configuration(
                clients,
                change.target_arn,
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
            intended=dict(change.intended, layer_arn=layer_arn, environment=ours),
        ), attach)

    # -- permissions --------------------------------------------------------

    @classmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        prefix = f"arn:aws:lambda:{region}:{account_id}"
        statements = []
        if isinstance(spec.functions, list):
            function_arns = tuple(
                name if name.startswith("arn:") else f"{prefix}:function:{name}"
                for name in spec.functions
            )
        else:
            function_arns = (f"{prefix}:function:*",)
            statements.append(PolicyStatement("FindFunctionsByTag", ("lambda:ListFunctions",),
                                              ("*",)))
        statements += [
            PolicyStatement(
                f"LambdaExtensionTargets{index}",
                (
                    "lambda:GetFunctionConfiguration",  # plan, snapshot, waiter, restore
                    "lambda:UpdateFunctionConfiguration",  # attach / detach
                    "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource",  # lock
                ),
                function_arns,
            ),
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
        return statements

    # -- restore ------------------------------------------------------------

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        try:
            current = functions.get_configuration(clients, entry.target_arn)
        except functions.FunctionNotFound:
            return RestoreOutcome("drifted", "function was deleted during the run")
        owner = functions.list_tags(clients, entry.target_arn).get(LOCK_TAG_KEY)
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
            release_lock(clients, entry.target_arn, run_id)
        except ClientError as error:
            raise RuntimeError(f"configuration restored, but the lock tag {LOCK_TAG_KEY} could "
                               f"not be removed: {error}") from error
        return RestoreOutcome("drifted" if drift else "restored", "; ".join(drift))

    # -- helpers ------------------------------------------------------------

    def _config_json(self) -> str:
        return extension_config.dump_config(
            self.spec.fault_config(), run_id=self.context.run_id,
            expires_at=self.context.expires_at,
        )

    def _layer_bytes(self) -> bytes:
        if self._layer_zip is None:
            from chaos.layer import build_layer_zip

            self._layer_zip = build_layer_zip()
        return self._layer_zip

    def _local_code_sha256(self) -> str:
        from chaos.layer import lambda_code_sha256

        return lambda_code_sha256(self._layer_bytes())


def snapshot(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "layers": functions.layer_arns_of(config),
        "environment": functions.environment_of(config),
        "revision_id": config.get("RevisionId"),
    }


def refuse_unsafe_function(config: dict[str, Any], tags: dict[str, str], run_id: str) -> None:
    """Raise PreflightRefused, naming the function, for every state we must not touch."""
    name = config["FunctionName"]
    if config.get("PackageType") == "Image":
        raise PreflightRefused(f"{name}: container-image function (PackageType Image) cannot "
                               "take layers")
    runtime = str(config.get("Runtime", ""))
    if not runtime.startswith("python3"):
        raise PreflightRefused(f"{name}: runtime {runtime or 'unknown'} is not Python; the "
                               "extension runs on the function's Python runtime")
    layers = functions.layer_arns_of(config)
    if any(is_our_layer(arn) for arn in layers):
        raise PreflightRefused(f"{name}: already carries the {LAYER_NAME} layer (a run left it?"
                               " see `gameday status`, then `gameday rollback`)")
    if len(layers) >= MAX_LAYERS:
        raise PreflightRefused(f"{name}: already has {len(layers)} layers, the Lambda maximum "
                               f"is {MAX_LAYERS}")
    wrapper = functions.environment_of(config).get(extension_config.EXEC_WRAPPER_ENV_KEY)
    if wrapper is not None:
        raise PreflightRefused(f"{name}: already sets {extension_config.EXEC_WRAPPER_ENV_KEY} "
                               "(another wrapper); refusing to replace it")
    lock_owner = tags.get(LOCK_TAG_KEY)
    if lock_owner and lock_owner != run_id:
        raise PreflightRefused(f"{name}: locked by run {lock_owner} (tag {LOCK_TAG_KEY}); if that "
                               f"run is dead: gameday rollback --run-id {lock_owner}")


def restored_state(
    entry: JournalEntry, current: dict[str, Any]
) -> tuple[list[str], dict[str, str], list[str]]:
    """Layers and environment with only our changes reverted, and what others changed."""
    ours_layer = entry.intended["layer_arn"]
    ours_env: dict[str, str] = dict(entry.intended["environment"])
    original_env: dict[str, str] = entry.original["environment"]
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
    changed_keys = sorted(
        key for key in set(environment) | set(original_env)
        if key not in ours_env and environment.get(key) != original_env.get(key)
    )
    if changed_keys:
        drift.append("environment keys changed by someone else during the run (kept): "
                     + ", ".join(changed_keys))
    return layers, environment, drift


def release_lock(clients: AwsClients, arn: str, run_id: str) -> None:
    if functions.list_tags(clients, arn).get(LOCK_TAG_KEY) == run_id:
        functions.untag(clients, arn, [LOCK_TAG_KEY])
