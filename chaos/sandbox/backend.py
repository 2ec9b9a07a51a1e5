"""Read the sandbox's control plane straight from moto's backend objects (same process).

The data plane needs what the AWS API does not hand out in moto: a function's code
bytes and its layers' bytes (moto's ``Content.Location`` is not downloadable), the web
ACL associated with a stage (moto lacks ``list_resources_for_web_acl``), NACL
associations. Everything here is read-only except :meth:`MotoReader.put_metric_data`,
which writes into moto's CloudWatch so the toolkit's collectors read it through boto3.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DEFAULT_ACCOUNT_ID = "123456789012"
ALL_TRAFFIC_PROTOCOLS = ("-1", "all")
ANY_IPV4 = "0.0.0.0/0"


@dataclass(frozen=True)
class LayerContent:
    arn: str
    code_sha256: str
    zip_bytes: bytes = field(repr=False)


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment of a function is built from, as configured now."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    code_sha256: str
    code_zip: bytes = field(repr=False)
    layers: tuple[LayerContent, ...] = ()
    subnet_az_ids: tuple[tuple[str, str], ...] = ()  # (subnet id, AZ ID), in VpcConfig order
    reserved_concurrency: int | None = None

    @property
    def revision(self) -> str:
        """Digest of everything whose change makes Lambda recycle the environments."""
        document = {
            "code": self.code_sha256,
            "handler": self.handler,
            "runtime": self.runtime,
            "timeout": self.timeout_s,
            "memory": self.memory_mb,
            "environment": self.environment,
            "layers": [layer.arn for layer in self.layers],
            "subnets": list(self.subnet_az_ids),
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ProxyIntegration:
    function_name: str
    timeout_s: float


class MotoReader:
    """Typed views of moto's in-process backends for one account and region."""

    def __init__(self, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id

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

    def function_config(self, name: str) -> FunctionConfig | None:
        """The function's current configuration, code and layers; None if it does not exist."""
        try:
            function = self._lambda().get_function(name)
        except Exception:  # noqa: BLE001 - moto raises its own not-found types
            return None
        layers = tuple(self._layer(entry["Arn"]) for entry in list(function.layers))
        vpc = function._vpc_config or {}
        reserved = function.reserved_concurrency
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

    def _layer(self, arn: str) -> LayerContent | None:
        version = self._lambda().layers_versions_by_arn(arn)
        if version is None:
            return None
        return LayerContent(arn=arn, code_sha256=version.code_sha_256,
                            zip_bytes=bytes(version.code_bytes))

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

    def blackholed_subnets(self, subnet_ids: list[str]) -> set[str]:
        """The subnets whose network ACL denies all traffic in or out."""
        blackholed = set()
        for acl in list(self._ec2().network_acls.values()):
            associated = {assoc.subnet_id for assoc in list(acl._associations.values())}
            hit = associated.intersection(subnet_ids)
            if hit and denies_all_traffic(acl_entries(acl)):
                blackholed.update(hit)
        return blackholed

    # -- API Gateway / WAF ----------------------------------------------------

    def proxy_integration(self, rest_api_id: str) -> ProxyIntegration | None:
        """The Lambda proxy integration of the API's ``{proxy+}`` resource (ANY method)."""
        try:
            api = self._apigateway().apis[rest_api_id]
        except KeyError:
            return None
        for resource in list(api.resources.values()):
            if resource.path_part != "{proxy+}":
                continue
            for method in list(resource.resource_methods.values()):
                integration = method.method_integration
                if integration is None or not integration.uri:
                    continue
                name = function_name_from_uri(str(integration.uri))
                if name:
                    millis = integration.timeout_in_millis or 29000
                    return ProxyIntegration(name, int(millis) / 1000.0)
        return None

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


def moto_timestamp(epoch_s: float) -> datetime:
    """moto's CloudWatch stores naive UTC datetimes and compares against them."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).replace(tzinfo=None)


def function_name_from_uri(uri: str) -> str | None:
    """``...:lambda:path/2015-03-31/functions/<function ARN>/invocations`` → function name."""
    marker = "/functions/"
    if marker not in uri:
        return None
    function_ref = uri.split(marker, 1)[1].split("/invocations", 1)[0]
    parts = function_ref.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6]
    return function_ref or None


def acl_entries(acl: Any) -> list[tuple[int, bool, str, str, str]]:
    """(rule number, egress, action, protocol, IPv4 CIDR) of every entry of a moto NACL."""
    return [
        (int(entry.rule_number), str(entry.egress).lower() == "true", str(entry.rule_action),
         str(entry.protocol), str(entry.cidr_block or ""))
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
