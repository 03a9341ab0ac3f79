#!/usr/bin/env bash
# Set up (idempotent) and run the daemon. Any `musicgen-bridge serve` flag can follow, e.g.
#   bash scripts/serve.sh --model small --output-dir ~/Music/MusicGen
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/musicgen-bridge serve "$@"
