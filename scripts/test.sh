#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs every test: the Rust unit
# tests (cargo test, a debug build) and the Python tests (pytest, against a release
# build of the extension). Run from anywhere: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip maturin
.venv/bin/python -m pip install --quiet --disable-pip-version-check "pytest>=8" "pytest-asyncio>=0.23"

echo "== cargo test"
cargo test --quiet

echo "== build (release) and pytest"
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" maturin develop --release --quiet
.venv/bin/python -m pytest -q tests
