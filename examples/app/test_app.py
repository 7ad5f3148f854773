"""Tests of the example Nexios app: every endpoint driven in-process through ASGI (no network), the
metrics' names and labels against components/appmetrics and the rules that query them, the JSON log
lines, bad input, /db against SQLite and a throwaway PostgreSQL server when this machine has one, and
run.py started as a real server on a loopback port.

Run with the interpreter Debian's python3-uvicorn, python3-prometheus-client and python3-psycopg2 are
installed for:
    /usr/bin/python3 -m unittest discover -s examples/app -v
"""

import asyncio
import io
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

try:
    import app  # first: it configures prometheus_client before that is imported
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError(
        "%s: run the tests with the python3 that has Debian's python3-uvicorn and python3-prometheus-client "
        "(apt-get install -y python3-uvicorn python3-prometheus-client; /usr/bin/python3 -m unittest ...)" % e
    ) from e

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATABASE_URL = "postgresql://nexios:hunter2-db-password@db.example:5432/nexios"
SECRET_KEY = "s3cr3t-key-that-must-never-be-logged"
# The UID the program runs containers as (components/kube/kube.go NonRootUID).
NON_ROOT_UID = 10001


class Result:
    def __init__(self, messages):
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")

    def json(self):
        content_type = self.headers.get("content-type")
        if content_type != "application/json":
            raise AssertionError("content-type %r, want application/json" % content_type)
        return json.loads(self.body)


