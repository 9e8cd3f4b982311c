"""Who may read the status pages: PLEDGEWATCH_PAGE_TOKEN as a bearer token, a query, or a cookie.

With no token configured, everyone who reaches the address may. With one, a
request shows it as `Authorization: Bearer <token>`, or opens a page once with
`?token=<token>`: that answers with a redirect to the same address without
the token and sets an HttpOnly, SameSite=Strict cookie. The cookie holds an
HMAC of the token, never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import SecretStr

COOKIE = "pledgewatch_pages"
QUERY = "token"
_COOKIE_CONTEXT = b"pledgewatch status pages cookie v1"
_COOKIE_DAYS = 30


def cookie_value(token: SecretStr) -> str:
    """Return what the cookie holds for `token`: an HMAC of it, so the cookie jar has no secret."""
    key = token.get_secret_value().encode()
    return hmac.new(key, _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def allowed(request: Request, token: SecretStr | None) -> bool:
    """Return whether `request` may read the pages (bearer header or cookie)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and _same(given.strip(), token.get_secret_value()):
        return True
    return _same(request.cookies.get(COOKIE, ""), cookie_value(token))


def from_query(request: Request, token: SecretStr | None) -> Response | None:
    """Return the redirect that sets the cookie when the query holds the right token, else None."""
    given = request.query_params.get(QUERY)
    if token is None or given is None or not _same(given, token.get_secret_value()):
        return None
    # A relative address: the same page, the other query parameters kept, the token gone.
    target = request.url.remove_query_params(QUERY)
    answer = RedirectResponse(target.path + (f"?{target.query}" if target.query else ""), 303)
    answer.set_cookie(
        COOKIE,
        cookie_value(token),
        max_age=_COOKIE_DAYS * 86400,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
