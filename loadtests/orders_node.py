"""Load for the sandbox's Node.js function `orders-node`: the routes of `orders` under /node.

Run by `gameday run` (load.locustfile: loadtests/orders_node.py). By hand:
    locust -f loadtests/orders_node.py,chaos/load/locust_plugin.py --host $GAMEDAY_SANDBOX_ENDPOINT
Each task sends exactly one request: the WAF clients' pace counts tasks.
"""

from __future__ import annotations

import random

from locust import between, task

from chaos.load.users import GamedayUser

SKUS = ("sku-espresso", "sku-grinder", "sku-filter", "sku-mug", "sku-beans")
PREFIX = "/node"


class OrdersNodeUser(GamedayUser):
    """A shopper on orders-node: mostly reads, sometimes orders, re-reads what it ordered."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.order_ids: list[str] = []

    @task(6)
    def list_orders(self) -> None:
        self.client.get(f"{PREFIX}/orders", name=f"{PREFIX}/orders")

    @task(3)
    def get_order(self) -> None:
        if not self.order_ids:
            self.client.get(f"{PREFIX}/health", name=f"{PREFIX}/health")
            return
        order_id = random.choice(self.order_ids)
        self.client.get(f"{PREFIX}/orders/{order_id}", name=f"{PREFIX}/orders/{{id}}")

    @task(2)
    def create_order(self) -> None:
        items = [
            {"sku": random.choice(SKUS), "quantity": random.randint(1, 3)}
            for _ in range(random.randint(1, 3))
        ]
        response = self.client.post(
            f"{PREFIX}/orders", json={"items": items}, name=f"{PREFIX}/orders"
        )
        if response.status_code == 201:
            try:
                order_id = (response.json() or {}).get("id")
            except ValueError:  # a corrupted body
                order_id = None
            if order_id:
                self.order_ids = (self.order_ids + [order_id])[-20:]
