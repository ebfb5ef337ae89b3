import random

from locust import FastHttpUser, TaskSet, between, constant, events, task


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    print("starting")


class Orphan(TaskSet):
    @task
    def nothing(self):
        self.client.get("/nowhere")


class ShopUser(FastHttpUser):
    wait_time = between(1, 2)
    fixed_count = 2

    @task(3)
    def browse(self):
        for page in range(random.randint(1, 5)):
            self.client.get(f"/items?page={page}")
        self.client.get("/items", headers={"Accept": "application/json"})

    @task
    def login(self):
        self.client.post("/login", data={"user": "ana", "password": "hunter2", "roles": ["a", "b"]})

    @task
    def search(self):
        self.client.get("/search?q=" + random.choice(["a", "b"]))

    @task
    def check(self):
        with self.client.get("/health", catch_response=True) as response:
            if response.status_code != 200:
                response.failure("unhealthy")
            elif "ok" not in response.text:
                response.failure("not ok")

    @task
    def order(self):
        with self.client.post("/orders", json={"item": 1}, catch_response=True) as r:
            if r.status_code in (201, 409):
                r.success()

    def pick(self):
        return random.choice(["a", "b"])


class QuietUser(FastHttpUser):
    wait_time = constant(0.25)

    @task
    def ping(self):
        self.client.request("HEAD", "/ping", name="ping", auth=("ana", "hunter2"))
