"""The example Nexios app: the stand-in for a user's Nexios image in every real test of nexios-k8s.

A plain ASGI 3 application that keeps the contract the Pulumi program expects of a Nexios app
(README.md in this folder): probes on /health and /ready, Prometheus metrics on /metrics with the
series components/appmetrics names, JSON log lines on stdout, DATABASE_URL and SECRET_KEY read from
the environment and never logged. It imports only the standard library and prometheus_client, so
the image needs nothing beyond Debian bookworm's python3, python3-uvicorn and
python3-prometheus-client; run.py serves it with uvicorn. /db, which writes and reads rows in
DATABASE_URL's database, imports psycopg2 (python3-psycopg2) for PostgreSQL only when asked, so the
app starts without it.

It also has test endpoints (/work, /slow, /error, /admin/*) and a fault switch (BROKEN_RELEASE) that
end-to-end tests drive to make the cluster react: CPU for the HPA, latency and 5xx for the alerts, failing probes for restarts and
endpoint removal. They exist because a real app cannot be told to misbehave on demand; an image
built from this file is a test fixture, never something to put in front of users.
"""

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

# No *_created series next to each counter and histogram: Prometheus would store one more series per
# label set, and no rule or panel reads them. prometheus_client reads this when it is first imported.
os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "true")

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

# The series components/appmetrics declares (RequestsTotal, RequestDuration, StatusLabel): the
# recording rule for http_requests_per_second, the 5xx-ratio and p95 alerts in
# components/monitoring/rules.go and the dashboard all query these names. test_app.py compares them
# with the Go constants.
REQUESTS_TOTAL = "http_requests_total"
REQUEST_DURATION = "http_request_duration_seconds"
# The counter's labels, as appmetrics documents them ("labelled method, path and status"). The
# error-rate alert selects status=~"5..", so status is the bare three-digit code. The histogram has
# method and path only: the p95 rule sums by (namespace, le), and a status label would multiply its
# bucket series for nothing.
COUNTER_LABELS = ("method", "path", "status")
HISTOGRAM_LABELS = ("method", "path")
# Prometheus' default buckets, 5 ms to 10 s: they bracket the p95 alert's default thresholds (0.5 s
# for the warning, 1 s for the critical) and /slow's longest sleep.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# Probe and scrape traffic is not counted in the request series. The kubelet probes every pod
# (readiness every 5 s, liveness every 10 s) and Prometheus scrapes it every 30 s: a third of a
# request a second per pod, always fast and always 200. Counted, they would be load the HPA scales
# on (http_requests_per_second is rate(http_requests_total) per pod), they would dilute the 5xx
# ratio and pull the p95 latency down, hiding exactly what those alerts look for. None of the rules
# selects on path, so leaving them out is the only way to keep them out of the rules' results.
UNCOUNTED_PATHS = frozenset({"/health", "/ready", "/metrics"})
# The path label of requests no route matched: a bounded value, so scanners probing random URLs
# cannot create unbounded series.
UNMATCHED_PATH = "unmatched"
# Likewise for the method label: any other method a client invents is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

# Bounds of the test endpoints. /work keeps a request's CPU burn below the liveness probe's patience
# and the HPA's scale-up reaction; /slow stays well inside the termination grace period (30 s by
# default, 5 s of it spent in preStop), so a graceful shutdown never cuts a /slow request.
MAX_WORK_MS = 5000
MAX_SLOW_MS = 10000

# /db's table, its bounds and how long a connection may take: well inside the readiness probe's
# patience, so a database that does not answer makes /db fail, not the pod.
DB_TABLE = "nexios_example_rows"
MAX_DB_VALUE = 200
MAX_DB_LIMIT = 100
DEFAULT_DB_LIMIT = 10
DB_CONNECT_TIMEOUT_S = 3

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
LEVEL_ALIASES = {"warn": "warning", "fatal": "critical"}
DEFAULT_LEVEL = "info"


def parse_level(value):
    """Returns (level name, problem): LOG_LEVEL's value, case-insensitive, or info and a problem."""
    if value is None or value.strip() == "":
        return DEFAULT_LEVEL, None
    name = value.strip().lower()
    name = LEVEL_ALIASES.get(name, name)
    if name in LEVELS:
        return name, None
    return DEFAULT_LEVEL, "LOG_LEVEL %r is not one of %s; using %s" % (value, ", ".join(LEVELS), DEFAULT_LEVEL)


