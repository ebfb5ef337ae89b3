"""Form bodies as `data={...}`: sent as the gate's `form:`; a literal secret is read from the environment."""

from locust import HttpUser, between, task


class Shopper(HttpUser):
    wait_time = between(1, 2)
    user = "ana"

    def on_start(self):
        self.client.post("/login", data={"user": "ana", "password": "hunter2", "remember": True})

    @task
    def search(self):
        self.client.post("/search", data={"q": "shoes", "page": 2, "by": f"{self.user}"})
