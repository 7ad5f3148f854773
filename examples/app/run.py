"""Serves the example Nexios app (app.py) with uvicorn: the image's entrypoint, `python3 /app/run.py`.

Environment: PORT (default 8000), HOST (default 0.0.0.0, every IPv4 address), LOG_LEVEL (debug, info,
warning, error, critical; default info), LOG_FORMAT (json, the only format), DATABASE_URL and
SECRET_KEY (optional, never logged), HOSTNAME (the pod's name, set by Kubernetes).

The container runs as a non-root user on a read-only root filesystem with only /tmp writable, so
this file writes nothing: no bytecode cache (set below, so the image need not set
PYTHONDONTWRITEBYTECODE) and no log file. Every log line, uvicorn's own included, goes to stdout as
JSON; uvicorn's access log is off because the app logs each request itself. SIGTERM (after the
Deployment's preStop sleep) makes uvicorn stop accepting connections, finish the requests in flight,
run the lifespan shutdown and exit 0.
"""

import sys

# Before any other import: Python would otherwise try to write __pycache__ next to the sources.
# Debian's packages ship their bytecode already compiled.
sys.dont_write_bytecode = True

import logging  # noqa: E402
import os  # noqa: E402

import uvicorn  # noqa: E402

import app as example  # noqa: E402

DEFAULT_PORT = 8000
DEFAULT_HOST = "0.0.0.0"


def main(environ=None):
    environ = os.environ if environ is None else environ
    application = example.create_app(environ)
    log = application.log

    # Route every standard-library logger (uvicorn's, asyncio's) through the app's JSON lines.
    root = logging.getLogger()
    root.handlers = [example.JsonLogHandler(log)]
    root.setLevel(log.level.upper())

    raw_port = environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    try:
        port = int(raw_port, 10)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        log.error("PORT must be a TCP port from 1 to 65535, got %r" % raw_port)
        return 2
    host = environ.get("HOST", "").strip() or DEFAULT_HOST

    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        interface="asgi3",
        lifespan="on",
        # log_config=None keeps uvicorn from installing its own text handlers over ours.
        log_config=None,
        log_level=log.level,
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    log.info("starting uvicorn", host=host, port=port)
    server.run()
    # uvicorn returns without an error when the lifespan startup fails; exit non-zero so the
    # kubelet sees a failed container.
    if not server.started:
        log.error("server did not start")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
