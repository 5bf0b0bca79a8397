"""``mscpk serve``: the web app over the project store (docs/web.md)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mscpk.errors import ScenarioError
from mscpk.interfaces.cli.common import user_errors


@user_errors
def serve_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8000,
    db: Annotated[Optional[str], typer.Option("--db", help="store URL (default: env MSCPK_DB, else sqlite:///mscpk.db)")] = None,
    workers: Annotated[int, typer.Option("--workers", help="background worker processes running the queued runs (0: none here)")] = 2,
) -> None:
    """Serve the web app; GET /healthz answers 200 when ready, OpenAPI at /openapi.json."""
    import uvicorn

    from mscpk.interfaces.web import create_app

    if not 1 <= port <= 65535:
        raise ScenarioError(f"--port: {port} is not a TCP port; allowed: 1 to 65535")
    if not 0 <= workers <= 64:
        raise ScenarioError(f"--workers: {workers} is not allowed; allowed: 0 to 64")
    app = create_app(db, workers=workers)
    typer.echo(f"mscpk serving on http://{host}:{port} ({workers} worker process(es))", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


__all__ = ["serve_command"]
