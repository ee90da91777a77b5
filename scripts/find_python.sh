# shellcheck shell=bash
# Sourced by test.sh and build_wheels.sh.
# find_python X.Y: a working CPython X.Y on PATH, else one installed by pyenv (whose
# shims only run the active version); nothing when there is none.
find_python() {
  local candidate
  for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
    if "$candidate" -c 'pass' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
}
