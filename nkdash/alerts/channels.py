"""Where alerts go: e-mail (SMTP with STARTTLS or TLS, and a login) and a webhook (a JSON
POST ``{"text": ...}``, which Slack, Mattermost and Microsoft Teams incoming webhooks accept).

What a delivery reports (recorded with the alert, shown on the Monitoring page) is ``sent``
or ``failed: <error type> <code>``: never the exception's message, which may carry the
webhook's URL (its token) or what the SMTP server echoed.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import requests

from nkdash.settings import Settings

TIMEOUT = 20.0  # seconds for one SMTP conversation or webhook POST


Channel = Callable[[Settings, str, str], None]


def configured(settings: Settings) -> dict[str, str]:
    """The channels set up: name -> where they go (no secret: the webhook's host only)."""
    out = {}
    if settings.alert_email_to and settings.smtp_host:
        out["email"] = f"{settings.alert_email_to} via {settings.smtp_host}:{settings.smtp_port}"
    if settings.alert_webhook_url:
        out["webhook"] = urlsplit(settings.alert_webhook_url.get()).hostname or "?"
    return out


def deliver(settings: Settings, subject: str, body: str) -> dict[str, str]:
    """Send to every configured channel: name -> ``sent`` or ``failed: ...``."""
    results = {}
    for name in configured(settings):
        try:
            CHANNELS[name](settings, subject, body)
        except (OSError, smtplib.SMTPException, ssl.SSLError, requests.RequestException) as exc:
            code = getattr(exc, "smtp_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
            results[name] = f"failed: {type(exc).__name__}" + (f" {code}" if code else "")
        else:
            results[name] = "sent"
    return results


def send_email(settings: Settings, subject: str, body: str) -> None:
    """One message to ``NKDASH_ALERT_EMAIL_TO`` through ``NKDASH_SMTP_HOST``: STARTTLS (or
    implicit TLS with ``NKDASH_SMTP_TLS=ssl``), verified against the system's CAs, then a
    login when ``NKDASH_SMTP_USER`` is set."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.alert_email_from or settings.smtp_user or f"nkdash@{socket.getfqdn()}"
    message["To"] = settings.alert_email_to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="nkdash")
    message.set_content(body)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get())
        smtp.send_message(message)


def send_webhook(settings: Settings, subject: str, body: str) -> None:
    """POST ``{"text": "<subject>\\n<body>"}`` as JSON; a non-2xx answer is a failure."""
    answer = requests.post(
        settings.alert_webhook_url.get(), json={"text": f"{subject}\n{body}"}, timeout=TIMEOUT, allow_redirects=False
    )
    answer.raise_for_status()


CHANNELS: dict[str, Channel] = {"email": send_email, "webhook": send_webhook}
