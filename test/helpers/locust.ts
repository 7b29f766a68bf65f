/** A locustfile for tests: one user class getting "/" every 50 ms, its requests named "home". */
export const LOCUSTFILE = `from locust import HttpUser, task, constant

class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/", name="home")
`;
