#!/usr/bin/env bash
# Set up (idempotent) and run the daemon (macOS, Linux). Any `musicgen-bridge serve` flag can follow:
#   bash scripts/serve.sh --model small --output-dir ~/Music/MusicGen
# All the work is in scripts/setup.py (Windows: scripts\serve.cmd or scripts\serve.ps1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup: no $PY on PATH: install Python 3.12 (python.org, Homebrew, your package manager), see docs/install.md" >&2; exit 2; }
exec "$PY" scripts/setup.py serve "$@"
