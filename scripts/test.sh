#!/usr/bin/env bash
# Install seggpt into a fresh virtual environment and run lint, type check and the test suite.
# Usage: bash scripts/test.sh [pytest args...]   (VENV=path to reuse another environment)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# torch pinned first: the CPU wheel on this disk; an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test]"
# The web app's browser test drives Debian's Chromium (Playwright cannot download a browser build here).
# Installed when missing and we are root with apt-get; otherwise that one test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's chromium for the browser test (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "test.sh: could not install chromium; the browser test will skip" >&2
fi
"$VENV/bin/ruff" check src tests benchmarks scripts
"$VENV/bin/ruff" format --check src tests benchmarks scripts
"$VENV/bin/mypy"
"$VENV/bin/pytest" -q -ra "$@"
