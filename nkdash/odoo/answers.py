"""Odoo's answers that are errors: exception names and XML-RPC faults -> nkdash's Odoo errors
(each naming the setting to check)."""

from __future__ import annotations

import xmlrpc.client

from nkdash.errors import (
    OdooAccessDenied,
    OdooAccessError,
    OdooAuthError,
    OdooError,
    OdooRequestError,
    OdooServerError,
    OdooUnknownDatabase,
    OdooUserError,
)

_NAME_TO_ERROR: dict[str, type[OdooError]] = {
    "odoo.exceptions.AccessDenied": OdooAccessDenied,
    "odoo.exceptions.AccessError": OdooAccessError,
    "odoo.exceptions.UserError": OdooUserError,
    "odoo.exceptions.ValidationError": OdooUserError,
    "odoo.exceptions.MissingError": OdooUserError,
    "odoo.exceptions.RedirectWarning": OdooUserError,
    "odoo.exceptions.Warning": OdooUserError,
    "werkzeug.exceptions.Unauthorized": OdooAuthError,
    "werkzeug.exceptions.NotFound": OdooRequestError,
    "werkzeug.exceptions.ServiceUnavailable": OdooServerError,
    "werkzeug.exceptions.TooManyRequests": OdooServerError,
    "werkzeug.exceptions.InternalServerError": OdooServerError,
    "werkzeug.exceptions.BadGateway": OdooServerError,
    "werkzeug.exceptions.GatewayTimeout": OdooServerError,
    "werkzeug.exceptions.UnprocessableEntity": OdooRequestError,
    "builtins.ValueError": OdooRequestError,
    "builtins.KeyError": OdooRequestError,
    "builtins.TypeError": OdooRequestError,
    "builtins.AttributeError": OdooRequestError,
}


_REQUEST_MARKERS = (
    "Invalid field",
    "Unknown field",
    "ValueError",
    "KeyError",
    "TypeError",
    "AttributeError",
    "doesn't exist",
    "Invalid domain",
    "Invalid leaf",
    "not found",
    "unexpected keyword",
    "required positional",
)


def _is_unknown_db(message: str) -> bool:
    low = message.lower()
    return "database" in low and ("does not exist" in low or "not found" in low or "unknown" in low)


def error_from_odoo(name: str, message: str, *, model: str | None = None, method: str | None = None) -> OdooError:
    """Map Odoo's exception name and message to one of nkdash's error classes."""
    where = f" ({model}.{method})" if model else ""
    if _is_unknown_db(message):
        return OdooUnknownDatabase(f"Odoo database not found{where}: {first_line(message)}", model=model, method=method)
    cls = _NAME_TO_ERROR.get(name)
    if "doesn't exist" in message:  # Odoo raises UserError("Object x doesn't exist") for a bad model
        cls = OdooRequestError
    if cls is None:
        cls = OdooRequestError if any(m in message for m in _REQUEST_MARKERS) else OdooServerError
    return cls(f"{name or 'Odoo error'}{where}: {first_line(message)}", model=model, method=method)


def error_from_fault(fault: xmlrpc.client.Fault, *, model: str | None = None, method: str | None = None) -> OdooError:
    """XML-RPC faultCode 1/2/3/4 = server error / UserError / AccessDenied / AccessError."""
    text = str(fault.faultString)
    code: object = fault.faultCode  # typeshed says int; old servers send a string
    name = {2: "odoo.exceptions.UserError", 3: "odoo.exceptions.AccessDenied", 4: "odoo.exceptions.AccessError"}.get(
        code if isinstance(code, int) else -1, ""
    )
    if not name and isinstance(code, str) and code:  # old servers send the message as code
        text = text if text else code
    return error_from_odoo(name, text, model=model, method=method)


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    # tracebacks end with the exception line; plain messages start with it
    return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:300]
