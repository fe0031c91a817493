"""Locust users for benchmarks/load.py (run by it as `locust --headless`, never alone).

`ScoreClient`: a vendor system asking for one child's scores with explanations, over and over
without pause (a closed loop: each of them has one request in flight at any time).
`ReviewWriter`: a reviewer recording decisions; every 201 is appended, with the review's id, to
the file named by the config, so the harness can look each one up in the database afterwards.

The config (JSON, path in MIMAMORI_LOAD_CONFIG): keys, children, hardships, purpose,
reviews_file, review_writers.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from locust import FastHttpUser, constant, task
from locust.exception import StopUser

CONFIG: dict[str, Any] = json.loads(
    open(os.environ["MIMAMORI_LOAD_CONFIG"], encoding="utf-8").read()  # noqa: SIM115
)


class ScoreClient(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.headers = {"X-API-Key": CONFIG["keys"]["vendor"], "X-Purpose": CONFIG["purpose"]}

    @task
    def score(self) -> None:
        child = random.choice(CONFIG["children"])
        body = {"children": [{"child_id": child}], "explain": True, "top_k": 3}
        with self.client.post(
            "/v1/scores", json=body, headers=self.headers, name="/v1/scores", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class ReviewWriter(FastHttpUser):
    fixed_count = int(CONFIG["review_writers"])
    wait_time = constant(0.05)
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        if not CONFIG.get("reviews_route", True):
            raise StopUser()
        self.headers = {"X-API-Key": CONFIG["keys"]["reviewer"], "X-Purpose": CONFIG["purpose"]}

    @task
    def review(self) -> None:
        body = {
            "child_id": random.choice(CONFIG["children"]),
            "hardship": random.choice(CONFIG["hardships"]),
            "decision": random.choice(["monitoring", "preventive_support", "needs_information"]),
            "note": "load test",
        }
        with self.client.post(
            "/v1/reviews", json=body, headers=self.headers, name="/v1/reviews", catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            review_id = response.json()["id"]
            with open(CONFIG["reviews_file"], "a", encoding="utf-8") as out:
                out.write(f"{review_id}\n")
