#!/usr/bin/env bash
# The test command: set-up, then lint, format check, strict types and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff check";  python3 -m ruff check .
echo "== ruff format"; python3 -m ruff format --check .
echo "== mypy";        python3 -m mypy
echo "== pytest";      python3 -m pytest -q -p no:cacheprovider
