"""`gameday iam-policy`: the least-privilege policy a run of one experiment needs.

Each fault kind declares the API calls its plan, apply and restore make (see
`FaultKind.required_permissions`); the run itself adds what load, WAF discovery,
metrics and stop conditions call. sts:GetCallerIdentity needs no permission.

ARNs are in the target Region's partition; `partition` (`--partition`), or the caller
identity's when the policy is written with credentials, moves them (chaos.aws.partition).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.aws.apigateway import DISCOVERY_ACTION, api_of_endpoint, discovery_resources
from chaos.aws.partition import (
    arn,
    caller_partition,
    partition_of_region,
    statements_in_partition,
)
from chaos.faults import FAULT_KINDS, PolicyInputs
from chaos.history.permissions import history_permissions
from chaos.janitor.dead_letters import read_permissions as dead_letter_permissions
from chaos.janitor.timer import run_permissions as janitor_permissions
from chaos.journal import JournalLocation
from chaos.journal.permissions import revision_statements, version_statements
from chaos.metrics.catalog import reads_server_side_metrics
from chaos.policy import PolicyStatement, policy_document

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.experiment import Experiment


def experiment_policy(
    experiment: Experiment,
    account_id: str,
    clients: AwsClients | None = None,
    journal: str | None = None,
    janitor: bool = True,
    partition: str | None = None,
    layer_arns: tuple[str, ...] = (),
    kms_key_arns: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The policy; with `clients` that can read the targets, their own layers and KMS keys
    are named exactly; otherwise `layer_arns` and `kms_key_arns` name them, or named
    placeholders stand for them (never a wildcard: see FaultKind.policy_statements).

    With a `journal` (which a janitor needs) and unless `janitor` is False (--no-janitor),
    the run's janitor calls too: its schedule, created, moved and deleted; and what
    `gameday status` reads of the janitor: its dead-letter queue.
    """
    region = experiment.target.region
    statements: list[PolicyStatement] = []
    for index, spec in enumerate(experiment.faults):
        statements.extend(
            FAULT_KINDS[spec.type].policy_statements(
                spec,
                PolicyInputs(
                    region,
                    account_id,
                    index,
                    clients,
                    layer_arns=layer_arns,
                    kms_key_arns=kms_key_arns,
                ),
            )
        )
    statements.extend(integration_discovery_permissions(experiment, region))
    statements.extend(run_permissions(experiment, region=region, account_id=account_id))
    if journal:
        statements.extend(journal_permissions(JournalLocation.parse(journal), region))
        if janitor and experiment.faults:
            statements.extend(janitor_permissions(region, account_id))
        if janitor:
            statements.extend(dead_letter_permissions(region, account_id))
    partition = partition or (caller_partition(clients) if clients else None)
    if partition and partition != partition_of_region(region):
        statements = statements_in_partition(statements, partition)
    return policy_document(statements)


def integration_discovery_permissions(experiment: Experiment, region: str) -> list[PolicyStatement]:
    """Reading how the endpoint invokes Lambda, which preflight does for a fault kind that
    needs it (chaos.aws.apigateway): without it the run is refused."""
    if not any(FAULT_KINDS[spec.type].needs_endpoint_integrations for spec in experiment.faults):
        return []
    api = api_of_endpoint(experiment.target.endpoint)
    if api is None:  # no endpoint, or not an execute-api URL: nothing is read
        return []
    return [
        PolicyStatement(
            "EndpointIntegrations", (DISCOVERY_ACTION,), discovery_resources(api, region)
        )
    ]


def run_permissions(
    experiment: Experiment, *, region: str, account_id: str
) -> list[PolicyStatement]:
    """What the run calls besides the faults: metrics, WAF discovery, alarms."""
    statements = []
    server_side = reads_server_side_metrics(experiment)
    if server_side:
        # GetMetricData supports no resource-level permission.
        statements.append(
            PolicyStatement("ServerSideMetrics", ("cloudwatch:GetMetricData",), ("*",))
        )
    endpoint = experiment.target.endpoint or ""
    if server_side and ".execute-api." in endpoint:
        api_id = endpoint.split("//", 1)[-1].split(".", 1)[0]
        statements.append(
            PolicyStatement(  # the API's name, the ApiName metric dimension
                "ApiName",
                ("apigateway:GET",),
                (arn("apigateway", region, "", f"/restapis/{api_id}"),),
            )
        )
    waf = experiment.load.waf if experiment.load else None
    if waf is not None:
        actions = ("wafv2:GetWebACL",) + (
            ("wafv2:ListWebACLs",) if waf.web_acl else ("wafv2:GetWebACLForResource",)
        )
        resources: tuple[str, ...] = (
            arn("wafv2", region, account_id, "regional/webacl/*/*"),
            arn("apigateway", region, "", "/restapis/*/stages/*"),
        )
        if waf.web_acl and ":global/webacl/" in waf.web_acl:
            # A CLOUDFRONT-scope web ACL lives in us-east-1, whatever the target's Region.
            resources += (arn("wafv2", "us-east-1", account_id, "global/webacl/*/*"),)
        statements.append(PolicyStatement("WafRuleDiscovery", actions, resources))
    alarms = experiment.stop_conditions.alarms
    if alarms:
        statements.append(
            PolicyStatement(
                "StopConditionAlarms",
                ("cloudwatch:DescribeAlarms",),
                tuple(arn("cloudwatch", region, account_id, f"alarm:{name}") for name in alarms),
            )
        )
    return statements


def journal_permissions(location: JournalLocation, region: str) -> list[PolicyStatement]:
    """Writing the journal's revisions and reading them back from any machine: `status` and
    `rollback --journal` read an unfinished run's revisions as first written."""
    partition = partition_of_region(region)
    return (
        revision_statements(location, partition)
        + version_statements(location, partition)
        + history_permissions(location, partition)
    )
