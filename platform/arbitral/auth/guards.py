"""The one authorisation layer: every route names its permission, or says it is public.

``authorize`` runs before every handler (an app-level guard):

* a public route passes;
* no principal: 401;
* a principal without the route's permission: 404 when the route addresses an
  object (``/users/{user_id}``: "forbidden" would confirm the object exists),
  403 when it does not;
* otherwise the handler runs, and its ``access_*`` functions decide which
  objects the principal may see (404 for the rest, unknown or forbidden alike).

:func:`check_routes` refuses to build an app with a route that declares
neither: a route without an explicit permission does not start.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.routes import HTTPRoute

from arbitral.auth.domain import Permission, Principal

PUBLIC = "public"
PERMISSION = "permission"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="arbitral"'}


def require(permission: Permission) -> dict[str, Any]:
    """``opt`` for a route that needs ``permission``: ``@get(..., opt=require(P.X))``."""
    return {PERMISSION: permission}


JSON_ONLY = "json_only"


def public(*, login: bool = False) -> dict[str, Any]:
    """``opt`` for a route anyone may call (health, login, JWKS, token endpoint).

    ``login=True`` for a JSON login endpoint: it must be sent as
    ``application/json``, which a cross-site HTML form cannot do, so no other
    site can log a visitor into an account of its choosing (login CSRF).
    """
    return {PUBLIC: True, JSON_ONLY: True} if login else {PUBLIC: True}


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal of a request to a route that requires a permission.

    ``authorize`` has run before the handler and refused a request without one,
    so a handler behind ``require(...)`` always has a principal.
    """
    principal = principal_of(connection)
    if principal is None:  # unreachable behind authorize; never a silent None
        raise NotAuthorizedException("authentication required", headers=CHALLENGE)
    return principal


def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    opt = handler.opt
    if opt.get(PUBLIC):
        return
    permission = opt.get(PERMISSION)
    if not isinstance(permission, Permission):  # check_routes makes this unreachable
        raise PermissionDeniedException("this route declares no permission")
    principal = principal_of(connection)
    if principal is None:
        raise NotAuthorizedException("authentication required", headers=CHALLENGE)
    if principal.can(permission):
        return
    if connection.path_params:
        raise NotFoundException()
    raise PermissionDeniedException(f"this needs the {permission.value} permission")


def check_routes(app: Litestar, *, exempt_prefixes: tuple[str, ...] = ()) -> None:
    """Refuse an app in which some route declares neither a permission nor public access."""
    missing: list[str] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        if any(route.path.startswith(prefix) for prefix in exempt_prefixes):
            for handler in route.route_handlers:
                handler.opt.setdefault(PUBLIC, True)
            continue
        for handler in route.route_handlers:
            opt = handler.opt
            if handler.http_methods == {"OPTIONS"} and handler.handler_name == "options_handler":
                opt.setdefault(PUBLIC, True)  # Litestar's own answer to OPTIONS (CORS preflight)
            if opt.get(PUBLIC) is True:
                continue
            if isinstance(opt.get(PERMISSION), Permission):
                continue
            methods = ",".join(sorted(handler.http_methods))
            missing.append(f"{methods} {route.path} ({handler.handler_name})")
    if missing:
        raise RuntimeError(
            "routes without an explicit permission (opt=require(...) or opt=public()): "
            + "; ".join(missing)
        )
