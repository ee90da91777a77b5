#!/usr/bin/env bash
# Installs everything the tests need and runs every test: first the gates (formatting,
# lints, the rooms' dependency graph), then the Rust unit tests (cargo test, one debug
# build) and the Python tests (pytest) against a debug build of the abi3 wheel (it reuses
# cargo test's compiled dependencies; a release build would take minutes more): all of
# them under python3, and under the oldest supported CPython (3.10) and the newest one on
# the machine all but the calls (tests marked `calls`: Rust and real time, where the
# interpreter only awaits). The Ray executor's tests run once, in a loopback-only
# network namespace. The type stubs are checked against the wheel with mypy's stubtest.
# The benchmarks (benches/) are measured with release builds, by hand.
# The viewer's tests drive Debian's Chromium (installed with apt when missing; root).
# Run from anywhere: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pip_quiet=(--quiet --disable-pip-version-check)

python3 -m venv .venv
.venv/bin/python -m pip install "${pip_quiet[@]}" --upgrade pip maturin "pytest>=8" \
  "pytest-asyncio>=0.23" "ruff==0.17.6" "mypy==2.4.1"

echo "== gates: formatting, lints, rooms"
cargo fmt --check
.venv/bin/ruff format --check python tests benches examples scripts
.venv/bin/ruff check python tests benches examples scripts
python3 scripts/check_rooms.py
cargo clippy --all-targets --quiet -- -D warnings

echo "== cargo test (at ${SECONDS} s)"
cargo test --quiet

echo "== build the wheel (debug, abi3) (at ${SECONDS} s)"
rm -rf target/test-wheel
.venv/bin/maturin build --strip --quiet --out target/test-wheel
wheel=$(ls target/test-wheel/trialrun-*.whl)

run_pytest() { # VENV [PYTEST ARGS...]
  local venv=$1
  shift
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" --force-reinstall --no-deps "$wheel"
  # The `test` extra (pyproject.toml): pytest, and what the step-sequence tests start.
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "${wheel}[test]"
  bash scripts/install_browser.sh "$venv" # Chromium + selenium for the viewer's browser tests
  echo "== pytest under $("$venv/bin/python" --version) (at ${SECONDS} s)"
  # tests/ragas needs the `ragas` extra: it runs once, in a virtualenv of its own, and
  # tests/ray once, in a network namespace of its own (below).
  "$venv/bin/python" -m pytest -q tests --ignore=tests/ragas --ignore=tests/ray "$@"
}

run_pytest .venv

echo "== pytest tests/ragas with the ragas extra (Ragas 0.2 and its langchain set)"
python3 -m venv .venv-ragas
.venv-ragas/bin/python -m pip install "${pip_quiet[@]}" --upgrade pip
.venv-ragas/bin/python -m pip install "${pip_quiet[@]}" "${wheel}[ragas]" "pytest>=8" \
  "pytest-asyncio>=0.23"
.venv-ragas/bin/python -m pytest -q tests/ragas

# Ray's servers listen on every interface, so its cluster runs where loopback is the only
# one: a network namespace of its own (root, as on CI).
echo "== pytest tests/ray: the Ray executor on a local two-node cluster (at ${SECONDS} s)"
.venv/bin/python -m pip install "${pip_quiet[@]}" "${wheel}[ray]"
unshare --net sh -c 'ip link set lo up && exec .venv/bin/python -m pytest -q tests/ray'

echo "== type stubs against the built module (mypy.stubtest) (at ${SECONDS} s)"
.venv/bin/python -m mypy.stubtest trialrun._core --allowlist python/stubtest_allowlist.txt

# find_python VERSION: an interpreter of that version, or nothing.
. scripts/find_python.sh

main_version=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
newest=""
for version in 3.11 3.12 3.13 3.14; do
  if [ -n "$(find_python "$version")" ]; then newest=$version; fi
done
for version in 3.10 $newest; do
  [ "$version" = "$main_version" ] && continue
  python=$(find_python "$version")
  [ -n "$python" ] || continue
  venv=".venv-$version"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "pytest>=8" "pytest-asyncio>=0.23"
  run_pytest "$venv" -m "not calls" --ignore=tests/test_typing.py --ignore=tests/test_notebook.py
done
echo "== all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
