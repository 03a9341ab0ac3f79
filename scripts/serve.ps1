# Set up (idempotent) and run the daemon on Windows (PowerShell): .\scripts\serve.ps1 [serve flags]
# All the work is in scripts\setup.py (macOS, Linux: bash scripts/serve.sh; cmd: scripts\serve.cmd).
Push-Location (Join-Path $PSScriptRoot "..")
try {
    if (Get-Command py -ErrorAction SilentlyContinue) { & py -3 scripts\setup.py serve @args }
    elseif (Get-Command python -ErrorAction SilentlyContinue) { & python scripts\setup.py serve @args }
    else { Write-Host "setup: no Python found: install Python 3.12 from python.org, see docs\install.md"; exit 2 }
    exit $LASTEXITCODE
} finally {
    Pop-Location
}
