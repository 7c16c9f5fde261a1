"""The embedded demo Odoo: a generated retail database served over Odoo's own protocols."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nkdash.demo.faults import Faults
from nkdash.demo.server import DemoServer

if TYPE_CHECKING:
    from nkdash.demo.generate import DemoConfig

__all__ = ["DemoServer", "Faults", "start_demo"]


def start_demo(config: DemoConfig | None = None, port: int = 0, host: str = "127.0.0.1") -> DemoServer:
    """Generate the database ``config`` describes and serve it; stop it with ``server.stop()``."""
    from nkdash.demo.generate import DemoConfig, generate

    return DemoServer(generate(config or DemoConfig()), host=host, port=port).start()
