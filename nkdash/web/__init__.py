"""The web app: the gate (login, roles), the notebooks mounted with marimo, ``/health``."""
