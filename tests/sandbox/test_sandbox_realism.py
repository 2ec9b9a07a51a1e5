"""The sandbox with `aws` realism, live: seen only through boto3 and the HTTP front.

One sandbox for the module: realism aws, time scale 0.1 (CloudWatch lag 6 s, WAF checks
every 1 s and blocks up to 3 s late, drain 6 s), seed 7. The first test sends traffic whose
metrics the last test reads once CloudWatch would show them (at most ~70 s later).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chaos.sandbox.demo.seed import (
    AUTO_SCALING_GROUP_NAME,
    ECS_CLUSTER_NAME,
    ECS_SERVICE_NAME,
    JOURNAL_BUCKET,
    RATE_LIMIT,
    RATE_RULE_NAME,
)
from chaos.sandbox.process import control
from chaos.sandbox.realism import Realism
from chaos.sandbox.waf.rate import RateCheckModel
from tests.sandbox.support import Sandbox, live_sandbox, wait_for

TIME_SCALE = 0.1
SEED = 7
DRAIN_S = 60.0  # scaled: 6 s
SCALED_DRAIN_S = DRAIN_S * TIME_SCALE
METRIC_LAG_S = 60 * TIME_SCALE
API_DIMENSIONS = [{"Name": "ApiName", "Value": "orders-api"}, {"Name": "Stage", "Value": "prod"}]

pytestmark = pytest.mark.timeout(180)


@dataclass
class Traffic:
    """Requests of the first test, by the minute they were sent in (epoch seconds)."""

    minutes: Counter[int] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-realism"),
        GAMEDAY_SANDBOX_REALISM="aws",
        GAMEDAY_SANDBOX_TIME_SCALE=str(TIME_SCALE),
        GAMEDAY_SANDBOX_SEED=str(SEED),
        GAMEDAY_SANDBOX_DRAIN_S=str(DRAIN_S),
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return Traffic()


def api_count_datapoints(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every API Count datapoint of the last 10 minutes, at one-second resolution."""
    now = datetime.now(timezone.utc).timestamp()
    return list(
        sandbox.clients.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/ApiGateway",
            MetricName="Count",
            Dimensions=API_DIMENSIONS,
            StartTime=now - 600,
            EndTime=now + 60,
            Period=1,
            Statistics=["SampleCount", "Sum"],
        )["Datapoints"]
    )


def test_fresh_metrics_wait_for_the_end_of_their_minute_plus_the_lag(
    sandbox: Sandbox, traffic: Traffic
) -> None:
    for _ in range(5):
        sent_at = time.time()
        assert sandbox.request("/health").status == 200
        traffic.minutes[int(sent_at) - int(sent_at) % 60] += 1
    status = sandbox.status()["metrics"]
    assert (status["period_s"], status["lag_s"], status["emf_lag_s"]) == (60, 6.0, 12.0)
    assert status["pending_datapoints"] > 0
    if time.time() < min(traffic.minutes) + 60 + METRIC_LAG_S:  # else it may be visible
        assert api_count_datapoints(sandbox) == [], "nothing is visible before the lag"


@dataclass
class Subnets:
    by_az_id: dict[str, str]
    zone_of: dict[str, str]  # subnet id -> AZ name

    def without(self, az_id: str) -> list[str]:
        return [subnet for key, subnet in self.by_az_id.items() if key != az_id]


def subnets_of(sandbox: Sandbox) -> Subnets:
    by_az_id = dict(sandbox.state.service["subnet_ids_by_az_id"])
    described = sandbox.clients.client("ec2").describe_subnets(SubnetIds=list(by_az_id.values()))[
        "Subnets"
    ]
    return Subnets(by_az_id, {s["SubnetId"]: s["AvailabilityZone"] for s in described})


def service_tasks(sandbox: Sandbox, desired: str = "RUNNING") -> list[dict[str, Any]]:
    ecs = sandbox.clients.client("ecs")
    arns = ecs.list_tasks(
        cluster=ECS_CLUSTER_NAME, serviceName=ECS_SERVICE_NAME, desiredStatus=desired
    )["taskArns"]
    return list(ecs.describe_tasks(cluster=ECS_CLUSTER_NAME, tasks=arns)["tasks"]) if arns else []


