"""Seed the sandbox's demo service (fixed names, see PRODUCT.md) through boto3."""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Final

from chaos.aws import AwsClients

REGION = "us-east-1"
FUNCTION_NAME = "orders"
FUNCTION_RUNTIME: Final = "python3.12"
NODE_FUNCTION_NAME = "orders-node"
NODE_FUNCTION_RUNTIME: Final = "nodejs20.x"
NODE_ROUTE = "node"  # orders-node answers under /node/ of the same REST API
AZ_IDS = ("use1-az1", "use1-az2", "use1-az3")
STAGE_NAME = "prod"
WEB_ACL_NAME = "orders-acl"
RATE_RULE_NAME = "orders-rate-limit"
RATE_LIMIT = 100
ALARM_NAME = "orders-5xx-high"
ECS_CLUSTER_NAME = "orders"
ECS_SERVICE_NAME = "web"
AUTO_SCALING_GROUP_NAME = "web-asg"
LAUNCH_TEMPLATE_NAME = "web"
WEB_CAPACITY = 3  # tasks of the ECS service, instances of the Auto Scaling group
JOURNAL_BUCKET = "gameday-journal"
JOURNAL_PREFIX = "runs/"  # where runs keep their journals (GAMEDAY_JOURNAL)


@dataclass
class SeededService:
    vpc_id: str
    subnet_ids_by_az_id: dict[str, str]
    security_group_id: str
    function_arn: str
    rest_api_id: str
    stage_arn: str
    web_acl_arn: str
    ecs_service_arn: str
    auto_scaling_group_name: str
    journal_bucket: str
    node_function_arn: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def orders_function_zip() -> bytes:
    source = resources.files("chaos.sandbox.demo").joinpath("orders_function.py").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("app.py", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def orders_node_function_zip() -> bytes:
    """orders-node's package: index.mjs (handler index.handler)."""
    source = resources.files("chaos.sandbox.demo").joinpath("orders_node.mjs").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("index.mjs", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def seed(clients: AwsClients) -> SeededService:
    ec2 = clients.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": "orders-vpc"}])
    subnets = {}
    for index, az_id in enumerate(AZ_IDS):
        subnet = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.40.{index}.0/24", AvailabilityZoneId=az_id
        )["Subnet"]
        ec2.create_tags(
            Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": f"orders-{az_id}"}]
        )
        subnets[az_id] = subnet["SubnetId"]
    security_group = ec2.create_security_group(
        GroupName="orders", Description="orders function", VpcId=vpc_id
    )["GroupId"]
    role_arn = clients.client("iam").create_role(
        RoleName="orders-function",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    function_arn = clients.lambda_.create_function(
        FunctionName=FUNCTION_NAME,
        Runtime=FUNCTION_RUNTIME,
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": orders_function_zip()},
        Timeout=10,
        MemorySize=256,
        VpcConfig={"SubnetIds": list(subnets.values()), "SecurityGroupIds": [security_group]},
        Environment={"Variables": {"ORDERS_TABLE": "orders", "LOG_LEVEL": "INFO"}},
        Tags={"app": "orders", "team": "payments"},
    )["FunctionArn"]
    node_function_arn = clients.lambda_.create_function(
        FunctionName=NODE_FUNCTION_NAME,
        Runtime=NODE_FUNCTION_RUNTIME,
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": orders_node_function_zip()},
        Timeout=10,
        MemorySize=256,
        VpcConfig={"SubnetIds": list(subnets.values()), "SecurityGroupIds": [security_group]},
        Environment={"Variables": {"ORDERS_TABLE": "orders-node", "LOG_LEVEL": "INFO"}},
        Tags={"app": "orders-node"},
    )["FunctionArn"]
    rest_api_id, stage_arn = _rest_api(clients, function_arn, node_function_arn)
    web_acl_arn = _web_acl(clients, stage_arn)
    clients.client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM_NAME,
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Dimensions=[
            {"Name": "ApiName", "Value": "orders-api"},
            {"Name": "Stage", "Value": STAGE_NAME},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        # More 5xx in a minute than the shipped demo's 5 % error fault makes (~40): the
        # sandbox evaluates alarms, and a stop condition must trip on an outage, not on it.
        Threshold=100,
        ComparisonOperator="GreaterThanThreshold",
    )
    web_security_group = ec2.create_security_group(
        GroupName="web", Description="web service", VpcId=vpc_id
    )["GroupId"]
    ecs_service_arn = _ecs_service(clients, list(subnets.values()), web_security_group)
    _auto_scaling_group(clients, list(subnets.values()), web_security_group)
    clients.client("s3").create_bucket(Bucket=JOURNAL_BUCKET)
    return SeededService(
        vpc_id,
        subnets,
        security_group,
        function_arn,
        rest_api_id,
        stage_arn,
        web_acl_arn,
        ecs_service_arn,
        AUTO_SCALING_GROUP_NAME,
        JOURNAL_BUCKET,
        node_function_arn,
    )


def _ecs_service(clients: AwsClients, subnet_ids: list[str], security_group: str) -> str:
    """Fargate service `orders/web`: its tasks are placed by the sandbox's placement loop."""
    ecs = clients.client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER_NAME)
    ecs.register_task_definition(
        family=ECS_SERVICE_NAME,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": ECS_SERVICE_NAME,
                "essential": True,
                "image": "public.ecr.aws/nginx/nginx:stable",
                "portMappings": [{"containerPort": 80}],
            }
        ],
    )
    return str(
        ecs.create_service(
            cluster=ECS_CLUSTER_NAME,
            serviceName=ECS_SERVICE_NAME,
            taskDefinition=ECS_SERVICE_NAME,
            desiredCount=WEB_CAPACITY,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": subnet_ids,
                    "securityGroups": [security_group],
                    "assignPublicIp": "DISABLED",
                }
            },
        )["service"]["serviceArn"]
    )