async def request(application, method, path, query=""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    await application(scope, receive, send)
    return Result(messages)


async def lifespan(application, *events):
    """Sends lifespan events ("startup", "shutdown") in order and returns the app's answers. Without a
    shutdown the app's lifespan task waits for one, as under uvicorn: it is cancelled once answered."""
    inbox = asyncio.Queue()
    answers = []

    async def send(message):
        answers.append(message["type"])

    for event in events:
        inbox.put_nowait({"type": "lifespan." + event})
    task = asyncio.ensure_future(application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    while len(answers) < len(events) and not task.done():
        await asyncio.sleep(0)
    if task.done():
        task.result()
    else:
        task.cancel()
    return answers


class AppTestCase(unittest.TestCase):
    """A fresh app per test, logging to a buffer, started (lifespan startup done) unless asked not to."""

    env = {"HOSTNAME": "nexios-7c9d-abcde", "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
           "DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY}
    start = True

    def setUp(self):
        self.stream = io.StringIO()
        self.app = app.create_app(dict(self.env), self.stream)
        if self.start:
            self.run_async(lifespan(self.app, "startup"))

    def run_async(self, coroutine):
        return asyncio.run(coroutine)

    def call(self, method, path, query=""):
        return self.run_async(request(self.app, method, path, query))

    def get(self, path, query=""):
        return self.call("GET", path, query)

    def post(self, path, query=""):
        return self.call("POST", path, query)

    def log_lines(self):
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def request_logs(self):
        return [line for line in self.log_lines() if line["message"] == "request"]

    def samples(self, name):
        """The samples called name in /metrics' output, as (labels, value) pairs."""
        text = self.get("/metrics").body.decode()
        found = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    found.append((sample.labels, sample.value))
        return found

    def assertBadRequest(self, result, mentions):
        self.assertEqual(result.status, 400, result.body)
        error = result.json()["error"]
        self.assertIn(mentions, error)


class TestEndpoints(AppTestCase):
    def test_root_greets_with_the_pod_name(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"message": "Hello from Nexios", "pod": "nexios-7c9d-abcde"})

    def test_a_broken_release_fails_the_root_but_not_the_probes(self):
        for value, root in (("true", 500), ("TRUE", 500), ("", 200), ("false", 200), ("1", 200)):
            with self.subTest(BROKEN_RELEASE=value):
                broken = app.create_app(dict(self.env, BROKEN_RELEASE=value), io.StringIO())
                self.run_async(lifespan(broken, "startup"))
                self.assertEqual(self.run_async(request(broken, "GET", "/")).status, root)
                for probe in ("/health", "/ready"):
                    self.assertEqual(self.run_async(request(broken, "GET", probe)).status, 200, probe)

    def test_health_is_ok(self):
        r = self.get("/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))

    def test_ready_once_started(self):
        r = self.get("/ready")
        self.assertEqual((r.status, r.json()["status"]), (200, "ready"))

    def test_metrics_is_prometheus_text(self):
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers)
        names = {f.name for f in text_string_to_metric_families(r.body.decode())}
        self.assertIn("process_cpu_seconds", names)

    def test_admin_health_fails_liveness_until_reset(self):
        r = self.post("/admin/health", "fail=true")
        self.assertEqual((r.status, r.json()), (200, {"health": "failing"}))
        r = self.get("/health")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["status"], "failing")
        self.assertEqual(self.get("/ready").status, 200, "liveness and readiness are independent")
        self.assertEqual(self.post("/admin/health", "fail=FALSE").status, 200)
        self.assertEqual(self.get("/health").status, 200)

    def test_admin_ready_takes_the_pod_out_until_reset(self):
        self.assertEqual(self.post("/admin/ready", "fail=true").json(), {"ready": False})
        r = self.get("/ready")
        self.assertEqual(r.status, 503)
        self.assertIn("/admin/ready", r.json()["reason"])
        self.assertEqual(self.get("/health").status, 200, "a pod out of the endpoints is still alive")
        self.assertEqual(self.post("/admin/ready", "fail=false").json(), {"ready": True})
        self.assertEqual(self.get("/ready").status, 200)

    def test_work_burns_cpu_for_the_time_asked(self):
        cpu = time.process_time()
        start = time.monotonic()
        r = self.get("/work", "ms=200")
        elapsed, used = time.monotonic() - start, time.process_time() - cpu
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"worked_ms": 200, "pod": "nexios-7c9d-abcde"})
        self.assertGreaterEqual(elapsed, 0.2)
        # A tenth of the burn: sleeping would use next to nothing, and a busy shared machine may give
        # the burning thread much less than all of the 200 ms.
        self.assertGreaterEqual(used, 0.02, "/work should spend CPU, not sleep")

    def test_work_leaves_probes_answered(self):
        async def scenario():
            work = asyncio.ensure_future(request(self.app, "GET", "/work", "ms=500"))
            await asyncio.sleep(0.05)
            start = time.monotonic()
            health = await request(self.app, "GET", "/health")
            waited = time.monotonic() - start
            self.assertFalse(work.done(), "the probe should be answered while the burn goes on")
            await work
            return health, waited

        health, waited = self.run_async(scenario())
        self.assertEqual(health.status, 200)
        self.assertLess(waited, 0.3)

    def test_slow_sleeps_without_blocking(self):
        async def scenario():
            start = time.monotonic()
            slow = asyncio.ensure_future(request(self.app, "GET", "/slow", "ms=300"))
            await asyncio.sleep(0.01)
            health = await request(self.app, "GET", "/health")
            health_done = time.monotonic() - start
            result = await slow
            return result, health, health_done, time.monotonic() - start

        slow, health, health_done, slow_done = self.run_async(scenario())
        self.assertEqual(slow.status, 200)
        self.assertEqual(slow.json()["slept_ms"], 300)
        self.assertEqual(health.status, 200)
        self.assertLess(health_done, 0.2)
        self.assertGreaterEqual(slow_done, 0.3)

    def test_error_returns_the_5xx_asked_for(self):
        self.assertEqual(self.get("/error").status, 500)
        for status in (500, 502, 503, 599):
            r = self.get("/error", "status=%d" % status)
            self.assertEqual(r.status, status)
            self.assertEqual(r.json()["error"], "requested error %d" % status)

    def test_bad_parameters_get_400_with_a_json_error(self):
        cases = [
            ("GET", "/work", "", "'ms' is required"),
            ("GET", "/work", "ms=", "ms must be an integer from 0 to 5000"),
            ("GET", "/work", "ms=abc", "ms must be an integer from 0 to 5000, got 'abc'"),
            ("GET", "/work", "ms=-1", "got '-1'"),
            ("GET", "/work", "ms=5001", "got '5001'"),
            ("GET", "/work", "ms=1.5", "got '1.5'"),
            ("GET", "/work", "ms=1&ms=2", "given 2 times"),
            ("GET", "/work", "ms=%2B5", "got '+5'"),
            ("GET", "/work", "ms=1_000", "got '1_000'"),
            ("GET", "/work", "ms=" + "9" * 5000, "got '9999999999"),
            ("GET", "/slow", "", "'ms' is required"),
            ("GET", "/slow", "ms=10001", "ms must be an integer from 0 to 10000"),
            ("GET", "/error", "status=404", "status must be an integer from 500 to 599"),
            ("GET", "/error", "status=600", "got '600'"),
            ("GET", "/error", "status=five", "got 'five'"),
            ("POST", "/admin/health", "", "'fail' is required"),
            ("POST", "/admin/health", "fail=yes", "fail must be true or false, got 'yes'"),
            ("POST", "/admin/ready", "fail=1", "fail must be true or false"),
            ("POST", "/admin/ready", "fail=" + "x" * 100, "..."),
        ]
        for method, path, query, mentions in cases:
            with self.subTest(path=path, query=query):
                self.assertBadRequest(self.call(method, path, query), mentions)
        self.assertEqual(self.get("/health").status, 200, "a refused admin call changes nothing")
        self.assertEqual(self.get("/ready").status, 200)

    def test_wrong_method_and_unknown_path(self):
        r = self.get("/admin/health", "fail=true")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "POST")
        self.assertIn("takes POST", r.json()["error"])
        self.assertEqual(self.get("/health").status, 200)
        self.assertEqual(self.post("/health").status, 405)
        r = self.get("/nope")
        self.assertEqual(r.status, 404)
        self.assertIn("no route", r.json()["error"])

    def test_websocket_is_closed(self):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "websocket.connect"}

        self.run_async(self.app({"type": "websocket", "path": "/"}, receive, send))
        self.assertEqual(sent[0]["type"], "websocket.close")