class JsonLog:
    """Writes one JSON object per line: time, level, message, then the fields given."""

    def __init__(self, level=DEFAULT_LEVEL, stream=None):
        self.level = level
        self._threshold = LEVELS[level]
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def enabled(self, level):
        return LEVELS.get(level, LEVELS["critical"]) >= self._threshold

    def write(self, level, message, **fields):
        if not self.enabled(level):
            return
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record = {"time": now, "level": level, "message": message}
        for key, value in fields.items():
            record.setdefault(key, value)
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            # A container's stdout is a pipe, which Python buffers: flush so each line reaches the
            # runtime (and Fluent Bit) when it is written, not when the buffer fills.
            self._stream.write(line + "\n")
            self._stream.flush()

    def debug(self, message, **fields):
        self.write("debug", message, **fields)

    def info(self, message, **fields):
        self.write("info", message, **fields)

    def warning(self, message, **fields):
        self.write("warning", message, **fields)

    def error(self, message, **fields):
        self.write("error", message, **fields)


class JsonLogHandler(logging.Handler):
    """Writes the standard library's log records (uvicorn's own, and any library's) as JSON lines
    through a JsonLog, so stdout holds nothing but JSON."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def emit(self, record):
        try:
            fields = {"logger": record.name}
            if record.exc_info:
                fields["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            level = record.levelname.lower()
            level = LEVEL_ALIASES.get(level, level)
            self.log.write(level if level in LEVELS else "debug", record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


class BadRequest(Exception):
    """A request parameter is missing or invalid; the message is the JSON error returned with 400."""


class Response:
    def __init__(self, status, body, content_type="application/json", headers=()):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)

    def encode(self):
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


def _one(params, name, required):
    values = params.get(name)
    if values is None:
        if required:
            raise BadRequest("query parameter %r is required" % name)
        return None
    if len(values) != 1:
        raise BadRequest("query parameter %r is given %d times; give it once" % (name, len(values)))
    return values[0]


def _show(value):
    """Quotes a user's value for an error message, cut short."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def int_param(params, name, low, high, default=None):
    value = _one(params, name, default is None)
    if value is None:
        return default
    # Plain ASCII digits only: int() would also take "+5", " 5", "1_000" and other scripts' digits.
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None
    if number is None or not low <= number <= high:
        raise BadRequest("%s must be an integer from %d to %d, got %s" % (name, low, high, _show(value)))
    return number


def bool_param(params, name):
    value = _one(params, name, True)
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise BadRequest("%s must be true or false, got %s" % (name, _show(value)))


