#!/usr/bin/env bash
# Set up for the tests (idempotent) and run the whole test suite with pytest (Python, Node for the
# Max for Live JS, Lua for the ReaScripts). Exits non-zero on any failure, and when no test ran.
# All the work is in scripts/setup.py (Windows: scripts\test.cmd or scripts\test.ps1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup: no $PY on PATH: install Python 3.12 (python.org, Homebrew, your package manager), see docs/install.md" >&2; exit 2; }
exec "$PY" scripts/setup.py test "$@"
