"""Real receivers of alerts for tests: an SMTP server (aiosmtpd) that requires STARTTLS and a
login, with a self-signed certificate the client trusts through ``SSL_CERT_FILE``; and an
HTTP server that records the JSON POSTs of a webhook."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SMTP_USER, SMTP_PASSWORD = "alerts@example.com", "smtp-secret-3c9f1e"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Mailbox:
    """What the SMTP server received (parsed messages) and the logins it accepted."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]).strip() for m in self.messages]


@contextlib.contextmanager
def smtp_server(directory: Path) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 requiring STARTTLS, then AUTH with :data:`SMTP_USER` /
    :data:`SMTP_PASSWORD`; yields its :class:`Mailbox`. Set ``SSL_CERT_FILE`` to
    ``directory / "cert.pem"`` for the client to trust it."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.raw.append(envelope.original_content or envelope.content)
            box.messages.append(
                message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            )
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            SMTP_USER,
            SMTP_PASSWORD,
        )
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok)

    with socket.socket() as probe:  # aiosmtpd's Controller cannot bind port 0 itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    box.port = port
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the webhook receiver got: the decoded JSON bodies, and its URL."""

    url: str
    posts: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Hook]:
    """An HTTP server on 127.0.0.1 that answers 200 to a JSON POST with a ``text`` field (as
    Slack, Mattermost and Teams incoming webhooks do), 400 to anything else."""
    hook = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(body)
                good = self.headers.get("Content-Type", "").startswith("application/json") and isinstance(
                    payload.get("text"), str
                )
            except ValueError:
                good = False
            if good:
                hook.posts.append(payload)
                hook.raw.append(body)
            self.send_response(200 if good else 400)
            self.end_headers()
            self.wfile.write(b"ok" if good else b"invalid_payload")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000-secret-token"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
