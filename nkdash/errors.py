"""One error base for nkdash, a few clear subclasses that carry the offending value.

The CLI turns any :class:`NKDashError` into a one-line message and a non-zero exit.
Messages never contain secrets: pass the *name* of a setting, never its value.
"""

from __future__ import annotations


class NKDashError(Exception):
    """Base class of every error nkdash raises on purpose."""

    exit_code = 1


class ConfigError(NKDashError):
    """A setting is missing or invalid. ``setting`` names the variable to fix."""

    exit_code = 2

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class SourceMismatch(ConfigError):
    """The lake holds the data of another Odoo database than the configured one."""

    def __init__(self, lake: object, recorded: str, configured: str):
        self.lake = lake
        self.recorded = recorded
        self.configured = configured
        super().__init__(
            "NKDASH_LAKE",
            f"the lake at {lake} holds the data of {recorded}, not of {configured}; nothing was loaded "
            "(to load this Odoo, start a new lake: NKDASH_LAKE=<new path>)",
        )


class InputError(NKDashError):
    """A user-supplied value (date, dataset, range...) is not acceptable."""

    exit_code = 2

    def __init__(self, message: str, value: object = None):
        self.value = value
        super().__init__(message)


class OdooError(NKDashError):
    """Anything that went wrong talking to Odoo.

    ``transient`` says whether retrying the same call may succeed.
    """

    transient = False
    hint = ""
    run_recorded = False  # set by the ETL once it recorded the failed runs of this error

    def __init__(self, message: str, *, model: str | None = None, method: str | None = None):
        self.model = model
        self.method = method
        super().__init__(message)


class OdooUnreachable(OdooError):
    transient = True
    hint = "check ODOO_URL and that the server is up"


class OdooTimeout(OdooError):
    transient = True
    hint = "Odoo is slow or overloaded; try a smaller batch (NKDASH_ODOO_BATCH_SIZE) or a larger NKDASH_ODOO_TIMEOUT"


class OdooTLSError(OdooError):
    hint = "check the certificate of ODOO_URL (or NKDASH_ODOO_VERIFY_TLS)"


class OdooServerError(OdooError):
    """HTTP 5xx, Odoo's internal server error, 'too many requests'. Retried."""

    transient = True


class OdooAuthError(OdooError):
    """Bad login/password/API key (authenticate returned False, or 401)."""

    hint = "check ODOO_USER and ODOO_PASSWORD"


class OdooUnknownDatabase(OdooError):
    hint = "check ODOO_DB"


class OdooAccessDenied(OdooError):
    """odoo.exceptions.AccessDenied (XML-RPC faultCode 3)."""

    hint = "check ODOO_USER and ODOO_PASSWORD"


class OdooAccessError(OdooError):
    """odoo.exceptions.AccessError (faultCode 4): the user may not read this."""

    hint = "give the Odoo user read access to this model"


class OdooUserError(OdooError):
    """odoo.exceptions.UserError / ValidationError (faultCode 2)."""


class OdooRequestError(OdooError):
    """The request itself is wrong: unknown model, field or method, bad domain."""


class LakeError(NKDashError):
    """The lake could not be read or written."""

    def __init__(self, message: str, path: object = None):
        self.path = path
        super().__init__(message)


class MetadataError(LakeError):
    """The metadata store cannot be used as it is: ``problem`` is ``damaged`` (SQLite cannot read
    it) or ``empty`` (0 bytes while the lake holds data). ``path`` is the store's file; the
    hint names the two ways back."""

    hint = "restore a backup with `nkdash restore`, or rebuild it from the lake with `nkdash rebuild-metadata`"

    def __init__(self, message: str, path: object = None, problem: str = "damaged"):
        self.problem = problem
        super().__init__(message, path)