def update_service_subnets(sandbox: Sandbox, subnet_ids: list[str]) -> dict[str, Any]:
    ecs = sandbox.clients.client("ecs")
    [service] = ecs.describe_services(cluster=ECS_CLUSTER_NAME, services=[ECS_SERVICE_NAME])[
        "services"
    ]
    awsvpc = {**service["networkConfiguration"]["awsvpcConfiguration"], "subnets": subnet_ids}
    return dict(
        ecs.update_service(
            cluster=ECS_CLUSTER_NAME,
            service=ECS_SERVICE_NAME,
            forceNewDeployment=True,
            networkConfiguration={"awsvpcConfiguration": awsvpc},
        )["service"]
    )


def ecs_settled_in(sandbox: Sandbox, zones: set[str]) -> bool:
    [service] = sandbox.clients.client("ecs").describe_services(
        cluster=ECS_CLUSTER_NAME, services=[ECS_SERVICE_NAME]
    )["services"]
    running = {
        task["availabilityZone"]
        for task in service_tasks(sandbox)
        if task["lastStatus"] == "RUNNING"
    }
    return (
        len(service["deployments"]) == 1
        and running == zones
        and service["deployments"][0]["rolloutState"] == "COMPLETED"
    )


def group_instances(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(
        sandbox.clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[AUTO_SCALING_GROUP_NAME]
        )["AutoScalingGroups"][0]["Instances"]
    )


def update_group_subnets(sandbox: Sandbox, subnet_ids: list[str]) -> None:
    sandbox.clients.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=AUTO_SCALING_GROUP_NAME, VPCZoneIdentifier=",".join(subnet_ids)
    )


def watch_group(sandbox: Sandbox, done: Any) -> list[list[dict[str, Any]]]:
    """Snapshots of the group's instances until `done(instances)` (bounded)."""
    snapshots: list[list[dict[str, Any]]] = []

    def settled() -> bool:
        snapshots.append(group_instances(sandbox))
        return bool(done(snapshots[-1]))

    wait_for(settled, timeout=60, what="the group's instances to settle", interval=0.1)
    return snapshots


def test_ecs_tasks_and_asg_instances_leave_a_lost_az_over_the_drain_and_come_back(
    sandbox: Sandbox,
) -> None:
    subnets = subnets_of(sandbox)
    lost_zone = subnets.zone_of[subnets.by_az_id["use1-az1"]]
    all_zones = set(subnets.zone_of.values())
    assert sandbox.status()["placement"]["drain_s"] == pytest.approx(SCALED_DRAIN_S)
    assert ecs_settled_in(sandbox, all_zones)
    old_tasks = {task["taskArn"] for task in service_tasks(sandbox)}

    updated = update_service_subnets(sandbox, subnets.without("use1-az1"))
    assert [d["rolloutState"] for d in updated["deployments"]] == ["IN_PROGRESS", "COMPLETED"]
    update_group_subnets(sandbox, subnets.without("use1-az1"))

    snapshots = watch_group(
        sandbox,
        lambda instances: (
            len(instances) == 3
            and all(
                i["AvailabilityZone"] != lost_zone and i["LifecycleState"] == "InService"
                for i in instances
            )
        ),
    )
    for instances in snapshots:  # launch before terminate: never under 3 in service
        assert sum(i["LifecycleState"] == "InService" for i in instances) >= 3, instances
    assert any(i["LifecycleState"] == "Terminating" for s in snapshots for i in s)
    assert sorted(Counter(i["AvailabilityZone"] for i in snapshots[-1]).values()) == [1, 2]

    wait_for(
        lambda: ecs_settled_in(sandbox, all_zones - {lost_zone}),
        timeout=60,
        what="the ECS deployment to complete outside the lost AZ",
    )
    stopped = [t for t in service_tasks(sandbox, "STOPPED") if t["taskArn"] in old_tasks]
    new = service_tasks(sandbox)
    assert len(stopped) == 3 and {t["lastStatus"] for t in stopped} == {"STOPPED"}
    assert sorted(Counter(t["availabilityZone"] for t in new).values()) == [1, 2]
    for task in stopped:  # drained for the drain time, after the new tasks ran
        assert (task["stoppedAt"] - task["stoppingAt"]).total_seconds() >= SCALED_DRAIN_S
        assert all(task["stoppingAt"] >= fresh["startedAt"] for fresh in new)

    update_service_subnets(sandbox, list(subnets.by_az_id.values()))
    update_group_subnets(sandbox, list(subnets.by_az_id.values()))
    wait_for(
        lambda: ecs_settled_in(sandbox, all_zones),
        timeout=60,
        what="the ECS tasks to come back to every AZ",
    )
    back = watch_group(
        sandbox,
        lambda instances: (
            len(instances) == 3
            and {i["AvailabilityZone"] for i in instances if i["LifecycleState"] == "InService"}
            == all_zones
        ),
    )
    for instances in back:
        assert sum(i["LifecycleState"] == "InService" for i in instances) >= 3, instances