class TestLifespan(AppTestCase):
    start = False

    def test_not_ready_before_startup_nor_after_shutdown(self):
        r = self.get("/ready")
        self.assertEqual((r.status, r.json()["reason"]), (503, "starting"))
        self.assertEqual(self.get("/health").status, 200, "liveness does not wait for startup")

        async def scenario():
            inbox = asyncio.Queue()
            answers = []

            async def send(message):
                answers.append(message["type"])

            task = asyncio.ensure_future(self.app({"type": "lifespan"}, inbox.get, send))
            inbox.put_nowait({"type": "lifespan.startup"})
            while not answers:
                await asyncio.sleep(0)
            ready = await request(self.app, "GET", "/ready")
            inbox.put_nowait({"type": "lifespan.shutdown"})
            await task
            stopped = await request(self.app, "GET", "/ready")
            return answers, ready, stopped

        answers, ready, stopped = self.run_async(scenario())
        self.assertEqual(answers, ["lifespan.startup.complete", "lifespan.shutdown.complete"])
        self.assertEqual(ready.status, 200)
        self.assertEqual((stopped.status, stopped.json()["reason"]), (503, "stopping"))

    def test_starts_without_database_url_and_secret_key(self):
        stream = io.StringIO()
        bare = app.create_app({}, stream)
        self.assertEqual(self.run_async(lifespan(bare, "startup", "shutdown")),
                         ["lifespan.startup.complete", "lifespan.shutdown.complete"])
        started = json.loads(stream.getvalue().splitlines()[0])
        self.assertEqual(started["message"], "application started")
        self.assertIs(started["database_url_set"], False)
        self.assertIs(started["secret_key_set"], False)
        self.assertEqual(started["pod"], socket.gethostname(), "without HOSTNAME the pod is the host name")


