"""The web app (``mscpk serve``): FastAPI over the project store, server-rendered pages, the
JSON API of the contract, background jobs in worker processes. See docs/web.md."""

from mscpk.interfaces.web.app import create_app

__all__ = ["create_app"]