def test_the_waf_blocks_an_abusive_key_only_its_seeded_delay_after_seeing_it_over(
    sandbox: Sandbox,
) -> None:
    waf = sandbox.status()["waf"]
    assert waf["check_interval_s"] == pytest.approx(10 * TIME_SCALE) and waf["estimated_rate"]
    model = RateCheckModel.for_realism(Realism(mode="aws", time_scale=TIME_SCALE, seed=SEED))

    def block_delay(ip: str) -> float:
        return model.delay_s(RATE_RULE_NAME, (ip,), "block")

    abuser = max((f"198.51.100.{index}" for index in range(1, 21)), key=block_delay)
    headers = {"X-Forwarded-For": abuser}
    statuses: list[int] = []
    with ThreadPoolExecutor(4) as pool:
        deadline = time.monotonic() + 60
        while 403 not in statuses and len(statuses) < 20_000 and time.monotonic() < deadline:
            statuses.extend(
                pool.map(lambda _: sandbox.request("/health", headers=headers).status, range(20))
            )
    assert 403 in statuses, "the abusive key was never blocked"
    block = sandbox.status()["waf"]["blocks"][RATE_RULE_NAME][abuser]
    delay = block["blocks_at"] - block["over_since"]
    # its seeded delay after it went over, or the first check after that if the draw was
    # shorter than the wait for a check
    assert block_delay(abuser) - 1e-6 <= delay <= 30 * TIME_SCALE
    assert statuses.index(403) > RATE_LIMIT, "requests over the limit got through first"
    blocked = sandbox.request("/health", headers=headers)
    assert (blocked.status, blocked.body) == (403, b'{"message":"Forbidden"}')
    assert blocked.headers["content-type"] == "application/json"
    with custom_block_response(sandbox):
        custom = wait_for(
            lambda: (reply := sandbox.request("/health", headers=headers)).status == 429 and reply,
            timeout=10,
            what="the custom response",
        )
    assert custom.body == b"slow down" and custom.headers["reason"] == "rate"


@contextmanager
def custom_block_response(sandbox: Sandbox) -> Iterator[None]:
    """The rate rule answers blocks with 429, a text body and a header, for a while."""
    wafv2 = sandbox.clients.client("wafv2")
    arn = sandbox.state.service["web_acl_arn"]
    name, acl_id = arn.rsplit("/", 2)[-2:]

    def update(acl: dict[str, Any], **changes: Any) -> None:
        lock = wafv2.get_web_acl(Name=name, Scope="REGIONAL", Id=acl_id)["LockToken"]
        wafv2.update_web_acl(
            Name=name,
            Scope="REGIONAL",
            Id=acl_id,
            LockToken=lock,
            DefaultAction=acl["DefaultAction"],
            Rules=acl["Rules"],
            VisibilityConfig=acl["VisibilityConfig"],
            **changes,
        )

    original = wafv2.get_web_acl(Name=name, Scope="REGIONAL", Id=acl_id)["WebACL"]
    [rule] = original["Rules"]
    custom = {
        **rule,
        "Action": {
            "Block": {
                "CustomResponse": {
                    "ResponseCode": 429,
                    "CustomResponseBodyKey": "slow",
                    "ResponseHeaders": [{"Name": "reason", "Value": "rate"}],
                }
            }
        },
    }
    update(
        {**original, "Rules": [custom]},
        CustomResponseBodies={"slow": {"ContentType": "TEXT_PLAIN", "Content": "slow down"}},
    )
    try:
        yield
    finally:
        update(original)