class TestDatabase(AppTestCase):
    """/db on SQLite (the standard library's), and its failures, which answer 503 without the URL."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nexios-db-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.env = dict(AppTestCase.env, DATABASE_URL="sqlite:///" + os.path.join(self.dir, "app.db"))
        super().setUp()

    def with_url(self, url):
        """The app restarted with DATABASE_URL set to url (unset when None)."""
        env = dict(self.env)
        env.pop("DATABASE_URL")
        if url is not None:
            env["DATABASE_URL"] = url
        self.stream = io.StringIO()
        self.app = app.create_app(env, self.stream)
        self.run_async(lifespan(self.app, "startup"))

    def test_writes_then_reads_newest_first(self):
        r = self.get("/db")
        self.assertEqual((r.status, r.json()["rows"], r.json()["latest"]), (200, 0, []), "a new table is empty")
        for value in ("one", "two", "three"):
            r = self.post("/db", "value=" + value)
            self.assertEqual(r.status, 201, r.body)
            self.assertEqual(r.json()["written"]["value"], value)
        r = self.get("/db", "limit=2")
        body = r.json()
        self.assertEqual((r.status, body["rows"], body["pod"]), (200, 3, "nexios-7c9d-abcde"))
        self.assertEqual([row["value"] for row in body["latest"]], ["three", "two"])
        self.assertEqual([row["id"] for row in body["latest"]], [3, 2])
        self.assertRegex(body["latest"][0]["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(len(self.get("/db").json()["latest"]), 3, "10 rows by default, 3 there")

    def test_rows_outlive_the_app(self):
        self.post("/db", "value=kept")
        self.with_url(self.env["DATABASE_URL"])
        self.assertEqual(self.get("/db").json()["latest"][0]["value"], "kept")

    def test_bad_parameters_get_400(self):
        for method, query, mentions in [
            ("POST", "", "query parameter 'value' is required"),
            ("POST", "value=", "value must be 1 to 200 characters, got 0"),
            ("POST", "value=" + "x" * 201, "value must be 1 to 200 characters, got 201"),
            ("POST", "value=a&value=b", "query parameter 'value' is given 2 times"),
            ("GET", "limit=0", "limit must be an integer from 1 to 100"),
            ("GET", "limit=101", "limit must be an integer from 1 to 100"),
        ]:
            with self.subTest(method=method, query=query):
                self.assertBadRequest(self.call(method, "/db", query), mentions)
        self.assertEqual(self.get("/db").json()["rows"], 0, "nothing was written")

    def test_without_database_url_503_names_the_variable(self):
        self.with_url(None)
        for method, query in (("GET", ""), ("POST", "value=x")):
            r = self.call(method, "/db", query)
            self.assertEqual((r.status, r.json()), (503, {"error": "DATABASE_URL is not set"}))

    def test_failures_answer_503_with_the_class_but_never_the_url(self):
        password = "hunter2-db-password"
        port = free_loopback_port()  # nothing listens there
        for url, want in [
            ("postgresql://nexios:%s@127.0.0.1:%d/nexios" % (password, port),
             {"error": "database error", "class": "psycopg2.OperationalError"}),
            ("postgres://nexios:%s@db.invalid/nexios" % password,
             {"error": "database error", "class": "psycopg2.OperationalError"}),
            ("sqlite:///" + os.path.join(self.dir, "no-such-folder", password, "app.db"),
             {"error": "database error", "class": "sqlite3.OperationalError"}),
            ("mysql://nexios:%s@db.example/nexios" % password,
             {"error": "DATABASE_URL's scheme 'mysql' is not postgresql://, postgres:// or sqlite:///"}),
        ]:
            with self.subTest(url=url):
                self.with_url(url)
                r = self.post("/db", "value=x")
                self.assertEqual((r.status, r.json()), (503, want))
                logged = self.stream.getvalue()
                self.assertIn('"status":503', logged)
                for secret in (url, password, "nexios:"):
                    self.assertNotIn(secret, logged + r.body.decode())

    def test_postgresql_without_psycopg2_is_a_503_naming_the_package(self):
        self.with_url("postgresql://nexios:pw@127.0.0.1/nexios")
        saved = sys.modules.get("psycopg2")
        sys.modules["psycopg2"] = None  # import psycopg2 raises ImportError
        try:
            r = self.get("/db")
        finally:
            if saved is None:
                del sys.modules["psycopg2"]
            else:
                sys.modules["psycopg2"] = saved
        self.assertEqual(r.status, 503)
        self.assertIn("python3-psycopg2", r.json()["error"])


# Debian's PostgreSQL 15 server, the one the nexios-postgres image holds, when this machine has it.
PG_BIN = "/usr/lib/postgresql/15/bin"


@unittest.skipUnless(os.path.exists(os.path.join(PG_BIN, "postgres")),
                     "no PostgreSQL 15 server here (apt-get install postgresql-15)")
class TestDatabasePostgres(AppTestCase):
    """/db on a throwaway PostgreSQL 15 server of its own (a loopback port, scram-sha-256 passwords as
    the image has them), run as nobody when the tests run as root, since PostgreSQL refuses root."""

    password = "hunter2 pg"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="nexios-pg-")
        user = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(cls.dir, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        data, pwfile = os.path.join(cls.dir, "data"), os.path.join(cls.dir, "password")
        with open(pwfile, "w") as f:
            f.write(cls.password + "\n")
        if user:
            os.chown(pwfile, user["user"], user["group"])
        init = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", data, "--username=nexios", "--pwfile=" + pwfile,
                               "--auth-local=trust", "--auth-host=scram-sha-256"],
                              capture_output=True, timeout=120, **user)
        os.remove(pwfile)
        if init.returncode != 0:
            shutil.rmtree(cls.dir)
            raise AssertionError("initdb: %s" % init.stderr.decode())
        cls.port = free_loopback_port()
        cls.server = subprocess.Popen([os.path.join(PG_BIN, "postgres"), "-D", data, "-k", cls.dir, "-p", str(cls.port),
                                       "-c", "listen_addresses=127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **user)
        deadline = time.monotonic() + 30
        while subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(cls.port)]).returncode:
            if time.monotonic() > deadline or cls.server.poll() is not None:
                cls.tearDownClass()
                raise AssertionError("the throwaway PostgreSQL did not start on port %d" % cls.port)
            time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGINT)  # fast shutdown
        cls.server.wait(timeout=30)
        shutil.rmtree(cls.dir)

    def url(self, password):
        return "postgresql://nexios:%s@127.0.0.1:%d/postgres" % (password.replace(" ", "%20"), self.port)

    def setUp(self):
        self.env = dict(AppTestCase.env, DATABASE_URL=self.url(self.password))
        super().setUp()

    def test_writes_then_reads_newest_first(self):
        before = self.get("/db").json()["rows"]
        first = self.post("/db", "value=first")
        second = self.post("/db", "value=second")
        self.assertEqual((first.status, second.status), (201, 201), second.body)
        body = self.get("/db", "limit=2").json()
        self.assertEqual(body["rows"], before + 2)
        self.assertEqual([row["value"] for row in body["latest"]], ["second", "first"])
        self.assertEqual(body["latest"][0], second.json()["written"])
        self.assertRegex(body["latest"][0]["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_wrong_password_is_a_503_without_it(self):
        self.stream = io.StringIO()
        self.app = app.create_app(dict(self.env, DATABASE_URL=self.url("not-the-password")), self.stream)
        r = self.get("/db")
        self.assertEqual((r.status, r.json()), (503, {"error": "database error", "class": "psycopg2.OperationalError"}))
        for secret in ("not-the-password", self.password, "nexios:"):
            self.assertNotIn(secret, self.stream.getvalue() + r.body.decode())


def go_constant(source, name):
    match = re.search(r"\b%s\s*=\s*\"([^\"]+)\"" % name, source)
    if not match:
        raise AssertionError("constant %s not found in components/appmetrics/appmetrics.go" % name)
    return match.group(1)


class TestMetrics(AppTestCase):
    def test_series_names_match_components_appmetrics(self):
        path = os.path.join(REPO, "components", "appmetrics", "appmetrics.go")
        if not os.path.exists(path):
            self.skipTest("not in the nexios-k8s repository")
        with open(path) as f:
            source = f.read()
        self.assertEqual(app.REQUESTS_TOTAL, go_constant(source, "RequestsTotal"))
        self.assertEqual(app.REQUEST_DURATION, go_constant(source, "RequestDuration"))
        self.assertIn(go_constant(source, "StatusLabel"), app.COUNTER_LABELS)
        self.assertIn("labelled method, path and status", source, "the counter's labels as appmetrics documents them")

    def test_rules_select_no_label_the_app_lacks(self):
        # The rules and the dashboard select the app's series by job and namespace (added by
        # Prometheus) and by status; they aggregate the histogram by le. Any other label in a
        # selector would have to come from the app.
        path = os.path.join(REPO, "components", "monitoring", "rules.go")
        if not os.path.exists(path):
            self.skipTest("not in the nexios-k8s repository")
        with open(path) as f:
            source = f.read()
        self.assertIn('appmetrics.StatusLabel', source)
        self.assertIn('sum by (namespace, le) (rate(%s_bucket{%s}[5m]))', source)
        self.assertIn('%[3]s=~"5.."', source)

    def test_counter_labels_method_path_status(self):
        self.get("/")
        self.get("/error", "status=503")
        self.get("/error")
        self.get("/work", "ms=0")
        self.post("/admin/ready", "fail=false")
        self.get("/work", "ms=bad")
        self.get("/does/not/exist")
        self.get("/health", "x=1")  # a 405 on a probe path is not counted either
        self.post("/health")
        self.call("BREW", "/")
        counts = {(s["method"], s["path"], s["status"]): v for s, v in self.samples("http_requests_total")}
        self.assertEqual(counts, {
            ("GET", "/", "200"): 1,
            ("GET", "/error", "503"): 1,
            ("GET", "/error", "500"): 1,
            ("GET", "/work", "200"): 1,
            ("GET", "/work", "400"): 1,
            ("POST", "/admin/ready", "200"): 1,
            ("GET", "unmatched", "404"): 1,
            ("other", "/", "405"): 1,
        })
        for labels, _ in self.samples("http_requests_total"):
            self.assertEqual(set(labels), set(app.COUNTER_LABELS))

    def test_error_ratio_as_the_alert_computes_it(self):
        for _ in range(3):
            self.get("/")
        self.get("/error")
        samples = self.samples("http_requests_total")
        errors = sum(v for s, v in samples if re.fullmatch("5..", s["status"]))
        total = sum(v for _, v in samples)
        self.assertEqual(100 * errors / total, 25)

    def test_probes_and_scrapes_are_not_counted(self):
        for path in ("/health", "/ready", "/metrics"):
            self.get(path)
        self.post("/admin/health", "fail=true")
        self.get("/health")  # a failing liveness probe is not a user's 5xx
        self.assertEqual([s["path"] for s, _ in self.samples("http_requests_total")], ["/admin/health"])
        self.assertEqual({s["path"] for s, _ in self.samples("http_request_duration_seconds_count")}, {"/admin/health"})

    def test_latency_histogram(self):
        self.get("/slow", "ms=300")
        self.get("/")
        buckets = {(s["path"], s["le"]): v for s, v in self.samples("http_request_duration_seconds_bucket")}
        self.assertEqual(buckets[("/slow", "0.25")], 0)
        self.assertEqual(buckets[("/slow", "0.5")], 1)
        self.assertEqual(buckets[("/", "0.005")], 1)
        self.assertEqual(buckets[("/slow", "+Inf")], 1)
        for labels, _ in self.samples("http_request_duration_seconds_bucket"):
            self.assertEqual(set(labels), set(app.HISTOGRAM_LABELS) | {"le"})
        total = {s["path"]: v for s, v in self.samples("http_request_duration_seconds_sum")}
        self.assertGreaterEqual(total["/slow"], 0.3)
        # The p95 alert's default thresholds (0.5 s warning, 1 s critical) and /slow's maximum are bucket bounds.
        for bound in (0.5, 1.0, app.MAX_SLOW_MS / 1000):
            self.assertIn(bound, app.DURATION_BUCKETS)

    def test_no_created_series(self):
        self.get("/")
        text = self.get("/metrics").body.decode()
        self.assertNotIn("_created", text)

    def test_instances_do_not_share_series(self):
        self.get("/")
        other = app.create_app({}, io.StringIO())
        text = asyncio.run(request(other, "GET", "/metrics")).body.decode()
        self.assertNotIn('path="/"', text)


class TestLogs(AppTestCase):
    def test_every_line_is_a_json_object_with_time_level_message(self):
        self.get("/")
        self.get("/error")
        self.get("/work", "ms=nope")
        self.post("/admin/health", "fail=true")
        for line in self.log_lines():
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(line["level"], app.LEVELS)
            self.assertIsInstance(line["message"], str)

    def test_request_lines(self):
        self.get("/", "name=x")
        self.get("/error", "status=502")
        self.get("/health")
        logs = self.request_logs()
        self.assertEqual([(l["level"], l["method"], l["path"], l["status"]) for l in logs], [
            ("info", "GET", "/", 200),
            ("error", "GET", "/error", 502),
            ("debug", "GET", "/health", 200),
        ])
        for line in logs:
            self.assertIsInstance(line["duration_ms"], float)
            self.assertGreaterEqual(line["duration_ms"], 0)
            self.assertNotIn("name=x", json.dumps(line), "the query string is not logged")

    def test_startup_line_says_whether_secrets_are_set(self):
        started = self.log_lines()[0]
        self.assertEqual(started["message"], "application started")
        self.assertIs(started["database_url_set"], True)
        self.assertIs(started["secret_key_set"], True)
        self.assertEqual(started["log_level"], "debug")

    def test_secrets_never_leave_the_process(self):
        bodies = []
        for method, path, query in [("GET", "/", ""), ("GET", "/health", ""), ("GET", "/ready", ""),
                                    ("GET", "/work", "ms=1"), ("GET", "/slow", "ms=1"), ("GET", "/error", ""),
                                    ("POST", "/admin/health", "fail=false"), ("POST", "/admin/ready", "fail=false"),
                                    ("GET", "/work", "ms=x"), ("GET", "/nope", ""), ("GET", "/metrics", ""),
                                    ("GET", "/db", ""), ("POST", "/db", "value=x")]:
            bodies.append(self.call(method, path, query).body.decode())
        self.run_async(lifespan(self.app, "shutdown"))
        everything = self.stream.getvalue() + "".join(bodies)
        for secret in (DATABASE_URL, "hunter2-db-password", SECRET_KEY):
            self.assertNotIn(secret, everything)

    def test_unexpected_exception_is_a_logged_500(self):
        async def broken(params):
            raise RuntimeError("boom")

        self.app.routes["/"]["GET"] = broken
        r = self.get("/")
        self.assertEqual((r.status, r.json()), (500, {"error": "internal server error"}))
        line = self.request_logs()[-1]
        self.assertEqual((line["level"], line["status"]), ("error", 500))
        self.assertIn("RuntimeError: boom", line["error"])
        self.assertEqual(self.samples("http_requests_total"), [({"method": "GET", "path": "/", "status": "500"}, 1)])


class TestLogLevel(unittest.TestCase):
    def lines(self, env):
        stream = io.StringIO()
        application = app.create_app(env, stream)
        asyncio.run(lifespan(application, "startup"))
        for path in ("/health", "/", "/error"):
            asyncio.run(request(application, "GET", path))
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    def test_default_is_info_without_probe_lines(self):
        lines = self.lines({})
        self.assertEqual([(l["level"], l.get("path")) for l in lines],
                         [("info", None), ("info", "/"), ("error", "/error")])

    def test_debug_shows_probe_lines(self):
        self.assertIn("/health", [l.get("path") for l in self.lines({"LOG_LEVEL": "debug"})])

    def test_case_insensitive_and_aliases(self):
        self.assertEqual([l["level"] for l in self.lines({"LOG_LEVEL": "ERROR"})], ["error"])
        self.assertEqual([l["level"] for l in self.lines({"LOG_LEVEL": "warn"})], ["error"])

    def test_bad_level_falls_back_to_info_with_a_warning(self):
        lines = self.lines({"LOG_LEVEL": "verbose"})
        self.assertEqual(lines[0]["level"], "warning")
        self.assertIn("LOG_LEVEL 'verbose'", lines[0]["message"])
        self.assertEqual(lines[1]["log_level"], "info")

    def test_only_json_format(self):
        self.assertEqual(len(self.lines({"LOG_FORMAT": "json"})), 3)
        lines = self.lines({"LOG_FORMAT": "text"})
        self.assertEqual(lines[0]["level"], "warning")
        self.assertIn("LOG_FORMAT 'text' is not supported", lines[0]["message"])

    def test_standard_library_records_become_json_lines(self):
        import logging
        stream = io.StringIO()
        logger = logging.getLogger("test_app.stdlib")
        logger.propagate = False
        logger.addHandler(app.JsonLogHandler(app.JsonLog("info", stream)))
        logger.setLevel(logging.DEBUG)
        logger.debug("hidden at info")
        logger.warning("Started %s", "server")
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        self.assertEqual([(l["level"], l["message"], l["logger"]) for l in lines],
                         [("warning", "Started server", "test_app.stdlib"), ("error", "failed", "test_app.stdlib")])
        self.assertIn("ValueError: bad", lines[1]["error"])


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestRun(unittest.TestCase):
    """run.py as the container starts it: its own process, a loopback port, the non-root UID when the
    tests run as root, secrets in the environment, SIGTERM to stop."""

    def setUp(self):
        # A copy of the sources, so nothing the server writes next to them could go unnoticed.
        self.dir = tempfile.mkdtemp(prefix="nexios-app-")
        self.addCleanup(shutil.rmtree, self.dir)
        for name in ("app.py", "run.py"):
            shutil.copy(os.path.join(HERE, name), self.dir)
        self.user = {}
        if os.geteuid() == 0:
            os.chown(self.dir, NON_ROOT_UID, NON_ROOT_UID)
            os.chmod(self.dir, 0o755)
            self.user = {"user": NON_ROOT_UID, "group": NON_ROOT_UID, "extra_groups": []}

    def test_serves_health_logs_json_and_stops_on_sigterm(self):
        port = free_loopback_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": str(port),
               "LOG_LEVEL": "debug", "LOG_FORMAT": "json", "HOSTNAME": "nexios-run-test",
               "DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY}
        proc = subprocess.Popen([sys.executable, os.path.join(self.dir, "run.py")], cwd=self.dir, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **self.user)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        base = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 20
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    health = (r.status, json.loads(r.read()))
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.assertEqual(health, (200, {"status": "ok"}), "run.py did not serve /health: %r" % (proc.poll(),))
        with urllib.request.urlopen(base + "/", timeout=2) as r:
            self.assertEqual(json.loads(r.read())["pod"], "nexios-run-test")
        with urllib.request.urlopen(base + "/ready", timeout=2) as r:
            self.assertEqual(r.status, 200)

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=15)
        self.assertEqual(proc.returncode, 0, stderr.decode())
        self.assertEqual(stderr.decode(), "", "everything goes to stdout")
        lines = [json.loads(line) for line in stdout.decode().splitlines()]
        messages = [l["message"] for l in lines]
        self.assertIn("application started", messages)
        self.assertIn("application stopped", messages)
        self.assertIn({"method": "GET", "path": "/health", "status": 200},
                      [{k: l[k] for k in ("method", "path", "status")} for l in lines if l["message"] == "request"])
        self.assertNotIn("uvicorn.access", {l.get("logger") for l in lines}, "uvicorn's access log is off")
        for secret in (DATABASE_URL, SECRET_KEY):
            self.assertNotIn(secret, stdout.decode())
        self.assertEqual(sorted(os.listdir(self.dir)), ["app.py", "run.py"], "run.py wrote next to its sources")

    def test_refuses_a_bad_port(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": "http"}
        proc = subprocess.run([sys.executable, os.path.join(self.dir, "run.py")], cwd=self.dir, env=env,
                              capture_output=True, timeout=15, **self.user)
        self.assertEqual(proc.returncode, 2)
        line = json.loads(proc.stdout.decode().splitlines()[-1])
        self.assertEqual(line["level"], "error")
        self.assertIn("PORT must be a TCP port", line["message"])


if __name__ == "__main__":
    unittest.main()
