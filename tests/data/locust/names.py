"""Requests grouped under one name with `name=`, a constant_pacing, and constant attributes."""

from locust import HttpUser, constant_pacing, task


class RunWatcher(HttpUser):
    host = "http://127.0.0.1:8000/"
    wait_time = constant_pacing(1)

    def on_start(self):
        self.tail = 50
        self.first_run = None
        response = self.client.post(
            "/api/modules/youtube_shorts/run",
            json={"parameters": {"max_results": 3}, "save_config": False},
            name="launch",
        )
        self.first_run = response.json()["run_id"]

    @task(3)
    def module(self):
        self.client.get("/api/modules/youtube_shorts", name="/api/modules/[id]")

    @task
    def run_logs(self):
        if self.first_run is None:
            return
        self.client.get(f"/api/runs/{self.first_run}/logs?tail={self.tail}", name="/api/runs/[id]/logs")

    @task
    def run(self):
        if self.first_run:
            self.client.get(url=f"/api/runs/{self.first_run}", name="/api/runs/[id]")