def test_the_journal_bucket_exists_and_s3_honours_conditional_writes(sandbox: Sandbox) -> None:
    assert control.env_lines(sandbox.state)[-1] == (
        f"export GAMEDAY_JOURNAL=s3://{JOURNAL_BUCKET}/runs/"
    )
    s3 = sandbox.clients.client("s3")
    s3.head_bucket(Bucket=JOURNAL_BUCKET)
    key = "runs/conditional-write-check/journal.json"

    def refused(**arguments: Any) -> tuple[str, int]:
        with pytest.raises(ClientError) as raised:
            s3.put_object(
                Bucket=JOURNAL_BUCKET, Key=arguments.pop("Key", key), Body=b"x", **arguments
            )
        error = raised.value.response
        return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]

    first = s3.put_object(Bucket=JOURNAL_BUCKET, Key=key, Body=b"1", IfNoneMatch="*")
    assert refused(IfNoneMatch="*") == ("PreconditionFailed", 412)
    second = s3.put_object(Bucket=JOURNAL_BUCKET, Key=key, Body=b"2", IfMatch=first["ETag"])
    assert second["ETag"] != first["ETag"]
    assert refused(IfMatch=first["ETag"]) == ("PreconditionFailed", 412)
    assert refused(Key="runs/absent.json", IfMatch=first["ETag"]) == ("NoSuchKey", 404)
    assert s3.get_object(Bucket=JOURNAL_BUCKET, Key=key)["Body"].read() == b"2"


def race(s3: Any, key: str, writers: int) -> list[str]:
    """`writers` threads create `key` at the same moment with If-None-Match: *."""
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []

    def write(body: bytes) -> None:
        barrier.wait(timeout=10)
        try:
            s3.put_object(Bucket=JOURNAL_BUCKET, Key=key, Body=body, IfNoneMatch="*")
            outcomes.append("written")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    threads = [
        threading.Thread(target=write, args=(f"writer {n}".encode(),)) for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_racing_conditional_writes_have_exactly_one_winner(sandbox: Sandbox) -> None:
    """Two journal writers creating the same revision: S3 lets exactly one through."""
    s3 = sandbox.clients.client("s3")
    for round_ in range(5):
        outcomes = race(s3, f"runs/race-{round_}/journal-00000001.json", writers=12)
        assert set(outcomes) <= {"written", "PreconditionFailed"}, outcomes
        assert outcomes.count("written") == 1, outcomes


def test_metrics_become_visible_per_minute_once_the_lag_has_passed(
    sandbox: Sandbox, traffic: Traffic
) -> None:
    visible_at = max(traffic.minutes) + 60 + METRIC_LAG_S + 1.5  # + a flush
    time.sleep(max(0.0, min(90.0, visible_at - time.time())))
    wanted = {datetime.fromtimestamp(minute, timezone.utc) for minute in traffic.minutes}

    def sent_minutes_visible() -> list[dict[str, Any]] | None:
        points = api_count_datapoints(sandbox)
        return points if wanted <= {point["Timestamp"] for point in points} else None

    points = wait_for(sent_minutes_visible, timeout=30, what="the sent minutes' datapoints")
    assert all(point["Timestamp"].second == 0 for point in points), "one datapoint a minute"
    for point in points:
        minute = int(point["Timestamp"].timestamp())
        assert point["SampleCount"] == point["Sum"] >= traffic.minutes[minute]
