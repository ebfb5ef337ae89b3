"""Load test of the PrismQ Web Client backend (the reference locustfile)."""

from locust import HttpUser, between, task


class WebClientUser(HttpUser):
    """A typical user of the dashboard."""

    wait_time = between(1, 3)
    host = "http://127.0.0.1:8000"

    def on_start(self):
        response = self.client.get("/api/modules")
        self.module_id = response.json()["modules"][0]["id"]

    @task(5)
    def get_modules(self):
        self.client.get("/api/modules")

    @task(3)
    def get_module_config(self):
        self.client.get(f"/api/modules/{self.module_id}/config", name="/api/modules/[id]/config")

    @task(2)
    def health_check(self):
        self.client.get("/api/health")

    @task
    def launch_module(self):
        response = self.client.post(
            f"/api/modules/{self.module_id}/run",
            json={"parameters": {"max_results": 10}, "save_config": False},
        )
        self.run_id = response.json()["run_id"]

    @task
    def get_logs(self):
        self.client.get(f"/api/runs/{self.run_id}/logs", params={"tail": 100})

    def on_stop(self):
        self.client.delete(f"/api/runs/{self.run_id}")


class HighLoadUser(HttpUser):
    """A user watching a live dashboard."""

    weight = 2
    wait_time = between(0.5, 1)

    @task(10)
    def get_runs(self):
        self.client.get("/api/runs?limit=20")

    @task(5)
    def system_stats(self):
        self.client.get("/api/system/stats")


class BurstUser(HttpUser):
    wait_time = between(5, 10)

    @task
    def burst(self):
        self.client.get("/api/modules")
        self.client.get("/api/runs")
        self.client.get("/api/system/stats")
        self.client.get("/api/health")
