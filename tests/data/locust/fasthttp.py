"""FastHttpUser with task functions of the module, a pacing, and JSON sent as `data=json.dumps(...)`."""

import json

from locust import FastHttpUser, constant_throughput


def health(user):
    user.client.get("/api/health")


def list_runs(user):
    user.client.request("GET", "/api/runs?limit=20", name="runs page")


class ApiClient(FastHttpUser):
    wait_time = constant_throughput(2)
    tasks = {health: 3, list_runs: 1}

    def on_start(self):
        self.pick_module()

    def pick_module(self):
        response = self.client.get("/api/modules")
        self.module_id = response.json()["modules"][0]["id"]

    def on_stop(self):
        self.client.request(
            "POST",
            f"/api/modules/{self.module_id}/config",
            data=json.dumps({"parameters": {"max_results": 25}}),
            headers={"Content-Type": "application/json"},
        )
