#!/usr/bin/env bash
# Set everything up and run nkdash on the embedded demo Odoo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
install_python
exec .venv/bin/nkdash up --demo "$@"
