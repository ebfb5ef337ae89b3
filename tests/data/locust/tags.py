"""Dashboard readers, tasks tagged for `locust --tags`; query strings as `params=`."""

from locust import HttpUser, between, tag, task


class DashboardReader(HttpUser):
    wait_time = between(0.5, 2)
    limit = 20

    @tag("list", "smoke")
    @task(4)
    def modules(self):
        self.client.get("/api/modules", headers={"Accept": "application/json"})

    @tag("list")
    @task(3)
    def recent_runs(self):
        self.client.get("/api/runs", params={"limit": 20, "status": "completed"})

    @tag("list")
    @task
    def run_pages(self):
        for offset in (0, 20, 40):
            self.client.get(f"/api/runs?limit=20&offset={offset}", name="/api/runs (pages)")

    @tag("smoke")
    @task
    def health(self):
        self.client.get("/api/health")

    @task(2)
    def stats(self):
        self.client.get("/api/system/stats", name="stats")
