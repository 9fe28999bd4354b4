#!/usr/bin/env bash
# The test command: creates its own virtual environment, installs what the project needs, runs the tests.
#   bash scripts/test.sh [pytest args...]
# torch is installed first and pinned (2.13.0), so nothing later pulls another build. Set TORCH_INDEX_URL
# (e.g. https://download.pytorch.org/whl/cpu) to take the small CPU build instead of PyPI's default.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SEQSERVE_VENV:-.venv}
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$venv/bin/python" -m pip install -q -e ".[dev]"
# As if activated: tests that start the venv's console scripts (schemathesis, seqserve-train) find them.
export PATH="$PWD/$venv/bin:$PATH"
exec "$venv/bin/python" -m pytest "$@"
