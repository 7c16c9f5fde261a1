"""What the demo Odoo puts on the wire besides results: HTTP values, and Odoo's error
bodies (JSON-RPC ``data``, JSON-2 bodies, werkzeug's HTML pages) and XML-RPC faults.

XML-RPC faults differ by path, as in Odoo (``odoo/addons/base/controllers/rpc.py``):
``/xmlrpc/2/<service>`` answers integer fault codes (:func:`xmlrpc_fault`: 1 server
error, 2 UserError, 3 AccessDenied, 4 AccessError); the historical ``/xmlrpc/<service>``
answers string codes (:func:`xmlrpc_legacy_fault`: ``"AccessDenied"``,
``"warning -- UserError\n\n<message>"``..., or the message of any other error with the
traceback as the fault string).
"""

from __future__ import annotations

import json
import traceback
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from nkdash.demo.exceptions import AccessDenied, AccessError, MissingError, UserError, odoo_name

HTTP_ERRORS = {  # werkzeug's exception names and descriptions
    400: ("BadRequest", "Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    401: (
        "Unauthorized",
        "Unauthorized",
        "The server could not verify that you are authorized to access the URL requested.",
    ),
    404: (
        "NotFound",
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again.",
    ),
    422: (
        "UnprocessableEntity",
        "Unprocessable Entity",
        "The request was well-formed but was unable to be followed due to semantic errors.",
    ),
    429: ("TooManyRequests", "Too Many Requests", "This user has exceeded an allotted request count. Try again later."),
    500: (
        "InternalServerError",
        "Internal Server Error",
        "The server encountered an internal error and was unable "
        "to complete your request. Either the server is overloaded or there is an error in the application.",
    ),
    502: ("BadGateway", "Bad Gateway", "The proxy server received an invalid response from an upstream server."),
    503: (
        "ServiceUnavailable",
        "Service Unavailable",
        "The server is temporarily unable to service your request "
        "due to maintenance downtime or capacity problems. Please try again later.",
    ),
    504: ("GatewayTimeout", "Gateway Timeout", "The connection to an upstream server timed out."),
}


# --------------------------------------------------------------------------- HTTP values
@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


class HTTPError(Exception):
    """A werkzeug HTTP exception: JSON-2 serialises it, other routes answer its HTML page."""

    def __init__(self, status: int, description: str | None = None, headers: list[tuple[str, str]] | None = None):
        self.status = status
        self.description = description or HTTP_ERRORS[status][2]
        self.headers = headers or []
        self.odoo_name = f"werkzeug.exceptions.{HTTP_ERRORS[status][0]}"
        super().__init__(self.description)


class WithHeaders(NamedTuple):
    """A JSON-RPC route result that also sets response headers (a session cookie)."""

    result: Any
    headers: list[tuple[str, str]]


class SessionExpired(Exception):
    odoo_name = "odoo.http.SessionExpiredException"

    def __init__(self) -> None:
        super().__init__("Session expired")


def json_response(value: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(value).encode(), "application/json", headers or [])


def html_error(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    """werkzeug's HTML error page (what Odoo, or a proxy in front of it, answers outside RPC)."""
    _, title, description = HTTP_ERRORS[status]
    page = f"<!doctype html>\n<html lang=en>\n<title>{status} {title}</title>\n<h1>{title}</h1>\n<p>{description}</p>\n"
    return Response(status, page.encode(), "text/html; charset=utf-8", headers or [])


def json2_error(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    """JSON-2's body for an HTTP error (Odoo 19 serialises werkzeug exceptions)."""
    return json_response(serialize_exception(HTTPError(status)), status, headers)


def traceback_text(exc: BaseException) -> str:
    name = odoo_name(exc).removeprefix("builtins.")
    return (
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(exc.__traceback__))
        + f"{name}: {exception_message(exc)}\n"
    )


def exception_message(exc: BaseException) -> str:
    """Odoo's ``exception_to_unicode``: the arguments, one per line."""
    if isinstance(exc, HTTPError):
        return exc.description
    return "\n".join(str(arg) for arg in exc.args) if exc.args else str(exc)


def serialize_exception(exc: BaseException) -> dict:
    """Odoo's ``serialize_exception``: the ``data`` of JSON-RPC errors, the body of JSON-2 errors."""
    arguments = [exc.description, exc.status] if isinstance(exc, HTTPError) else list(exc.args)
    return {
        "name": odoo_name(exc),
        "debug": traceback_text(exc),
        "message": exception_message(exc),
        "arguments": arguments,
        "context": {},
    }


def xmlrpc_fault(exc: BaseException) -> xmlrpc.client.Fault:
    """Odoo's ``xmlrpc_handle_exception_int``: faultCode 4/3/2 with the message, else 1 with a traceback."""
    for cls, code in ((AccessError, 4), (AccessDenied, 3), (UserError, 2)):
        if isinstance(exc, cls):
            return xmlrpc.client.Fault(code, exception_message(exc))
    return xmlrpc.client.Fault(1, traceback_text(exc))


# typeshed types a Fault's code as an int; Odoo's legacy handler sends a string
_string_fault = cast(Callable[[str, str], xmlrpc.client.Fault], xmlrpc.client.Fault)


def xmlrpc_legacy_fault(exc: BaseException) -> xmlrpc.client.Fault:
    """Odoo's ``xmlrpc_handle_exception_string``: the fault code is a string."""
    message = exception_message(exc)
    if isinstance(exc, AccessDenied):
        return _string_fault("AccessDenied", message)
    for cls in (MissingError, AccessError, UserError):  # most specific first
        if isinstance(exc, cls):
            return _string_fault(f"warning -- {cls.__name__}\n\n{message}", "")
    return _string_fault(message, traceback_text(exc))
