"""Read the sandbox's control plane straight from moto's backend objects (same process).

The data plane needs what the AWS API does not hand out in moto: a function's code
bytes and its layers' bytes (moto's ``Content.Location`` is not downloadable), the web
ACL associated with a stage (moto lacks ``list_resources_for_web_acl``), NACL
associations. Everything here is read-only except :meth:`MotoReader.put_metric_data`,
which writes into moto's CloudWatch so the toolkit's collectors read it through boto3.

A stage serves its *deployment*, not the API's current resources: an API change takes
effect at the next CreateDeployment, as in API Gateway ("After creating your API, you
must deploy it to make it callable by your users", https://docs.aws.amazon.com/apigateway/
latest/developerguide/how-to-deploy-api.html). moto keeps no snapshot, so
:func:`remember_deployments` has the reader take one at every deployment.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chaos.sandbox.apigateway.routing import (
    IntegrationResponseSpec,
    IntegrationSpec,
    MethodSpec,
    RouteTable,
    build_tree,
)
from chaos.sandbox.apigateway.throttling import ThrottleLimit, normalized_key
from chaos.sandbox.cloudwatch.alarms import evaluate_alarms
from chaos.sandbox.functions.configuration import (
    LATEST,
    AliasRouting,
    FunctionConfig,
    LayerContent,
)

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_INTEGRATION_TIMEOUT_MS = 29000
ALL_TRAFFIC_PROTOCOLS = ("-1", "all")
ANY_IPV4 = "0.0.0.0/0"


# A function's configuration while an update is in progress, or None (functions.control_plane).
InProgressConfig = Callable[[str], "FunctionConfig | None"]


class MotoReader:
    """Typed views of moto's in-process backends for one account and region."""

    def __init__(self, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        self.in_progress_config: InProgressConfig | None = None
        self._deployments: dict[tuple[str, str], RouteTable] = {}
        self._deployments_lock = threading.Lock()

    # -- backends -------------------------------------------------------------

    def _lambda(self) -> Any:
        from moto.awslambda.models import lambda_backends

        return lambda_backends[self.account_id][self.region]

    def _ec2(self) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account_id][self.region]

    def _wafv2(self) -> Any:
        from moto.wafv2.models import wafv2_backends

        return wafv2_backends[self.account_id][self.region]

    def _apigateway(self) -> Any:
        from moto.apigateway.models import apigateway_backends

        return apigateway_backends[self.account_id][self.region]

    def _cloudwatch(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account_id][self.region]

    # -- Lambda ---------------------------------------------------------------

    def function_config(self, name: str, version: str = LATEST) -> FunctionConfig | None:
        """What invocations of ``$LATEST`` or a published version run now; None if absent.

        While an update of ``$LATEST`` is in progress that is the configuration from
        before the update ("invocations go to the function's previous code and
        configuration", https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
        Concurrency is a function-level setting and always the current one.
        """
        config = self.stored_function_config(name, version)
        if config is None or version != LATEST or self.in_progress_config is None:
            return config
        previous = self.in_progress_config(name)
        if previous is None:
            return config
        return dataclasses.replace(previous, reserved_concurrency=config.reserved_concurrency)

    def stored_function_config(self, name: str, version: str = LATEST) -> FunctionConfig | None:
        """The configuration moto stores for ``$LATEST`` or a version; None if absent."""
        try:
            function = self._lambda().get_function(name, None if version == LATEST else version)
            latest = self._lambda().get_function(name)
        except Exception:  # noqa: BLE001 - moto raises its own not-found types
            return None
        if version != LATEST and str(function.version) != version:
            return None  # an alias of that name, not a version
        layers = tuple(self._layer(entry["Arn"]) for entry in list(function.layers))
        vpc = function._vpc_config or {}
        reserved = latest.reserved_concurrency
        return FunctionConfig(
            name=function.function_name,
            arn=function.function_arn,
            handler=function.handler or "",
            runtime=function.run_time or "",
            timeout_s=float(function.timeout),
            memory_mb=int(function.memory_size),
            environment={str(k): str(v) for k, v in dict(function.environment_vars).items()},
            code_sha256=function.code_sha_256,
            code_zip=bytes(function.code_bytes),
            layers=tuple(layer for layer in layers if layer is not None),
            subnet_az_ids=self._subnet_az_ids(list(vpc.get("SubnetIds") or [])),
            reserved_concurrency=None if reserved is None else int(reserved),
        )

    def version_state(self, name: str, version: str) -> str | None:
        """A published version's State as moto keeps it (the sandbox sets Pending under
        realism aws); None when there is no such version."""
        try:
            function = self._lambda().get_function(name, version)
        except Exception:  # noqa: BLE001 - moto raises its own not-found types
            return None
        return str(getattr(function, "state", None) or "Active")

    def alias_routing(self, function_name: str, alias: str) -> AliasRouting | None:
        try:
            found = self._lambda().get_alias(alias, function_name)
        except Exception:  # noqa: BLE001 - moto raises its own not-found types
            return None
        weights = (found.routing_config or {}).get("AdditionalVersionWeights") or {}
        return AliasRouting(
            str(found.function_version), tuple((str(v), float(w)) for v, w in dict(weights).items())
        )

    def _layer(self, arn: str) -> LayerContent | None:
        version = self._lambda().layers_versions_by_arn(arn)
        if version is None:
            return None
        return LayerContent(
            arn=arn, code_sha256=version.code_sha_256, zip_bytes=bytes(version.code_bytes)
        )

    # -- EC2 ------------------------------------------------------------------

    def _subnet_az_ids(self, subnet_ids: list[str]) -> tuple[tuple[str, str], ...]:
        ec2 = self._ec2()
        pairs = []
        for subnet_id in subnet_ids:
            try:
                pairs.append((subnet_id, str(ec2.get_subnet(subnet_id).availability_zone_id)))
            except Exception:  # noqa: BLE001 - a deleted subnet places nothing
                continue
        return tuple(pairs)

    def blackholed_subnets(self, subnet_ids: list[str] | None = None) -> set[str]:
        """The subnets (of ``subnet_ids``, or all) whose network ACL denies all traffic."""
        blackholed = set()
        for acl in list(self._ec2().network_acls.values()):
            associated = {assoc.subnet_id for assoc in list(acl._associations.values())}
            hit = associated if subnet_ids is None else associated.intersection(subnet_ids)
            if hit and denies_all_traffic(acl_entries(acl)):
                blackholed.update(hit)
        return blackholed

    # -- API Gateway / WAF ----------------------------------------------------

    def route_table(self, rest_api_id: str, stage_name: str) -> RouteTable | None:
        """The routes the stage serves: its deployment's, with the stage's variables."""
        api = self._apigateway().apis.get(rest_api_id)
        stage = None if api is None else api.stages.get(stage_name)
        if stage is None:
            return None
        with self._deployments_lock:
            deployed = self._deployments.get((rest_api_id, str(stage.deployment_id)))
        if deployed is None:  # deployed before the reader was listening
            deployed = self.current_routes(api)
        return deployed.with_stage_variables(
            dict(stage.variables or {}), stage_throttle_limits(stage)
        )

    def remember_deployment(self, api: Any, deployment_id: str) -> None:
        table = self.current_routes(api)
        with self._deployments_lock:
            self._deployments[(str(api.id), deployment_id)] = table

    @staticmethod
    def current_routes(api: Any) -> RouteTable:
        """The API's resources and methods as they are now (moto's objects)."""
        rows = [
            (
                str(resource.id),
                resource.parent_id,
                str(resource.path_part),
                {
                    str(name).upper(): _method_spec(str(name).upper(), method)
                    for name, method in list(resource.resource_methods.items())
                },
            )
            for resource in list(api.resources.values())
        ]
        return RouteTable(build_tree(rows))

    def rest_api_name(self, rest_api_id: str) -> str | None:
        api = self._apigateway().apis.get(rest_api_id)
        return None if api is None else str(api.name)

    def web_acl_for(self, resource_arn: str) -> dict[str, Any] | None:
        """The web ACL associated with the resource, as WAF's GetWebACL returns it."""
        acl = self._wafv2().get_web_acl_for_resource(resource_arn)
        return None if acl is None else dict(acl.to_dict())

    # -- CloudWatch -----------------------------------------------------------

    def put_metric_data(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        self._cloudwatch().put_metric_data(namespace, metric_data)

    def evaluate_alarms(self, now: datetime) -> dict[str, str]:
        """Evaluate the metric alarms on the metrics CloudWatch shows now (moto never
        does); returns the alarms whose state changed."""
        return evaluate_alarms(self._cloudwatch(), now)


def _method_spec(name: str, method: Any) -> MethodSpec:
    integration = method.method_integration
    codes = frozenset(str(code) for code in dict(method.method_responses or {}))
    return MethodSpec(name, None if integration is None else _integration_spec(integration), codes)


def _integration_spec(integration: Any) -> IntegrationSpec:
    responses = tuple(
        IntegrationResponseSpec(
            status_code=str(response.status_code),
            selection_pattern=response.selection_pattern or None,
            response_templates={
                str(k): str(v) for k, v in dict(response.response_templates or {}).items() if v
            },
            response_parameters={
                str(k): str(v) for k, v in dict(response.response_parameters or {}).items()
            },
        )
        for response in dict(integration.integration_responses or {}).values()
    )
    millis = integration.timeout_in_millis or DEFAULT_INTEGRATION_TIMEOUT_MS
    return IntegrationSpec(
        type=str(integration.integration_type or "").upper(),
        uri=str(integration.uri or ""),
        timeout_s=int(millis) / 1000.0,
        http_method=str(integration.http_method) if integration.http_method else None,
        passthrough_behavior=str(integration.passthrough_behaviour or "WHEN_NO_MATCH"),
        request_templates={
            str(k): str(v or "") for k, v in dict(integration.request_templates or {}).items()
        },
        responses=responses,
    )


def stage_throttle_limits(stage: Any) -> dict[str, ThrottleLimit]:
    """The stage's method throttling settings (moto's ``method_settings``), by normalized key."""
    limits: dict[str, ThrottleLimit] = {}
    for key, setting in dict(getattr(stage, "method_settings", None) or {}).items():
        rate, burst = setting.get("throttlingRateLimit"), setting.get("throttlingBurstLimit")
        if rate is not None and burst is not None:
            limits[normalized_key(str(key))] = ThrottleLimit(float(rate), int(burst))
    return limits


def remember_deployments(reader: MotoReader) -> None:
    """Have the reader snapshot an API's routes at every CreateDeployment (this process)."""
    from moto.apigateway.models import RestAPI

    original = RestAPI.create_deployment

    def create_deployment(
        self: Any, name: str, description: str, stage_variables: Any = None
    ) -> Any:
        deployment = original(self, name, description, stage_variables)
        reader.remember_deployment(self, str(deployment.id))
        return deployment

    RestAPI.create_deployment = create_deployment  # type: ignore[method-assign]


def fix_moto_dimension_order() -> None:
    """Make moto match a metric's dimensions in any order, as CloudWatch does.

    moto 5's ``Dimension.__lt__`` is broken, so ``get_metric_data`` (which compares
    sorted dimension lists) misses multi-dimension metrics queried in another order.
    Only ever called in the sandbox process.
    """
    from moto.cloudwatch.models import Dimension

    def less_than(self: Any, other: Any) -> bool:
        return (str(self.name), str(self.value or "")) < (str(other.name), str(other.value or ""))

    Dimension.__lt__ = less_than  # type: ignore[method-assign]


def acl_entries(acl: Any) -> list[tuple[int, bool, str, str, str]]:
    """(rule number, egress, action, protocol, IPv4 CIDR) of every entry of a moto NACL."""
    return [
        (
            int(entry.rule_number),
            str(entry.egress).lower() == "true",
            str(entry.rule_action),
            str(entry.protocol),
            str(entry.cidr_block or ""),
        )
        for entry in list(acl.network_acl_entries)
    ]


def denies_all_traffic(entries: list[tuple[int, bool, str, str, str]]) -> bool:
    """True when, in either direction, the first all-traffic rule denies (or none exists).

    NACL rules are evaluated lowest number first; the implicit last rule denies, so a
    direction without an all-traffic allow is a blackhole.
    """
    for egress in (False, True):
        direction = sorted(entry for entry in entries if entry[1] == egress)
        decision = "deny"
        for _, _, action, protocol, cidr in direction:
            if protocol in ALL_TRAFFIC_PROTOCOLS and cidr == ANY_IPV4:
                decision = action
                break
        if decision == "deny":
            return True
    return False
