"""A launch flow as a SequentialTaskSet, and browsing as a TaskSet, shared by two user classes."""

from locust import HttpUser, SequentialTaskSet, TaskSet, between, task


class LaunchFlow(SequentialTaskSet):
    """Open a module, read its config, launch it, follow the run."""

    def on_start(self):
        response = self.client.get("/api/modules")
        self.module_id = response.json()["modules"][0]["id"]

    @task
    def open_module(self):
        self.client.get(f"/api/modules/{self.module_id}")

    @task
    def read_config(self):
        self.client.get(f"/api/modules/{self.module_id}/config")

    @task
    def launch(self):
        response = self.client.post(
            f"/api/modules/{self.module_id}/run",
            json={"parameters": {"max_results": 5}, "save_config": False},
        )
        self.run_id = response.json()["run_id"]

    @task(2)
    def follow(self):
        self.client.get(f"/api/runs/{self.run_id}")

    @task
    def done(self):
        self.interrupt()


class Browse(TaskSet):
    @task(3)
    def runs(self):
        self.client.get("/api/runs?limit=10")

    @task
    def health(self):
        self.client.get("/api/health")


class Operator(HttpUser):
    wait_time = between(1, 2)
    tasks = {LaunchFlow: 1, Browse: 3}


class Viewer(HttpUser):
    weight = 3
    wait_time = between(1, 2)
    tasks = [Browse]
