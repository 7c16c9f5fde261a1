"""The exceptions of the demo ORM, named as Odoo's RPC layers serialise them.

Each carries ``odoo_name`` (what JSON-RPC and JSON-2 error bodies call it) and, for the
user-facing ones, ``http_status`` (what JSON-2 answers with).
"""

from __future__ import annotations


class UserError(Exception):
    odoo_name = "odoo.exceptions.UserError"
    http_status = 422


class AccessDenied(UserError):
    odoo_name = "odoo.exceptions.AccessDenied"
    http_status = 403

    def __init__(self, message: str = "Access Denied"):
        super().__init__(message)


class AccessError(UserError):
    odoo_name = "odoo.exceptions.AccessError"
    http_status = 403


class MissingError(UserError):
    odoo_name = "odoo.exceptions.MissingError"
    http_status = 404


class DatabaseNotFound(Exception):
    """What Odoo lets escape when a call names a database PostgreSQL does not have."""

    odoo_name = "psycopg2.OperationalError"

    def __init__(self, name: str):
        self.name = name
        super().__init__(
            'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            f'FATAL:  database "{name}" does not exist\n'
        )


def odoo_name(exc: BaseException) -> str:
    """The exception name Odoo puts in error bodies (``builtins.ValueError`` for builtins)."""
    cls = type(exc)
    return getattr(exc, "odoo_name", f"{cls.__module__}.{cls.__qualname__}")
