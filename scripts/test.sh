#!/usr/bin/env bash
# Install everything the tests need (Python packages pinned by constraints.txt, and the
# Debian packages for browser and Redis tests), then run the whole suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
install_python test
install_system_packages
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
