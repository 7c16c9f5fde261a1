"""marimo's front-end files (``<notebook>/assets/<name>``), served by the gate's process.

Every page first loads marimo's front end: about a hundred JavaScript and CSS files, some
megabytes. marimo serves them uncompressed from each notebook's app, so behind the gate
they would travel gate -> worker process -> gate, through Python twice, for every viewer
with an empty browser cache. They are the same bytes for every notebook (marimo's wheel)
and their names carry a content hash, so :class:`FrontEndFiles` serves them from the
wheel's directory in the gate's own process, gzip-compressed when the browser accepts it
(text files: the compressed copy is made once, in a thread, and kept in memory), with
``ETag``; the gate adds ``Cache-Control: immutable``. Only names inside that directory
are served; anything else is a 404.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.types import Receive, Scope, Send

COMPRESSED = {".js", ".mjs", ".css", ".json", ".svg", ".html", ".map", ".txt", ".wasm", ".ttf"}
GZIP_LEVEL = 6  # level 9 makes the files ~1 % smaller for ~2x the CPU
MAX_HELD_BYTES = 96 * 1024 * 1024  # the front end's files are ~30 MB uncompressed, ~8 MB gzipped


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def marimo_assets() -> Path:
    """The directory of marimo's front-end files in its installed wheel."""
    import marimo

    return Path(marimo.__file__).resolve().parent / "_static" / "assets"


class FrontEndFiles:
    """ASGI app: ``scope["nkdash.frontend_file"]`` (``assets/<name>``) from ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = (directory or marimo_assets()).resolve()
        self._held: dict[str, _File] = {}
        self._held_bytes = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = str(scope.get("nkdash.frontend_file", "")).removeprefix("assets/")
        file = self._held.get(name)  # a held file needs no thread: read once, then from memory
        if file is None and self._valid(name):
            file = await asyncio.to_thread(self.load, name)
        if file is None:
            await _send(send, 404, [(b"content-type", b"text/plain")], b"not found", scope)
            return
        request = {k.lower(): v for k, v in scope["headers"]}
        headers = [(b"content-type", file.content_type.encode()), (b"etag", file.etag.encode())]
        headers.append((b"vary", b"accept-encoding"))
        if request.get(b"if-none-match", b"").decode("latin-1").strip() == file.etag:
            await _send(send, 304, headers, b"", scope)
            return
        body = file.body
        if file.gzipped is not None and b"gzip" in request.get(b"accept-encoding", b""):
            body = file.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await _send(send, 200, headers, body, scope)

    def _valid(self, name: str) -> bool:
        return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")

    def load(self, name: str) -> _File | None:
        """The file ``name`` (held in memory once read), or None if the directory has none."""
        with self._lock:
            held = self._held.get(name)
        if held is not None:
            return held
        path = self.directory / name
        try:
            if path.resolve().parent != self.directory or not path.is_file():
                return None
            body = path.read_bytes()
        except OSError:
            return None
        gzipped = gzip.compress(body, GZIP_LEVEL, mtime=0) if path.suffix in COMPRESSED else None
        if gzipped is not None and len(gzipped) >= len(body):
            gzipped = None
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        file = _File(body, gzipped, kind, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        size = len(body) + len(gzipped or b"")
        with self._lock:
            if name not in self._held and self._held_bytes + size <= MAX_HELD_BYTES:
                self._held[name] = file
                self._held_bytes += size
        return file


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, scope: Scope) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
