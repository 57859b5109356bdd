"""HTTP surface: /healthz for the platform and /metrics for Prometheus (Starlette on uvicorn).

The app only reads what the runtime observed (`Health`, `Metrics`); the server runs in a
daemon thread so the main thread keeps the signals and the worker loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import uvicorn
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from worker.errors import WorkerError
from worker.health import HealthSource
from worker.metrics import Metrics

log = logging.getLogger("worker.web")

# Procfile platforms route to $PORT on every interface of the dyno.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
_NO_CACHE = {"Cache-Control": "no-store"}


def create_app(
    metrics: Metrics,
    health: HealthSource,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """/healthz, /metrics and the `routes` of other surfaces (Slack's `/slack/events`)."""

    # Plain functions: Starlette runs them in its thread pool, so a slow read of the state
    # store during a scrape never blocks the event loop (nor /healthz).
    def healthz(request: Request) -> Response:
        del request
        check = health.check(clock())
        return JSONResponse(check.body, status_code=200 if check.ok else 503, headers=_NO_CACHE)

    def metrics_text(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(
            encode(metrics.registry), headers={"Content-Type": content_type, **_NO_CACHE}
        )

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics_text), *routes])


class WebServer:
    """uvicorn serving one app from a daemon thread, started and stopped by the caller."""

    def __init__(
        self,
        app: Starlette,
        *,
        host: str = ALL_INTERFACES,
        port: int = 8000,
        shutdown_grace_s: float = 2.0,
    ) -> None:
        self.host = host
        self._app = app
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # our logging set-up (text or JSON lines) applies
            access_log=False,
            lifespan="off",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=int(max(1, shutdown_grace_s)),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        sockets = [s for server in self._server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1]) if sockets else self._server.config.port

    def start(self, timeout_s: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise WorkerError(
                    f"could not serve HTTP on {self.host}:{self._server.config.port} "
                    "(is the port in use?)"
                )
            time.sleep(0.02)
        paths = [getattr(route, "path", "") for route in self._app.routes]
        log.info("serving %s on http://%s:%d", " and ".join(paths), self.host, self.port)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
