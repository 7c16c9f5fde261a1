# Shared install steps for scripts/quickstart.sh and scripts/test.sh (sourced, not run).
PYTHON=${PYTHON:-python3}

install_python() {   # install_python [extra]: venv in .venv, pinned versions, nkdash editable
  local extra=${1:-}
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extra:+[$extra]}"
}

install_system_packages() {   # Debian packages the browser, Redis and alert tests use
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # the alert tests' TLS certificate
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