def burn_cpu(seconds):
    """Keeps one CPU busy for seconds of wall-clock time."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for _ in range(1000):
            n = (n * 31 + 7) % 1000003
    return n


class DatabaseUnavailable(Exception):
    """/db cannot use DATABASE_URL; the message is the JSON error returned with 503, and never holds
    the URL or its password."""


class Database:
    """DATABASE_URL's database, for /db: one connection per request, in a worker thread.

    postgresql:// and postgres:// URLs go to PostgreSQL through psycopg2, imported on first use;
    sqlite:///PATH (the dev stack's default before it had PostgreSQL) to the standard library's
    sqlite3. The table is made on first use by whichever pod gets there first.
    """

    def __init__(self, url):
        self._url = url

    def _connect(self):
        scheme = urlsplit(self._url).scheme.lower()
        if scheme in ("postgresql", "postgres"):
            try:
                import psycopg2
            except ImportError:
                raise DatabaseUnavailable("DATABASE_URL is a PostgreSQL URL but psycopg2 is not installed "
                                          "(Debian's python3-psycopg2)") from None
            connection = psycopg2.connect(self._url, connect_timeout=DB_CONNECT_TIMEOUT_S)
            ddl = ("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, value text NOT NULL, "
                   "created_at timestamptz NOT NULL DEFAULT now())" % DB_TABLE)
            return connection, "%s", ddl
        if scheme == "sqlite":
            import sqlite3
            # sqlite:///relative and sqlite:////absolute, as SQLAlchemy reads them.
            connection = sqlite3.connect(self._url[len("sqlite:///"):], timeout=DB_CONNECT_TIMEOUT_S)
            ddl = ("CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL, "
                   "created_at TEXT NOT NULL DEFAULT (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now')))" % DB_TABLE)
            return connection, "?", ddl
        # The scheme alone: the rest of the URL may hold the password.
        raise DatabaseUnavailable("DATABASE_URL's scheme %r is not postgresql://, postgres:// or sqlite:///" % scheme)

    def use(self, write, limit):
        """Writes a row of value write (unless None), then returns the row count, the newest limit rows
        (newest first) and the row written."""
        connection, mark, ddl = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(ddl)
            written = None
            if write is not None:
                cursor.execute("INSERT INTO %s (value) VALUES (%s) RETURNING id, value, created_at" % (DB_TABLE, mark),
                               (write,))
                written = _row(cursor.fetchone())
            cursor.execute("SELECT count(*) FROM %s" % DB_TABLE)
            count = cursor.fetchone()[0]
            cursor.execute("SELECT id, value, created_at FROM %s ORDER BY id DESC LIMIT %s" % (DB_TABLE, mark), (limit,))
            latest = [_row(r) for r in cursor.fetchall()]
            connection.commit()
            return count, latest, written
        finally:
            connection.close()


def _row(row):
    created = row[2]
    if isinstance(created, datetime):
        created = created.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"id": row[0], "value": row[1], "created_at": created}


class App:
    """The ASGI application. environ stands for os.environ and stream for stdout, so tests can run
    several instances in-process, each with its own metrics registry."""

    def __init__(self, environ=None, stream=None, registry=None):
        environ = os.environ if environ is None else environ
        level, level_problem = parse_level(environ.get("LOG_LEVEL"))
        self.log = JsonLog(level, stream)
        if level_problem:
            self.log.warning(level_problem)
        log_format = environ.get("LOG_FORMAT", "json")
        if log_format.strip().lower() not in ("", "json"):
            self.log.warning("LOG_FORMAT %r is not supported; logging JSON" % log_format)

        # Kubernetes sets HOSTNAME to the pod's name.
        self.pod = environ.get("HOSTNAME") or socket.gethostname()
        # Injected by the program from its Secret (secretKeyRef). A real app would connect with the
        # URL and sign with the key; this one only notes whether they are set. Their values are
        # never logged, returned or exported as metrics.
        self._database_url = environ.get("DATABASE_URL")
        self._database = Database(self._database_url) if self._database_url else None
        self._secret_key = environ.get("SECRET_KEY")
        # BROKEN_RELEASE=true stands in for a release with a bug: / answers 500 while the probes stay
        # green, which only the error ratio can catch (`deploy up --verify` must roll it back).
        self.broken_release = environ.get("BROKEN_RELEASE", "").strip().lower() == "true"

        self.registry = registry if registry is not None else CollectorRegistry()
        # The process, platform and GC collectors that prometheus_client's default registry would have.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(REQUESTS_TOTAL, "HTTP requests handled, by method, route path and status code.",
                                COUNTER_LABELS, registry=self.registry)
        self.duration = Histogram(REQUEST_DURATION, "HTTP request duration in seconds, by method and route path.",
                                  HISTOGRAM_LABELS, buckets=DURATION_BUCKETS, registry=self.registry)

        # started: the lifespan startup ran (a real app would open its database pool there).
        # stopping: the lifespan shutdown began. The two fail flags are set by /admin/*.
        self.started = False
        self.stopping = False
        self.fail_health = False
        self.fail_ready = False

        # path -> {method: handler}; the path is also the metrics' path label.
        self.routes = {
            "/": {"GET": self.root},
            "/health": {"GET": self.health},
            "/ready": {"GET": self.ready},
            "/metrics": {"GET": self.metrics},
            "/work": {"GET": self.work},
            "/slow": {"GET": self.slow},
            "/error": {"GET": self.error},
            "/db": {"GET": self.db_read, "POST": self.db_write},
            "/admin/health": {"POST": self.admin_health},
            "/admin/ready": {"POST": self.admin_ready},
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.started = True
                self.log.info("application started", pod=self.pod, log_level=self.log.level,
                              database_url_set=bool(self._database_url), secret_key_set=bool(self._secret_key))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stopping = True
                self.log.info("application stopped")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, send):
        start = time.perf_counter()
        method, path = scope["method"], scope["path"]
        handlers = self.routes.get(path)
        route = path if handlers is not None else UNMATCHED_PATH
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        error = None
        try:
            if handlers is None:
                response = Response(404, {"error": "no route for %s" % path})
            elif method not in handlers:
                allowed = ", ".join(sorted(handlers))
                response = Response(405, {"error": "%s takes %s, not %s" % (path, allowed, method)},
                                    headers=[(b"allow", allowed.encode())])
            else:
                response = await handlers[method](params)
        except BadRequest as e:
            response = Response(400, {"error": str(e)})
        except Exception:
            error = traceback.format_exc().rstrip()
            response = Response(500, {"error": "internal server error"})
        body = response.encode()
        headers = [(b"content-type", response.content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": response.status, "headers": headers + response.headers})
        await send({"type": "http.response.body", "body": body})

        duration = time.perf_counter() - start
        if route not in UNCOUNTED_PATHS:
            method_label = method if method in KNOWN_METHODS else OTHER_METHOD
            self.requests.labels(method_label, route, str(response.status)).inc()
            self.duration.labels(method_label, route).observe(duration)
        # Probes and scrapes log at debug: at info they would be most of the log, every few seconds.
        if response.status >= 500:
            level = "error"
        elif route in UNCOUNTED_PATHS:
            level = "debug"
        else:
            level = "info"
        fields = {"method": method, "path": path, "status": response.status, "duration_ms": round(duration * 1000, 3)}
        if error:
            fields["error"] = error
        self.log.write(level, "request", **fields)

    # Routes. Each takes the parsed query and returns a Response or raises BadRequest.

    async def root(self, params):
        """The greeting; tests use the pod name to see that the Service reaches the pods."""
        if self.broken_release:
            return Response(500, {"error": "this release is broken (BROKEN_RELEASE=true)", "pod": self.pod})
        return Response(200, {"message": "Hello from Nexios", "pod": self.pod})

    async def health(self, params):
        """Liveness (and the startup probe): the process serves requests. Failing it restarts the container."""
        if self.fail_health:
            return Response(500, {"status": "failing", "reason": "set by POST /admin/health?fail=true"})
        return Response(200, {"status": "ok"})

    async def ready(self, params):
        """Readiness: the pod should get traffic. Failing it takes the pod out of the Service's endpoints."""
        if not self.started:
            reason = "starting"
        elif self.stopping:
            reason = "stopping"
        elif self.fail_ready:
            reason = "set by POST /admin/ready?fail=true"
        else:
            return Response(200, {"status": "ready"})
        return Response(503, {"status": "not ready", "reason": reason})

    async def metrics(self, params):
        return Response(200, generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST)

    async def work(self, params):
        """Test endpoint: burns CPU for ms milliseconds, so CPU-autoscaling tests can load the pods.

        The burn runs in a worker thread: the event loop keeps answering probes and scrapes while a
        load test keeps the CPU busy, so the HPA scales the Deployment instead of the kubelet
        restarting it. The GIL caps one process at one CPU, more than the default CPU limits.
        """
        ms = int_param(params, "ms", 0, MAX_WORK_MS)
        await asyncio.get_running_loop().run_in_executor(None, burn_cpu, ms / 1000)
        return Response(200, {"worked_ms": ms, "pod": self.pod})

    async def slow(self, params):
        """Test endpoint: answers after ms milliseconds without blocking other requests, for latency alerts."""
        ms = int_param(params, "ms", 0, MAX_SLOW_MS)
        await asyncio.sleep(ms / 1000)
        return Response(200, {"slept_ms": ms, "pod": self.pod})

    async def error(self, params):
        """Test endpoint: answers with the 5xx status asked for (500 by default), counted as such, for error-rate alerts."""
        status = int_param(params, "status", 500, 599, default=500)
        return Response(status, {"error": "requested error %d" % status, "pod": self.pod})

    async def db_read(self, params):
        """Reads DATABASE_URL's database: the row count and the newest rows (limit, default 10)."""
        limit = int_param(params, "limit", 1, MAX_DB_LIMIT, default=DEFAULT_DB_LIMIT)
        return await self._db(None, limit)

    async def db_write(self, params):
        """Writes a row holding value (1 to 200 characters) to DATABASE_URL's database, then reads as GET does."""
        value = _one(params, "value", True)
        if not 1 <= len(value) <= MAX_DB_VALUE:
            raise BadRequest("value must be 1 to %d characters, got %d" % (MAX_DB_VALUE, len(value)))
        limit = int_param(params, "limit", 1, MAX_DB_LIMIT, default=DEFAULT_DB_LIMIT)
        return await self._db(value, limit)

    async def _db(self, write, limit):
        """503 without DATABASE_URL or when the database fails, naming the error's class only: a
        driver's message may quote the host or the user, and never reaches the client or the log."""
        if self._database is None:
            return Response(503, {"error": "DATABASE_URL is not set"})
        try:
            count, latest, written = await asyncio.get_running_loop().run_in_executor(
                None, self._database.use, write, limit)
        except DatabaseUnavailable as e:
            self.log.warning("database unavailable", error=str(e))
            return Response(503, {"error": str(e)})
        except Exception as e:
            error_class = type(e).__module__ + "." + type(e).__name__
            self.log.warning("database error", error_class=error_class)
            return Response(503, {"error": "database error", "class": error_class})
        body = {"rows": count, "latest": latest, "pod": self.pod}
        if written is None:
            return Response(200, body)
        return Response(201, dict(body, written=written))

    async def admin_health(self, params):
        """Test endpoint: fail=true makes /health answer 500 until fail=false, so liveness restarts the container."""
        self.fail_health = bool_param(params, "fail")
        self.log.warning("liveness set to %s" % ("fail" if self.fail_health else "pass"))
        return Response(200, {"health": "failing" if self.fail_health else "ok"})

    async def admin_ready(self, params):
        """Test endpoint: fail=true makes /ready answer 503 until fail=false, taking the pod out of the endpoints."""
        self.fail_ready = bool_param(params, "fail")
        self.log.warning("readiness set to %s" % ("fail" if self.fail_ready else "pass"))
        return Response(200, {"ready": not self.fail_ready})


def create_app(environ=None, stream=None, registry=None):
    return App(environ, stream, registry)
