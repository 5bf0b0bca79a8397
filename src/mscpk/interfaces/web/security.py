"""Sessions, CSRF tokens and bearer tokens of the web app, all signed with the store's secret.

The session cookie (HttpOnly, SameSite=Lax) holds the user id and the session's CSRF token;
every form posts that token back. API clients get a signed, expiring bearer token from
``POST /api/token``. See docs/web.md.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mscpk.store import User

SESSION_COOKIE = "mscpk_session"


class NotLoggedIn(Exception):
    """A page needs a logged-in user (the app answers with a redirect to the login page)."""


@dataclass(frozen=True)
class Session:
    """The signed content of the session cookie: the user (None before login) and its CSRF
    token."""

    user_id: int | None
    csrf: str


class Signer:
    """Signs and checks session cookies and bearer tokens with the store's secret.

    Examples
    --------
    >>> s = Signer(b"k" * 32, session_max_age_s=60, token_max_age_s=60)
    >>> s.user_of_token(s.token_for(7))
    7
    >>> s.user_of_token("forged") is None
    True
    """

    def __init__(self, secret: bytes, *, session_max_age_s: int, token_max_age_s: int) -> None:
        self._session = URLSafeTimedSerializer(secret, salt="mscpk-session")
        self._token = URLSafeTimedSerializer(secret, salt="mscpk-api-token")
        self.session_max_age_s = session_max_age_s
        self.token_max_age_s = token_max_age_s

    def dump_session(self, session: Session) -> str:
        return self._session.dumps({"uid": session.user_id, "csrf": session.csrf})

    def load_session(self, text: str | None) -> Session | None:
        if not text:
            return None
        try:
            data = self._session.loads(text, max_age=self.session_max_age_s)
        except (BadSignature, SignatureExpired):
            return None
        uid, csrf = data.get("uid"), data.get("csrf")
        if not isinstance(csrf, str) or not (uid is None or isinstance(uid, int)):
            return None
        return Session(uid, csrf)

    def token_for(self, user_id: int) -> str:
        return self._token.dumps({"uid": user_id})

    def user_of_token(self, token: str) -> int | None:
        try:
            data = self._token.loads(token, max_age=self.token_max_age_s)
        except (BadSignature, SignatureExpired):
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        return uid if isinstance(uid, int) else None


def new_session(user_id: int | None = None) -> Session:
    """A fresh session with a new random CSRF token."""
    return Session(user_id, secrets.token_urlsafe(24))


def request_session(request: Request) -> Session | None:
    """The valid session of the request's cookie, or None."""
    return request.app.state.signer.load_session(request.cookies.get(SESSION_COOKIE))


def set_session_cookie(response, request: Request, session: Session) -> None:
    """Put ``session`` in the (HttpOnly, SameSite=Lax) session cookie of ``response``."""
    signer = request.app.state.signer
    response.set_cookie(SESSION_COOKIE, signer.dump_session(session), max_age=signer.session_max_age_s,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")


def check_csrf(request: Request, token: str | None) -> Session:
    """The request's session when ``token`` is its CSRF token; else 403."""
    session = request_session(request)
    if session is None or not token or not hmac.compare_digest(session.csrf, str(token)):
        raise HTTPException(status_code=403, detail="the form has expired or did not come from this site "
                                                    "(CSRF token missing or wrong); reload the page and try again")
    return session


def page_user(request: Request) -> User:
    """The logged-in user of a page request (else :class:`NotLoggedIn`)."""
    session = request_session(request)
    user = request.app.state.store.user(session.user_id) if session and session.user_id is not None else None
    if user is None:
        raise NotLoggedIn()
    return user


def api_user(request: Request) -> User:
    """The user of an API request: a bearer token, or the session cookie for reading (GET),
    which the pages' own scripts use. Else 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    uid = None
    if scheme.lower() == "bearer" and token:
        uid = request.app.state.signer.user_of_token(token.strip())
    elif request.method == "GET":
        session = request_session(request)
        uid = session.user_id if session else None
    user = request.app.state.store.user(uid) if uid is not None else None
    if user is None:
        raise HTTPException(status_code=401, detail="not authenticated: send 'Authorization: Bearer <token>' "
                                                    "(POST /api/token gives one)",
                            headers={"WWW-Authenticate": "Bearer"})
    return user
