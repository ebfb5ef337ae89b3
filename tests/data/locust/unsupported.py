import random

from locust import FastHttpUser, SequentialTaskSet, constant, constant_pacing, tag, task


class Checkout(SequentialTaskSet):
    @task
    def cart(self):
        self.client.get("/cart")


class ShopUser(FastHttpUser):
    wait_time = constant_pacing(2)
    tasks = [Checkout]

    @tag("browse")
    @task(3)
    def browse(self):
        for page in range(3):
            self.client.get(f"/items?page={page}")
        self.client.get("/items", headers={"Accept": "application/json"})

    @task
    def login(self):
        self.client.post("/login", data={"user": "ana", "password": "hunter2"})

    @task
    def check(self):
        with self.client.get("/health", catch_response=True) as response:
            if response.status_code != 200:
                response.failure("unhealthy")
            elif response.elapsed.total_seconds() > 0.5:
                response.failure("too slow")

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
        self.client.request("HEAD", "/ping", name="ping")
