#!/usr/bin/env bash
# Builds the Linux wheel a release publishes, the way a maintainer cuts one locally:
# manylinux2014 (glibc 2.17), x86_64, abi3 (one wheel for CPython >= 3.10), release
# profile, stripped, into dist/. zig (the `ziglang` wheel from PyPI) compiles the C parts
# (SQLite, ring) and links against glibc 2.17's symbols, so any newer Linux machine
# builds the same wheel; no manylinux container is needed. Then it checks the wheel:
# auditwheel must find it consistent with manylinux_2_17 and list no outside libraries,
# and the wheel is installed into fresh virtualenvs (this machine's python3 and, where it
# is found, CPython 3.10, the oldest supported) where scripts/wheel_smoke.py imports it
# and runs a small suite.
#
# The tools go into .venv-wheels/ with pinned versions (ziglang, maturin, auditwheel);
# the smoke virtualenvs into target/wheel-smoke/. The release workflow
# (.github/workflows/release.yml) builds the other platforms on GitHub's runners.
#
# Usage: bash scripts/build_wheels.sh [--sdist]     (--sdist: also the source archive)
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.16.0
ZIG_VERSION=0.17.1
AUDITWHEEL_VERSION=6.8.2
TAG=manylinux_2_17_x86_64

sdist=false
for arg in "$@"; do
  case $arg in
  --sdist) sdist=true ;;
  *)
    echo "usage: bash scripts/build_wheels.sh [--sdist]" >&2
    exit 2
    ;;
  esac
done
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "build_wheels.sh builds the Linux x86_64 wheel; other platforms: release.yml" >&2
  exit 2
fi

pip_quiet=(--quiet --disable-pip-version-check)
tools=.venv-wheels
python3 -m venv "$tools"
"$tools/bin/python" -m pip install "${pip_quiet[@]}" --upgrade pip
"$tools/bin/python" -m pip install "${pip_quiet[@]}" "maturin==$MATURIN_VERSION" \
  "ziglang==$ZIG_VERSION" "auditwheel==$AUDITWHEEL_VERSION"
# maturin runs zig as `python3 -m ziglang`, with the first python3 on PATH.
export PATH="$PWD/$tools/bin:$PATH"

echo "== build: maturin build --release --zig --compatibility manylinux2014 (at ${SECONDS} s)"
mkdir -p dist
rm -f dist/trialrun-*.whl
maturin build --release --locked --strip --zig --compatibility manylinux2014 --out dist
if $sdist; then
  rm -f dist/trialrun-*.tar.gz
  maturin sdist --out dist
fi
wheels=(dist/trialrun-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
  echo "expected one wheel in dist/, found: ${wheels[*]}" >&2
  exit 1
fi
wheel=${wheels[0]}
case $wheel in
*-cp310-abi3-*"$TAG"*) ;;
*)
  echo "$wheel is not tagged cp310-abi3 $TAG" >&2
  exit 1
  ;;
esac

echo "== check: auditwheel show (at ${SECONDS} s)"
report=$(auditwheel show "$wheel")
echo "$report"
# auditwheel wraps its sentences: look for them in the report joined into one line.
report=$(tr -s ' \n' '  ' <<<"$report")
# auditwheel names the most compatible tag the symbols allow, and the libraries the
# extension needs from outside the wheel and outside the manylinux policy (none allowed).
if ! grep -q "consistent with the following platform tag: \"$TAG\"" <<<"$report"; then
  echo "auditwheel does not find $wheel consistent with $TAG" >&2
  exit 1
fi
if grep -q "following external shared libraries" <<<"$report"; then
  echo "$wheel needs shared libraries outside the manylinux policy" >&2
  exit 1
fi

# find_python VERSION: an interpreter of that version, or nothing.
. scripts/find_python.sh

smoke() { # PYTHON NAME
  local venv=target/wheel-smoke/$2
  rm -rf "$venv"
  "$1" -m venv "$venv"
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "$PWD/$wheel"
  echo "== smoke under $("$venv/bin/python" --version) (at ${SECONDS} s)"
  # From outside the source tree, so that `import trialrun` finds the installed wheel.
  (cd "$venv" && bin/python -c "import trialrun, trialrun._core" &&
    bin/python "$OLDPWD/scripts/wheel_smoke.py")
}

smoke python3 python3
python310=$(find_python 3.10)
if [ -n "$python310" ]; then
  smoke "$python310" python3.10
else
  echo "(no CPython 3.10 here: the smoke ran under python3 only)"
fi

size=$(du -k "$wheel" | cut -f1)
echo "== built $wheel (${size} KiB) in $((SECONDS / 60)) min $((SECONDS % 60)) s"
