"""Shoppers for Locust: browse, order, look orders up, now and then a bad request or a demo scenario.

Every request starts its trace here, in the `load-generator` service: the requests library that Locust's
HttpUser speaks through is traced by the OpenTelemetry contrib instrumentation, which opens a CLIENT span
and injects `traceparent` and `baggage` into the request. Each request's baggage marks it synthetic
(`tracemesh.synthetic=true`, so it can be told from a person's in Jaeger) and may name a scenario.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# grpc's blocking calls (the OTLP exporter's) must cooperate with Locust's gevent loop, or an export would
# stall every simulated user.
import grpc.experimental.gevent
from locust import HttpUser, constant_throughput, events, task
from opentelemetry import baggage, context
from opentelemetry.instrumentation.requests import RequestsInstrumentor

from tracemesh_common.tracing import setup_telemetry
from tracemesh_demo.loadgen.settings import LoadSettings

grpc.experimental.gevent.init_gevent()

settings = LoadSettings()
telemetry = setup_telemetry("load-generator")
RequestsInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)

SKUS = ["BOOK-001", "MUG-042", "SHIRT-7", "STICKER-3", "LAMP-9"]


@events.quitting.add_listener
def _flush_spans(**_kwargs: Any) -> None:
    telemetry.shutdown()


@contextmanager
def request_baggage(scenario: str | None) -> Iterator[None]:
    """Makes the baggage of the next request current; the instrumentation injects it into the headers."""
    ctx = baggage.set_baggage("tracemesh.synthetic", "true")
    if scenario:
        ctx = baggage.set_baggage("tracemesh.scenario", scenario, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


class Shopper(HttpUser):
    wait_time = constant_throughput(settings.user_rate)

    def on_start(self) -> None:
        self.order_ids: list[str] = []

    def scenario(self) -> str | None:
        names = settings.scenario_names()
        return random.choice(names).value if names and random.random() < settings.scenario_share else None

    @task(4)
    def browse_products(self) -> None:
        with request_baggage(self.scenario()):
            self.client.get("/products")

    @task(3)
    def place_order(self) -> None:
        if random.random() < settings.bad_request_share:
            self.bad_order()
            return
        order = {"sku": random.choice(SKUS), "quantity": random.randint(1, 3)}
        # A key per order, as a careful client sends: a retry of this request could never order twice.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with (
            request_baggage(self.scenario()),
            self.client.post("/orders", json=order, headers=headers, catch_response=True) as response,
        ):
            if response.status_code == 201:
                self.order_ids = [response.json()["id"], *self.order_ids][:20]
            elif response.status_code == 409:
                response.success()  # sold out until the next restock: an answer, not a failure

    @task(2)
    def look_up_order(self) -> None:
        if self.order_ids:
            with request_baggage(self.scenario()):
                self.client.get(f"/orders/{random.choice(self.order_ids)}", name="/orders/{id}")

    @task(1)
    def list_orders(self) -> None:
        with request_baggage(self.scenario()):
            self.client.get("/orders", params={"limit": 20})

    def bad_order(self) -> None:
        """A deliberately bad request: it counts as a success when it gets the documented error."""
        body, expected, name = random.choice(
            [
                ('{"sku": "NO-SUCH-SKU", "quantity": 1}', 404, "/orders (unknown sku)"),
                ('{"sku": "LAMP-9", "quantity": 100000}', 409, "/orders (too many)"),
                ('{"sku": "BOOK-001", "quantity": 0}', 422, "/orders (invalid)"),
                ('{"sku": ', 400, "/orders (malformed JSON)"),
            ]
        )
        headers = {"content-type": "application/json"}
        with (
            request_baggage(None),
            self.client.post(
                "/orders", data=body, headers=headers, name=name, catch_response=True
            ) as response,
        ):
            if response.status_code == expected and "error" in response.json():
                response.success()
            else:
                response.failure(f"expected {expected} with an error body, got {response.status_code}")
