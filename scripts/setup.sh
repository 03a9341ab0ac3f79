#!/usr/bin/env bash
# Set up everything musicgen-bridge needs on a fresh Debian/Ubuntu machine (or macOS for the
# Python side): a virtual environment in .venv with the package and its test extras, and, with
# --test, the system packages the test suite talks to (JACK dummy server, liblo tools, Lua 5.4,
# Node.js). Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

WANT_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WANT_TEST=1 ;;
    *) echo "setup.sh: unknown option $arg (use --test)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install --quiet --upgrade pip

# torch: take the CPU build when no torch is installed yet (a plain 'torch' can pull a CUDA
# build of several GB). A user with a GPU installs the CUDA build first; it is kept.
if ! "$VPY" -c "import torch" 2>/dev/null; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    "$VPY" -m pip install --quiet "$TORCH_SPEC"
  else
    # 2.13.0 is the release this project is tested with (a CPU build lies on the CI machines'
    # disk); elsewhere pip takes the platform's default build of it.
    "$VPY" -m pip install --quiet "torch==2.13.0" || "$VPY" -m pip install --quiet "torch>=2.6"
  fi
fi

if [ "$WANT_TEST" = 1 ]; then
  # [stems]: demucs 4.1 (torch >= 2.1, no torchaudio) for tests/test_stems.py; no weights are fetched
  # [mcp]: the MCP SDK for tests/test_mcp.py
  "$VPY" -m pip install --quiet -e ".[test,stems,mcp]"
  need=()
  command -v jackd >/dev/null || need+=(jackd2)
  command -v oscsend >/dev/null || need+=(liblo-tools)
  command -v lua5.4 >/dev/null || need+=(lua5.4)
  command -v luac5.4 >/dev/null || need+=(lua5.4)
  command -v node >/dev/null || need+=(nodejs)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # jackd2 asks about realtime priority; answer it non-interactively.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections || true
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
else
  "$VPY" -m pip install --quiet -e .
fi
echo "setup done: $(.venv/bin/musicgen-bridge --version 2>/dev/null || echo musicgen-bridge)"
