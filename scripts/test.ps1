# Set up (idempotent) and run the test suite on Windows (PowerShell): .\scripts\test.ps1 [pytest args]
# All the work is in scripts\setup.py (macOS, Linux: bash scripts/test.sh; cmd: scripts\test.cmd).
Push-Location (Join-Path $PSScriptRoot "..")
try {
    if (Get-Command py -ErrorAction SilentlyContinue) { & py -3 scripts\setup.py test @args }
    elseif (Get-Command python -ErrorAction SilentlyContinue) { & python scripts\setup.py test @args }
    else { Write-Host "setup: no Python found: install Python 3.12 from python.org, see docs\install.md"; exit 2 }
    exit $LASTEXITCODE
} finally {
    Pop-Location
}
