#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: Python, Node (Max for Live JS) and Lua
# (ReaScripts) tests all run under pytest. Exits non-zero on any failure, and when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
