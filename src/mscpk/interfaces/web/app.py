"""The web app's factory: the FastAPI application over a project store, its limits (upload
size, request time), clean error answers and the local static files (Plotly included).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from mscpk._version import __version__
from mscpk.errors import MscpkError
from mscpk.interfaces.web.api import router as api_router
from mscpk.interfaces.web.pages import router as page_router
from mscpk.interfaces.web.projects import router as project_router
from mscpk.interfaces.web.jobs import WorkerPool
from mscpk.interfaces.web.security import NotLoggedIn, Signer
from mscpk.store import open_store

log = logging.getLogger("mscpk.web")
HERE = Path(__file__).parent

#: Default limits (docs/web.md): request body, request time, session and token lifetimes.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
SESSION_MAX_AGE_S = 12 * 3600
TOKEN_MAX_AGE_S = 24 * 3600


class RequestTooLarge(Exception):
    """A request body above the app's upload limit."""


class BodyLimit:
    """ASGI middleware: refuse a request body above ``max_bytes`` (413), by its declared
    length or while it streams in."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _plain(send, 413, f"request body above the limit of {self.max_bytes} bytes")
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise RequestTooLarge(f"request body above the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


class TimeLimit:
    """ASGI middleware: a request that has not started its answer after ``seconds`` gets a
    503."""

    def __init__(self, app, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message):
            nonlocal started
            started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, watched), self.seconds)
        except asyncio.TimeoutError:
            if not started:
                await _plain(send, 503, f"the request took longer than {self.seconds:g} s; try again")


async def _plain(send, status: int, message: str) -> None:
    response = JSONResponse({"detail": message}, status_code=status)
    await response({"type": "http"}, None, send)


def wants_json(request: Request) -> bool:
    """API paths and clients asking for JSON get JSON errors; browsers get a page."""
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def error_response(request: Request, status: int, message: str, headers=None) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "user": None}, status_code=status,
        headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(MscpkError)
    async def user_error(request: Request, exc: MscpkError):
        return error_response(request, 422, str(exc))

    @app.exception_handler(RequestTooLarge)
    async def too_large(request: Request, exc: RequestTooLarge):
        return error_response(request, 413, str(exc))

    @app.exception_handler(NotLoggedIn)
    async def login_first(request: Request, exc: NotLoggedIn):
        if wants_json(request):
            return JSONResponse({"detail": "not logged in"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error; the server log has the details")


def fmt(value) -> str:
    """A table cell on a page: numbers to 4 significant digits."""
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """Plotly's JavaScript from the installed plotly package (never a CDN)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def create_app(db_url: str | None = None, *, workers: int = 0, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               request_timeout_s: float = REQUEST_TIMEOUT_S, session_max_age_s: int = SESSION_MAX_AGE_S,
               token_max_age_s: int = TOKEN_MAX_AGE_S) -> FastAPI:
    """The web app over the store at ``db_url`` (None: ``MSCPK_DB`` or ``sqlite:///mscpk.db``),
    created or migrated to the head revision. ``workers`` background processes run the queued
    runs while the app is served (0: none, e.g. when other ``mscpk serve`` processes run them).
    """
    store = open_store(db_url)
    store.init()
    pool = WorkerPool(db_url, workers) if workers > 0 else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await asyncio.to_thread(pool.stop)

    app = FastAPI(title="mscpk", version=__version__, lifespan=lifespan,
                  description="Pharmacokinetics of MSC therapies: scenarios, runs and results (docs/web.md).")
    app.state.store = store
    app.state.signer = Signer(store.secret(), session_max_age_s=session_max_age_s, token_max_age_s=token_max_age_s)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters["fmt"] = fmt
    app.state.max_upload_bytes = max_upload_bytes
    app.state.pool = pool
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes)
    app.add_middleware(TimeLimit, seconds=request_timeout_s)
    _install_errors(app)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/healthz", include_in_schema=True, tags=["service"])
    def healthz() -> dict:
        """200 when the app and its store answer."""
        return {"status": "ok", "version": __version__, "store_revision": store.revision()}

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        return Response(plotly_js(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(api_router)
    app.include_router(page_router)
    app.include_router(project_router)
    return app
