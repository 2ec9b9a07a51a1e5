"""A REST API stage's routes: its resources and methods, matched as API Gateway matches them.

Pure data (no moto): :mod:`chaos.sandbox.process.moto_reader` builds a :class:`RouteTable` from
moto's API Gateway objects, the HTTP front matches requests against it.

Matching, as API Gateway documents it ("Set up API resources", https://docs.aws.amazon.com/
apigateway/latest/developerguide/api-gateway-method-settings-method-request.html): the path
is walked one resource level at a time; at each level a resource named exactly like the
path part wins over a ``{param}`` resource, which wins over a greedy ``{proxy+}`` resource
("a method request against a specific resource takes precedence over a method request
against a generic resource at the same level"), and there is no going back: once
``/parent`` matched, ``/{proxy+}`` no longer stands for ``/parent/*``. A greedy resource
takes one or more path parts, never none. On the resource found, the request's own method
wins over ``ANY``. Anything else is no route (403 ``Missing Authentication Token``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaos.sandbox.apigateway.throttling import ThrottleLimit
from chaos.sandbox.functions.configuration import LambdaTarget

ANY_METHOD = "ANY"
LAMBDA_PROXY = "AWS_PROXY"
LAMBDA_CUSTOM = "AWS"
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_FUNCTIONS_MARKER = "/functions/"
_INVOCATIONS_MARKER = "/invocations"


@dataclass(frozen=True)
class IntegrationResponseSpec:
    status_code: str
    selection_pattern: str | None = None
    response_templates: Mapping[str, str] = field(default_factory=dict)
    response_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IntegrationSpec:
    type: str  # AWS_PROXY, AWS, HTTP, HTTP_PROXY, MOCK
    uri: str = ""
    timeout_s: float = 29.0
    http_method: str | None = None  # the integration request's method (POST for Lambda)
    passthrough_behavior: str = "WHEN_NO_MATCH"
    request_templates: Mapping[str, str] = field(default_factory=dict)
    responses: tuple[IntegrationResponseSpec, ...] = ()

    def lambda_target(self, stage_variables: Mapping[str, str]) -> LambdaTarget | None:
        """The function the URI names once the stage's variables are substituted."""
        uri = _STAGE_VARIABLE.sub(lambda match: stage_variables.get(match.group(1), ""), self.uri)
        return lambda_target_from_uri(uri)


@dataclass(frozen=True)
class MethodSpec:
    http_method: str
    integration: IntegrationSpec | None
    response_status_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResourceSpec:
    id: str
    path: str
    path_part: str  # "" for the root
    methods: Mapping[str, MethodSpec] = field(default_factory=dict)
    children: tuple[ResourceSpec, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.path_part.startswith("{") and self.path_part.endswith("+}")

    @property
    def parameter(self) -> bool:
        return self.path_part.startswith("{") and self.path_part.endswith("}")

    @property
    def parameter_name(self) -> str:
        return self.path_part.strip("{}").rstrip("+")


@dataclass(frozen=True)
class RouteMatch:
    resource: ResourceSpec
    method: MethodSpec
    path_parameters: dict[str, str]


class RouteTable:
    """The resources of one deployed REST API, with its stage's variables."""

    def __init__(
        self,
        root: ResourceSpec,
        stage_variables: Mapping[str, str] | None = None,
        throttle_limits: Mapping[str, ThrottleLimit] | None = None,
    ) -> None:
        self.root = root
        self.stage_variables: dict[str, str] = dict(stage_variables or {})
        # The stage's method throttling by normalized methodSettings key (throttling.py).
        self.throttle_limits: dict[str, ThrottleLimit] = dict(throttle_limits or {})

    def with_stage_variables(
        self,
        stage_variables: Mapping[str, str],
        throttle_limits: Mapping[str, ThrottleLimit] | None = None,
    ) -> RouteTable:
        return RouteTable(self.root, stage_variables, throttle_limits)

    def match(self, http_method: str, path: str) -> RouteMatch | None:
        parts = [part for part in path.split("/") if part]
        resource: ResourceSpec | None = self.root
        parameters: dict[str, str] = {}
        for index, part in enumerate(parts):
            assert resource is not None
            resource, rest_taken = _child_for(resource, part, parts[index:], parameters)
            if resource is None:
                return None
            if rest_taken:
                break
        assert resource is not None
        method = resource.methods.get(http_method.upper()) or resource.methods.get(ANY_METHOD)
        if method is None:
            return None
        return RouteMatch(resource, method, parameters)

    def resources(self) -> list[ResourceSpec]:
        found: list[ResourceSpec] = []
        pending = [self.root]
        while pending:
            resource = pending.pop()
            found.append(resource)
            pending.extend(resource.children)
        return found


def _child_for(
    resource: ResourceSpec, part: str, rest: list[str], parameters: dict[str, str]
) -> tuple[ResourceSpec | None, bool]:
    """The child standing for ``part`` (and whether it took the rest of the path)."""
    for child in resource.children:
        if not child.parameter and child.path_part == part:
            return child, False
    for child in resource.children:
        if child.parameter and not child.greedy:
            parameters[child.parameter_name] = part
            return child, False
    for child in resource.children:
        if child.greedy:
            parameters[child.parameter_name] = "/".join(rest)
            return child, True
    return None, False


def build_tree(resources: list[tuple[str, str | None, str, dict[str, MethodSpec]]]) -> ResourceSpec:
    """The resource tree from flat (id, parent id, path part, methods) rows."""
    by_parent: dict[str | None, list[tuple[str, str | None, str, dict[str, MethodSpec]]]] = {}
    for row in resources:
        by_parent.setdefault(row[1], []).append(row)
    roots = by_parent.get(None) or [("root", None, "", {})]

    def node(
        row: tuple[str, str | None, str, dict[str, MethodSpec]], parent_path: str, depth: int
    ) -> ResourceSpec:
        resource_id, parent_id, path_part, methods = row
        if parent_id is None:  # the root resource (moto names its path part "/")
            path_part, path = "", "/"
        else:
            path = f"{parent_path.rstrip('/')}/{path_part}"
        children = (
            ()
            if depth > 64
            else tuple(node(child, path, depth + 1) for child in by_parent.get(resource_id, []))
        )
        return ResourceSpec(resource_id, path, path_part, methods, children)

    return node(roots[0], "", 0)


def lambda_target_from_uri(uri: str) -> LambdaTarget | None:
    """``arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION/invocations``.

    FUNCTION is a function ARN, optionally qualified (``...:function:NAME:QUALIFIER``), as
    API Gateway's Lambda integrations take it.
    """
    if _FUNCTIONS_MARKER not in uri:
        return None
    reference = uri.split(_FUNCTIONS_MARKER, 1)[1].split(_INVOCATIONS_MARKER, 1)[0]
    parts = reference.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        qualifier = parts[7] if len(parts) >= 8 and parts[7] else None
        return LambdaTarget(parts[6], qualifier)
    if not reference:
        return None
    name, _, qualifier = reference.partition(":")
    return LambdaTarget(name, qualifier or None)
