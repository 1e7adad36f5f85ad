"""The HTTP face of ``pseudolabel serve``: a FastAPI app for Label Studio's ML-backend protocol.

Routes: ``GET /health`` (and ``GET /``), ``POST /setup``, ``POST /predict``, ``POST /webhook``.
Every payload is handled by :class:`~pseudolabel.serve.service.LabelingService`; bad input
(:class:`~pseudolabel.exceptions.InputError`) is a 400 answer ``{"detail": message}``. The
refit thread starts and stops with the app (its lifespan). :func:`run` serves on a bound socket
with uvicorn and prints the address it listens on.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from pseudolabel.exceptions import PseudolabelError
from pseudolabel.serve.service import LabelingService

try:  # the optional extra; FastAPI resolves the route annotations from this module
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:
    raise ImportError("pseudolabel serve needs FastAPI and uvicorn: "
                      "pip install 'pseudolabel[serve]'") from exc

__all__ = ["create_app", "bind", "run"]


def create_app(service: LabelingService) -> Any:
    """A FastAPI application answering Label Studio with ``service``."""
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="pseudolabel ML backend", lifespan=lifespan)

    async def body(request: Request) -> dict[str, Any]:
        try:
            payload = await request.json()
        except ValueError as exc:
            raise _BadRequest(f"the request body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise _BadRequest(f"the request body must be a JSON object, got "
                              f"{type(payload).__name__}")
        return payload

    @app.exception_handler(PseudolabelError)
    async def refused(request: Request, exc: PseudolabelError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(_BadRequest)
    async def bad_request(request: Request, exc: _BadRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    # the model runs in a worker thread (plain `def` route, run_in_threadpool), never on
    # the event loop
    @app.get("/")
    @app.get("/health")
    def health() -> dict[str, Any]:
        return service.health()

    @app.post("/setup")
    async def setup(request: Request) -> dict[str, Any]:
        return service.setup(await body(request))

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        return await run_in_threadpool(service.predict, await body(request))

    @app.post("/webhook", status_code=201)
    async def webhook(request: Request) -> Any:
        return await run_in_threadpool(service.handle_event, await body(request))

    return app


class _BadRequest(Exception):
    """A request the protocol cannot read (not JSON, not an object)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return sock


def run(service: LabelingService, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve ``service`` until interrupted; prints ``listening on http://HOST:PORT`` first."""
    import uvicorn

    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level=log_level,
                                           lifespan="on"))
    print(f"pseudolabel serve: listening on http://{host}:{bound_port} "
          f"(model {service.model_version}, store {service.config.store})", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
