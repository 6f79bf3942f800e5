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
"$VENV/bin/ruff" check src tests benchmarks scripts
"$VENV/bin/ruff" format --check src tests benchmarks scripts
"$VENV/bin/mypy"
"$VENV/bin/pytest" -q -ra "$@"
