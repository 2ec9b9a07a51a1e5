"""AwsClients: one boto3 Session per thread (sessions are not thread-safe, boto/boto3#2750);
clients, which are, are created once and shared."""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from chaos.aws.clients import AwsClients

SERVICES = ("lambda", "ec2", "ecs", "elbv2", "autoscaling", "s3", "sts", "scheduler")


@pytest.mark.usefixtures("fake_aws_credentials")
def test_no_session_is_used_by_two_threads_and_each_client_is_made_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads_of: dict[int, set[int]] = defaultdict(set)  # id(session) -> thread idents
    lock = threading.Lock()
    original = boto3.Session.client

    def client(session: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        with lock:
            threads_of[id(session)].add(threading.get_ident())
        return original(session, *args, **kwargs)

    monkeypatch.setattr(boto3.Session, "client", client)
    clients = AwsClients(region="us-east-1")
    start = threading.Barrier(8)

    def use(index: int) -> tuple[int, list[int]]:
        start.wait()  # all eight threads create clients at once
        made = [
            id(clients.client(SERVICES[(index + offset) % len(SERVICES)]))
            for offset in range(len(SERVICES))
        ]
        assert clients.session is clients.session  # stable within a thread
        return id(clients.session), made

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(use, range(8)))

    assert all(len(threads) == 1 for threads in threads_of.values()), dict(threads_of)
    assert len({session for session, _ in results}) == 8, "one session per thread"
    by_service = {id(clients.client(service)) for service in SERVICES}
    assert len(by_service) == len(SERVICES)
    assert all(set(made) == by_service for _, made in results), "clients are shared"
