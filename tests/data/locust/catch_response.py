"""Answers checked by hand: status codes, JSON fields, and a time limit."""

from json import JSONDecodeError

from locust import HttpUser, constant, task


class CheckingUser(HttpUser):
    wait_time = constant(1)

    def on_start(self):
        with self.client.get("/api/modules", catch_response=True) as response:
            data = response.json()
            self.module_id = data["modules"][0]["id"]

    @task(3)
    def health(self):
        with self.client.get("/api/health", catch_response=True) as response:
            try:
                if response.json()["status"] != "healthy":
                    response.failure("not healthy")
            except JSONDecodeError:
                response.failure("not JSON")
            except KeyError:
                response.failure("no status")

    @task
    def launch(self):
        with self.client.post(
            f"/api/modules/{self.module_id}/run",
            json={"parameters": {"max_results": 10}, "save_config": False},
            catch_response=True,
        ) as response:
            if response.status_code in (202, 409):
                response.success()
            else:
                response.failure(f"launch answered {response.status_code}")

    @task
    def save_config(self):
        with self.client.post(
            f"/api/modules/{self.module_id}/config",
            json={"parameters": {"max_results": 50, "category": "Gaming"}},
            catch_response=True,
        ) as response:
            if response.status_code != 200 or response.json()["module_id"] != "youtube_shorts":
                response.failure("config not saved")

    @task(2)
    def stats(self):
        with self.client.get("/api/system/stats", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"stats answered {response.status_code}")
            elif response.elapsed.total_seconds() > 0.5:
                response.failure("stats too slow")
