#!/usr/bin/env bash
# Set up only (idempotent): `bash scripts/setup.sh [--test] [--dry-run]`. See scripts/setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup: no $PY on PATH: install Python 3.12 (python.org, Homebrew, your package manager), see docs/install.md" >&2; exit 2; }
exec "$PY" scripts/setup.py "$@"
