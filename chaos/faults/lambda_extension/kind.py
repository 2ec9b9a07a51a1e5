"""`lambda-extension`: attach the fault-injection layer and its config to functions.

A function target (``orders``) is faulted on ``$LATEST``: our layer appended, the
extension's environment keys set (exec wrapper, and a config carrying an expiry time).

An alias target (``orders:live``) is what production invokes: a change to ``$LATEST``
never reaches it. Apply = the ``$LATEST`` change above, a version published from it
(the *fault version*), and the alias pointed at that version - wholly, or with
``weight`` as the alias's routing share. Restore = the alias's routing back exactly as
it was, the fault version deleted, ``$LATEST`` restored. Each of the three steps is
its own journal entry, written before the step; a crash at any point is restorable.

A published version starts ``Pending`` and only an ``Active`` one can be invoked ("Lambda
function states", https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html): the
alias moves only once the fault version is Active, so the alias step's ``effective_at``
is when the fault is in force. A fault version that goes ``Failed`` (or stays Pending)
aborts the apply before the alias is touched, its reason in the publish step's entry.

Restore removes exactly our layer and keys, puts back any value we overwrote and keeps
everyone else's changes (reported as drifted).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.clock import utc_now
from chaos.errors import GamedayError, PreflightRefused
from chaos.faults.base import (
    LOCK_TAG_KEY,
    Effect,
    FaultContext,
    FaultKind,
    LockedResource,
    PlannedChange,
    PolicyInputs,
    RestoreOutcome,
)
from chaos.faults.lambda_extension import permissions, restore
from chaos.faults.lambda_extension.layer_versions import (
    LAYER_NAME,
    LayerVersion,
    find_layer_version,
    publish_layer,
    verify_layer_hash,
)
from chaos.faults.lambda_extension.modes import (
    ephemeral_storage_mb,
    mode_lines,
    refuse_disk_over_storage,
)
from chaos.faults.lambda_extension.restore import (
    ACTION_ALIAS,
    ACTION_ATTACH,
    ACTION_PUBLISH,
    alias_snapshot,
    fault_version_description,
    function_name_of,
    snapshot,
)
from chaos.faults.lambda_extension.targets import (
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
    streaming_url_lines,
)
from chaos.journal import JournalEntry
from chaos.policy import PolicyStatement

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.faults.lambda_extension.spec import LambdaExtensionSpec
    from chaos.journal import Journal

PENDING_LAYER_ARN = f"(new version of layer {LAYER_NAME})"


class FaultVersionNotActive(GamedayError):
    """The published fault version never became Active: the alias was left as it was."""


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
        # One layer version per architecture (a function's Architectures picks it).
        self._layers: dict[str, LayerVersion] = {}
        self._layer_zips: dict[str, bytes] = {}
        self._architectures: set[str] = set()

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
            return [
                parse_target(item)
                if isinstance(item, str)
                else replace(parse_target(item.name), baked_in=item.baked_in)
                for item in selector
            ]
        arns = functions.functions_with_tags(self.context.clients, dict(selector.tags))
        if not arns:
            raise PreflightRefused(f"no Lambda function carries the tags {selector.tags}")
        return [FunctionTarget(arn) for arn in arns]

    def plan(self) -> list[PlannedChange]:
        existing: dict[str, str] = {}

        def layer_arn_of(architecture: str) -> str:
            if architecture not in existing:
                found = find_layer_version(
                    self.context.clients, self._local_code_sha256(architecture)
                )
                existing[architecture] = (
                    found.arn if found else f"{PENDING_LAYER_ARN} for {architecture}"
                )
            return existing[architecture]

        return [self._plan_one(target, layer_arn_of) for target in self.targets()]

    def _plan_one(
        self, target: FunctionTarget, layer_arn_of: Callable[[str], str]
    ) -> PlannedChange:
        clients = self.context.clients
        latest = functions.get_configuration(clients, target.function)
        name, arn = latest["FunctionName"], latest["FunctionArn"]
        architecture = architecture_of(latest)
        refuse_unsafe_function(
            latest, functions.list_tags(clients, arn), self.context, baked_in=target.baked_in
        )
        if target.baked_in:
            return self._plan_baked_in(target, latest)
        self._architectures.add(architecture)
        layer_arn = layer_arn_of(architecture)
        refuse_edge_function(clients, latest)
        refuse_disk_over_storage(latest, self.spec.fault_config())
        ours = self._environment_keys(latest)
        refuse_environment(latest, ours)
        refuse_unreadable_layers(clients, latest)
        size_lines = refuse_oversized_code(latest, self._layer_unzipped_size(architecture))
        original: dict[str, Any] = snapshot(latest)
        intended: dict[str, Any] = {
            "layer_arn": layer_arn,
            "environment": ours,
            "architecture": architecture,
        }
        summary = [
            f"attach layer {layer_arn} ({architecture} build; layer "
            f"{len(latest.get('Layers', [])) + 1} of {MAX_LAYERS}) to $LATEST",
            "set environment keys " + ", ".join(sorted(ours)),
            *mode_lines(self.spec.fault_config()),
            f"tag {LOCK_TAG_KEY}={self.context.run_id}",
        ]
        if target.alias:
            alias = functions.get_alias(clients, name, target.alias)
            refuse_alias(
                clients,
                target,
                latest,
                alias,
                allow_provisioned=self.spec.allow_provisioned_concurrency,
            )
            assert alias is not None
            weight = self.spec.weight or 1.0
            original["alias"] = alias_snapshot(alias)
            intended.update(alias=target.alias, weight=weight)
            summary += [
                f"publish a fault version from $LATEST (description "
                f"{fault_version_description(self.context.run_id)!r})",
                f"point alias {target.alias} at it: {weight:.0%} of its traffic "
                + (
                    "(all of it)"
                    if weight == 1.0
                    else f"(the rest stays on version {alias['FunctionVersion']})"
                ),
            ]
        elif self.spec.weight is not None:
            raise PreflightRefused(
                f"{target.label}: weight routes an alias's traffic; target "
                f"an alias ({name}:ALIAS) or remove weight"
            )
        lines = size_lines + ([] if target.alias else refuse_unreached_latest(latest))
        lines += streaming_url_lines(clients, name, target.alias)
        lines += check_integrations(
            target,
            name,
            self.spec.error is not None,
            self.context.integrations,
            self.context.integrations_unknown,
            self.context.integrations_caveat,
        )
        return PlannedChange(
            fault_type=self.type_name,
            target=target.label,
            target_arn=arn,
            summary=summary + [line for line in lines if not line.startswith("!")],
            original=original,
            intended=intended,
            warnings=[line.lstrip("! ") for line in lines if line.startswith("!")],
        )

    def _plan_baked_in(self, target: FunctionTarget, latest: dict[str, Any]) -> PlannedChange:
        """A container image that carries the extension: only its environment changes."""
        clients, name = self.context.clients, latest["FunctionName"]
        refuse_edge_function(clients, latest)
        refuse_disk_over_storage(latest, self.spec.fault_config())
        ours = self._environment_keys(latest)
        refuse_environment(latest, ours)
        if target.alias or self.spec.weight is not None:
            raise PreflightRefused(
                f"{target.label}: alias targets of a baked-in image are not "
                f"supported; target {name} (its $LATEST)"
            )
        lines = (
            refuse_unreached_latest(latest)
            + streaming_url_lines(clients, name, None)
            + check_integrations(
                target,
                name,
                self.spec.error is not None,
                self.context.integrations,
                self.context.integrations_unknown,
                self.context.integrations_caveat,
            )
        )
        summary = [
            "no layer: the extension is baked into the image (baked_in: true); the "
            "fault_effect check proves it is there",
            "set environment keys " + ", ".join(sorted(ours)),
            *mode_lines(self.spec.fault_config()),
            f"tag {LOCK_TAG_KEY}={self.context.run_id}",
        ]
        return PlannedChange(
            fault_type=self.type_name,
            target=target.label,
            target_arn=latest["FunctionArn"],
            summary=summary + [line for line in lines if not line.startswith("!")],
            original=snapshot(latest),
            intended={"layer_arn": None, "environment": ours, "baked_in": True},
            warnings=[line.lstrip("! ") for line in lines if line.startswith("!")],
        )

    # -- apply --------------------------------------------------------------

    def prepare(self) -> None:
        """Publish (or reuse, by CodeSha256) the layer of every planned architecture (none
        for baked-in images; apply publishes any architecture the plan did not see)."""
        for architecture in sorted(self._architectures):
            self._layer_for(architecture)

    def _layer_for(self, architecture: str) -> LayerVersion:
        if architecture not in self._layers:
            expected = self._local_code_sha256(architecture)
            layer = publish_layer(
                self.context.clients, self._layer_bytes(architecture), expected, architecture
            )
            verify_layer_hash(layer, expected)
            self._layers[architecture] = layer
        return self._layers[architecture]

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        attached = self._attach(change, journal)
        if not change.intended.get("alias"):
            return attached
        published = self._publish(change, journal, attached)
        self._await_active(change, journal, published)
        return self._point_alias(change, journal, attached, published)

    def _attach(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        clients = self.context.clients
        # The state may have moved since planning (the baseline ran meanwhile): check and
        # snapshot it again right before the change.
        current, tags = functions.get_with_tags(clients, change.target_arn)
        baked_in = bool(change.intended.get("baked_in"))
        refuse_unsafe_function(current, tags, self.context, baked_in=baked_in)
        # The config is rebuilt now: its expiry counts from the start of the run.
        refuse_disk_over_storage(current, self.spec.fault_config())
        ours = self._environment_keys(current)
        refuse_environment(current, ours)
        # The function's architecture as it is now (published by prepare() when planned).
        layer = None if baked_in else self._layer_for(architecture_of(current))
        layers = None if layer is None else functions.layer_arns_of(current) + [layer.arn]

        def attach() -> None:
            # Lock first: a restore acts only on a function that carries the run's lock.
            functions.tag(clients, change.target_arn, {LOCK_TAG_KEY: self.context.run_id})
            functions.update_configuration(
                clients,
                change.target_arn,
                layers=layers,
                environment={**functions.environment_of(current), **ours},
                revision_id=current.get("RevisionId"),
            )

        return self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{self.type_name}:{change.target_arn}",
                fault_type=self.type_name,
                target=change.target,
                target_arn=change.target_arn,
                original=snapshot(current),
                # The restore recognises our layer by its CodeSha256, never by this ARN.
                intended={
                    "action": ACTION_ATTACH,
                    "layer_arn": layer and layer.arn,
                    "layer_code_sha256": layer and layer.code_sha256,
                    "environment": ours,
                    **({"baked_in": True} if baked_in else {}),
                },
            ),
            attach,
        )

    def _publish(
        self, change: PlannedChange, journal: Journal, attached: JournalEntry
    ) -> JournalEntry:
        clients, name = self.context.clients, function_name_of(change.target_arn)
        description = fault_version_description(self.context.run_id)
        latest = functions.get_configuration(clients, change.target_arn)
        return self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{attached.entry_id}:version",
                fault_type=self.type_name,
                target=f"{change.target} (fault version)",
                target_arn=change.target_arn,
                original={
                    "versions": [item["Version"] for item in functions.versions(clients, name)]
                },
                intended={
                    "action": ACTION_PUBLISH,
                    "description": description,
                    "layer_code_sha256": attached.intended.get("layer_code_sha256"),
                },
                part_of=attached.entry_id,
            ),
            lambda: {
                "version": functions.publish_version(
                    clients, name, description, latest.get("RevisionId")
                )
            },
        )

    def _await_active(
        self, change: PlannedChange, journal: Journal, published: JournalEntry
    ) -> None:
        """Until the fault version is Active; FaultVersionNotActive, journaled, if it is not
        (the run's restore then deletes it and puts back $LATEST)."""
        name, version = function_name_of(change.target_arn), str(published.intended["version"])
        try:
            functions.wait_until_version_active(self.context.clients, name, version)
        except functions.VersionNotActive as failure:
            message = f"{change.target}: fault {failure}; the alias was not changed"
            journal.update(published, detail=message)
            raise FaultVersionNotActive(message) from None
        journal.update(published, effective_at=utc_now())

    def _point_alias(
        self,
        change: PlannedChange,
        journal: Journal,
        attached: JournalEntry,
        published: JournalEntry,
    ) -> JournalEntry:
        clients, name = self.context.clients, function_name_of(change.target_arn)
        alias_name = str(change.intended["alias"])
        current = functions.get_alias(clients, name, alias_name)
        if current is None or alias_snapshot(current) != change.original["alias"]:
            raise PreflightRefused(
                f"{change.target}: the alias changed since the plan; re-run the plan"
            )
        version = str(published.intended["version"])
        refuse_other_code(clients, name, change.target, str(current["FunctionVersion"]), version)
        weight = float(change.intended["weight"])
        if weight >= 1.0:
            target_version, weights = version, {}
        else:
            target_version, weights = str(current["FunctionVersion"]), {version: weight}

        def point() -> None:
            functions.update_alias(
                clients,
                name,
                alias_name,
                version=target_version,
                weights=weights,
                revision_id=current.get("RevisionId"),
            )

        return self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{attached.entry_id}:alias:{alias_name}",
                fault_type=self.type_name,
                target=f"{change.target} (alias)",
                target_arn=change.target_arn,
                original=alias_snapshot(current),
                intended={
                    "action": ACTION_ALIAS,
                    "alias": alias_name,
                    "function_version": target_version,
                    "weights": weights,
                },
                part_of=attached.entry_id,
            ),
            point,
        )

    # -- permissions (permissions.py) ---------------------------------------

    @classmethod
    def required_permissions(
        cls, spec: LambdaExtensionSpec, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        return permissions.required_statements(
            spec, region=region, account_id=account_id, index=index
        )

    @classmethod
    def policy_statements(
        cls, spec: LambdaExtensionSpec, inputs: PolicyInputs
    ) -> list[PolicyStatement]:
        return cls.required_permissions(
            spec, region=inputs.region, account_id=inputs.account_id, index=inputs.index
        ) + permissions.target_statements(
            cls.target_configs(spec, inputs.clients),
            region=inputs.region,
            account_id=inputs.account_id,
            layer_arns=inputs.layer_arns,
            kms_key_arns=inputs.kms_key_arns,
        )

    @classmethod
    def target_configs(
        cls, spec: LambdaExtensionSpec, clients: AwsClients | None
    ) -> list[dict[str, Any]] | None:
        """The targets' configurations, None when `clients` cannot read them."""
        if clients is None:
            return None
        try:
            return [
                functions.get_configuration(clients, target.function)
                for target in cls(spec, FaultContext(clients, "", 0.0)).targets()
            ]
        except (ClientError, PreflightRefused):
            return None

    # -- restore ------------------------------------------------------------

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        return restore.restore_entry(entry, clients, run_id)

    @classmethod
    def locked_resources(cls, entry: JournalEntry) -> list[LockedResource]:
        return restore.locked_resources(entry)

    # -- helpers ------------------------------------------------------------

    def _environment_keys(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {
            extension_config.EXEC_WRAPPER_ENV_KEY: extension_config.WRAPPER_PATH,
            extension_config.CONFIG_ENV_KEY: extension_config.dump_config(
                self.spec.fault_config(),
                run_id=self.context.run_id,
                expires_at=self.context.expires_at,
                ephemeral_storage_mb=ephemeral_storage_mb(config),
            ),
        }

    def _layer_bytes(self, architecture: str) -> bytes:
        if architecture not in self._layer_zips:
            from chaos.faults.lambda_extension.layer import build_layer_zip

            self._layer_zips[architecture] = build_layer_zip(architecture)
        return self._layer_zips[architecture]

    def _layer_unzipped_size(self, architecture: str) -> int:
        with zipfile.ZipFile(io.BytesIO(self._layer_bytes(architecture))) as archive:
            return sum(info.file_size for info in archive.infolist())

    def _local_code_sha256(self, architecture: str) -> str:
        from chaos.faults.lambda_extension.layer import lambda_code_sha256

        return lambda_code_sha256(self._layer_bytes(architecture))


#: A function without Architectures runs on x86_64, Lambda's default ("Selecting and
#: configuring an instruction set architecture for your Lambda function", https://docs.aws.
#: amazon.com/lambda/latest/dg/foundation-arch.html).
DEFAULT_ARCHITECTURE = "x86_64"


def architecture_of(config: Mapping[str, Any]) -> str:
    """The function's instruction set architecture (Lambda allows exactly one)."""
    architectures = config.get("Architectures") or [DEFAULT_ARCHITECTURE]
    return str(architectures[0])


def refuse_other_code(
    clients: AwsClients, name: str, label: str, alias_version: str, fault_version: str
) -> None:
    """The fault version must run the alias's code: $LATEST may have changed since the plan
    (and a restore recognises the alias's version by the fault version's CodeSha256)."""
    before = functions.get_configuration(clients, name, alias_version).get("CodeSha256")
    published = functions.get_configuration(clients, name, fault_version).get("CodeSha256")
    if before != published:
        raise PreflightRefused(
            f"{label}: $LATEST's code changed since the plan (fault version "
            f"{fault_version} is not version {alias_version}'s code); "
            "re-run the plan"
        )
