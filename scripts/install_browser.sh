#!/usr/bin/env bash
# Installs what tests/test_viewer.py needs: Debian's chromium and chromium-driver (system
# packages, as root), and the selenium package into the given virtualenv.
# Idempotent: apt runs only when a binary is missing, pip only when selenium is missing.
# Usage (as root, from the project folder): bash scripts/install_browser.sh .venv
set -euo pipefail

fail() {
  echo "install_browser.sh: $*" >&2
  exit 1
}

venv=${1:-}
[ -n "$venv" ] || fail "give the virtualenv to install selenium into, e.g. .venv"
python="$venv/bin/python"
[ -x "$python" ] || fail "$python not found: create the virtualenv first (python3 -m venv $venv)"

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  [ "$(id -u)" -eq 0 ] || fail "chromium or chromedriver is missing and installing them needs root (apt-get)"
  command -v apt-get >/dev/null || fail "chromium or chromedriver is missing and apt-get is not available (a Debian system is expected)"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq >"$log" 2>&1; then
    cat "$log" >&2
    fail "apt-get update failed (output above)"
  fi
  if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >"$log" 2>&1; then
    cat "$log" >&2
    fail "apt-get install chromium chromium-driver failed (output above)"
  fi
  [ -x /usr/bin/chromium ] || fail "chromium was installed but /usr/bin/chromium is missing"
  [ -x /usr/bin/chromedriver ] || fail "chromium-driver was installed but /usr/bin/chromedriver is missing"
fi

if ! "$python" -c 'import selenium' >/dev/null 2>&1; then
  "$python" -m pip install --quiet --disable-pip-version-check selenium \
    || fail "pip install selenium into $venv failed"
fi

echo "install_browser.sh: $(/usr/bin/chromium --version 2>/dev/null | head -n1), $(/usr/bin/chromedriver --version | head -n1 | cut -d' ' -f1-2), selenium $("$python" -c 'import selenium; print(selenium.__version__)')"
