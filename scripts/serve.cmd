@echo off
rem Set up (idempotent) and run the daemon on Windows: scripts\serve.cmd [serve flags]
rem All the work is in scripts\setup.py (macOS, Linux: bash scripts/serve.sh).
setlocal
pushd "%~dp0.."
set RC=2
where py >nul 2>nul || goto nopy
py -3 scripts\setup.py serve %*
set RC=%ERRORLEVEL%
goto end
:nopy
where python >nul 2>nul || goto none
python scripts\setup.py serve %*
set RC=%ERRORLEVEL%
goto end
:none
echo setup: no Python found: install Python 3.12 from python.org (tick "Add python.exe to PATH"), see docs\install.md 1>&2
:end
popd
exit /b %RC%
