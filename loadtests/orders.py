"""Load for the sandbox `orders` API: browse, look up, order, health checks.

Run by `gameday run` (load.locustfile: loadtests/orders.py). By hand:
    locust -f loadtests/orders.py,chaos/load/locust_plugin.py --host $GAMEDAY_SANDBOX_ENDPOINT
Each task sends exactly one request: the WAF clients' pace counts tasks.
"""

from __future__ import annotations

import random

from locust import between, task

from chaos.load.users import GamedayUser

SKUS = ("sku-espresso", "sku-grinder", "sku-filter", "sku-mug", "sku-beans")


class OrdersUser(GamedayUser):
    """A shopper: mostly reads, sometimes orders, and re-reads what it ordered."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.order_ids: list[str] = []

    @task(6)
    def list_orders(self) -> None:
        self.client.get("/orders", name="/orders")

    @task(3)
    def get_order(self) -> None:
        if not self.order_ids:
            self.client.get("/health", name="/health")
            return
        order_id = random.choice(self.order_ids)
        with self.client.get(
            f"/orders/{order_id}", name="/orders/{id}", catch_response=True
        ) as response:
            if response.status_code == 404:  # the sandbox keeps orders per environment
                response.success()

    @task(2)
    def create_order(self) -> None:
        items = [
            {"sku": random.choice(SKUS), "quantity": random.randint(1, 3)}
            for _ in range(random.randint(1, 3))
        ]
        response = self.client.post("/orders", json={"items": items}, name="/orders")
        if response.status_code == 201:
            order_id = (response.json() or {}).get("id")
            if order_id:
                self.order_ids = (self.order_ids + [order_id])[-20:]

    @task(1)
    def health(self) -> None:
        self.client.get("/health", name="/health")