def _auto_scaling_group(clients: AwsClients, subnet_ids: list[str], security_group: str) -> None:
    ec2 = clients.client("ec2")
    # Its own image: moto's default AMIs may be turned off (MOTO_EC2_LOAD_DEFAULT_AMIS).
    image_id = ec2.register_image(
        Name="gameday-sandbox-web", RootDeviceName="/dev/xvda", Architecture="x86_64"
    )["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=LAUNCH_TEMPLATE_NAME,
        LaunchTemplateData={
            "ImageId": image_id,
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [security_group],
        },
    )
    clients.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=AUTO_SCALING_GROUP_NAME,
        LaunchTemplate={"LaunchTemplateName": LAUNCH_TEMPLATE_NAME, "Version": "$Latest"},
        MinSize=WEB_CAPACITY,
        MaxSize=2 * WEB_CAPACITY,
        DesiredCapacity=WEB_CAPACITY,
        VPCZoneIdentifier=",".join(subnet_ids),
    )


def _rest_api(clients: AwsClients, function_arn: str, node_function_arn: str) -> tuple[str, str]:
    apigateway = clients.client("apigateway")
    api_id = apigateway.create_rest_api(name="orders-api")["id"]
    root_id = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    proxy_id = apigateway.create_resource(restApiId=api_id, parentId=root_id, pathPart="{proxy+}")[
        "id"
    ]
    _proxy_to(apigateway, api_id, proxy_id, function_arn)
    # /node wins over /{proxy+} at the first level, so /node/... reaches orders-node only
    node_id = apigateway.create_resource(restApiId=api_id, parentId=root_id, pathPart=NODE_ROUTE)[
        "id"
    ]
    node_proxy_id = apigateway.create_resource(
        restApiId=api_id, parentId=node_id, pathPart="{proxy+}"
    )["id"]
    _proxy_to(apigateway, api_id, node_proxy_id, node_function_arn)
    apigateway.create_deployment(restApiId=api_id, stageName=STAGE_NAME)
    return api_id, f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/{STAGE_NAME}"


def _proxy_to(apigateway: Any, api_id: str, resource_id: str, function_arn: str) -> None:
    """ANY on the resource, a Lambda proxy integration to the function."""
    apigateway.put_method(
        restApiId=api_id, resourceId=resource_id, httpMethod="ANY", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}"
        "/invocations",
        timeoutInMillis=29000,
    )


def _web_acl(clients: AwsClients, stage_arn: str) -> str:
    wafv2 = clients.client("wafv2")

    def visibility(metric: str) -> dict[str, Any]:
        return {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": metric,
        }

    rate_rule = {
        "Name": RATE_RULE_NAME,
        "Priority": 0,
        "Action": {"Block": {}},
        "VisibilityConfig": visibility(RATE_RULE_NAME),
        "Statement": {
            "RateBasedStatement": {
                "Limit": RATE_LIMIT,
                "EvaluationWindowSec": 60,
                "AggregateKeyType": "FORWARDED_IP",
                "ForwardedIPConfig": {"HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH"},
            }
        },
    }
    acl = wafv2.create_web_acl(
        Name=WEB_ACL_NAME,
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig=visibility(WEB_ACL_NAME),
        Rules=[rate_rule],
    )["Summary"]
    wafv2.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn)
    return str(acl["ARN"])
