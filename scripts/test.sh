#!/usr/bin/env bash
# Install everything the tests need (Python packages pinned by constraints.txt, and the
# Debian packages for browser and Redis tests), lint (ruff), type-check (mypy, configured in
# pyproject.toml), then run the whole suite. A lint or type error fails it before pytest runs.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
install_python test
install_system_packages
.venv/bin/ruff check . && .venv/bin/ruff format --check . || exit 1  # set -e alone lets a failure left of && pass
.venv/bin/mypy
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
